//! Log lines: JSON (one object a line) or human text, each carrying the trace id, span id and
//! request id of the request it belongs to.

use std::fmt;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::layer::RequestId;

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line, for log shippers.
    Json,
    /// Human-readable text with colours.
    Pretty,
    /// Pretty on a terminal, JSON otherwise.
    Auto,
}

impl LogFormat {
    /// Parses `json`, `pretty` or `auto` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "pretty" | "text" => Some(Self::Pretty),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }
}

pub(crate) struct EventFormat {
    pub(crate) json: bool,
    pub(crate) ansi: bool,
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields.push((field.name(), Value::from(value)));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), Value::from(value)));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .push((field.name(), Value::from(value.to_string())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else if !field.name().starts_with("log.") {
            self.fields.push((field.name(), Value::from(text)));
        }
    }
}

#[derive(Default)]
struct Correlation {
    trace_id: Option<String>,
    span_id: Option<String>,
    request_id: Option<String>,
    span: Option<&'static str>,
}

impl Correlation {
    /// Ids from the current OpenTelemetry context, which is the request's while its handler
    /// runs, or a handler span's (tracing-opentelemetry activates it on enter), the same
    /// context the OTLP log bridge reads.
    fn of<S, N>(ctx: &FmtContext<'_, S, N>) -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let mut c = Self {
            span: ctx.lookup_current().map(|s| s.name()),
            request_id: RequestId::current().map(|r| r.as_str().to_owned()),
            ..Self::default()
        };
        opentelemetry::Context::map_current(|cx| {
            let sc = cx.span().span_context().clone();
            if sc.is_valid() {
                c.trace_id = Some(sc.trace_id().to_string());
                c.span_id = Some(sc.span_id().to_string());
            }
        });
        c
    }
}

impl<S, N> FormatEvent<S, N> for EventFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let corr = Correlation::of(ctx);
        let meta = event.metadata();
        // `log` records arrive through tracing-log with their own target.
        let target = meta.target();
        if self.json {
            let mut obj = Map::new();
            obj.insert(
                "timestamp".into(),
                Value::from(humantime::format_rfc3339_micros(SystemTime::now()).to_string()),
            );
            obj.insert("level".into(), Value::from(meta.level().as_str()));
            obj.insert("target".into(), Value::from(target));
            obj.insert(
                "message".into(),
                Value::from(fields.message.unwrap_or_default()),
            );
            for (k, v) in fields.fields {
                obj.insert(k.to_owned(), v);
            }
            if let Some(s) = corr.span {
                obj.insert("span".into(), Value::from(s));
            }
            if let Some(t) = corr.trace_id {
                obj.insert("trace_id".into(), Value::from(t));
            }
            if let Some(s) = corr.span_id {
                obj.insert("span_id".into(), Value::from(s));
            }
            if let Some(r) = corr.request_id {
                obj.insert("request_id".into(), Value::from(r));
            }
            let line = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
            writeln!(writer, "{line}")
        } else {
            let ts = humantime::format_rfc3339_millis(SystemTime::now());
            let (color, reset, dim) = if self.ansi {
                (level_color(*meta.level()), "\x1b[0m", "\x1b[2m")
            } else {
                ("", "", "")
            };
            write!(
                writer,
                "{dim}{ts}{reset} {color}{:>5}{reset} {dim}{target}:{reset} {}",
                meta.level().as_str(),
                fields.message.unwrap_or_default()
            )?;
            for (k, v) in fields.fields {
                match v {
                    Value::String(s) => write!(writer, " {dim}{k}={reset}{s}")?,
                    other => write!(writer, " {dim}{k}={reset}{other}")?,
                }
            }
            if let Some(r) = corr.request_id {
                write!(writer, " {dim}request_id={reset}{r}")?;
            }
            if let Some(t) = corr.trace_id {
                write!(writer, " {dim}trace_id={reset}{t}")?;
            }
            writeln!(writer)
        }
    }
}

fn level_color(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}
