//! The access-log line: one per request, on target [`ACCESS_LOG_TARGET`], with a fixed schema.
//!
//! Under pulsecheck's own subscriber ([`Telemetry`](crate::telemetry::Telemetry) with JSON
//! lines) the line is written straight into a reused per-thread buffer and handed to the
//! subscriber's non-blocking stdout writer, and its OTLP log record goes straight to the SDK
//! logger: no `tracing` event, no field visitors, no JSON map. Whether it is written at all is
//! still the log filter's decision (`RUST_LOG`, e.g. `pulsecheck::access=off`), read once from
//! the filter's own verdict for the access target at each level. Under any other subscriber
//! (the user's own, a test's scoped one) the line is a `tracing` event as before, with the same
//! fields, so that subscriber's filters and formatters govern it.
//!
//! ```
//! use pulsecheck::layer::ACCESS_LOG_TARGET;
//! // The fields of a line, in order, are those of the `tracing` event it replaces:
//! // timestamp, level, target, message, http.request.method, url.path, http.route,
//! // http.response.status_code, duration_ms, [error.class, error.type, dependency,
//! // panic.message], [span], [trace_id, span_id], request_id.
//! assert_eq!(ACCESS_LOG_TARGET, "pulsecheck::access");
//! ```

use std::cell::RefCell;
use std::io::Write as _;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::trace::SpanContext;
use opentelemetry::{Key, StringValue};
use opentelemetry_sdk::logs::SdkLogger;
use tracing::callsite::{Callsite, Identifier};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

use super::ACCESS_LOG_TARGET;

/// One request's access-log line, borrowed from the request's state.
pub(crate) struct AccessLine<'a> {
    pub(crate) level: Level,
    pub(crate) message: &'static str,
    pub(crate) method: &'static str,
    pub(crate) path: Option<&'a str>,
    pub(crate) route: Option<&'a StringValue>,
    pub(crate) status: u16,
    pub(crate) duration_ms: f64,
    pub(crate) error_class: Option<&'static str>,
    pub(crate) error_type: Option<&'a str>,
    pub(crate) dependency: Option<&'static str>,
    pub(crate) panic_message: Option<&'a str>,
    /// The server span's: its ids go on the line when it is valid.
    pub(crate) span_context: &'a SpanContext,
    pub(crate) request_id: &'a str,
}

/// Logs `line`: directly under pulsecheck's subscriber, else as a `tracing` event.
pub(crate) fn emit(line: &AccessLine<'_>) {
    let written = tracing::dispatcher::get_default(|d| {
        d.downcast_ref::<AccessLogSink>()
            .is_some_and(|sink| sink.write(line, d))
    });
    if !written {
        event(line);
    }
}

/// One event at a level chosen at run time (`tracing::event!` needs a constant).
macro_rules! access_event {
    ($level:expr, $($fields:tt)+) => {
        match $level {
            Level::ERROR => tracing::event!(target: ACCESS_LOG_TARGET, Level::ERROR, $($fields)+),
            Level::WARN => tracing::event!(target: ACCESS_LOG_TARGET, Level::WARN, $($fields)+),
            Level::INFO => tracing::event!(target: ACCESS_LOG_TARGET, Level::INFO, $($fields)+),
            Level::DEBUG => tracing::event!(target: ACCESS_LOG_TARGET, Level::DEBUG, $($fields)+),
            Level::TRACE => tracing::event!(target: ACCESS_LOG_TARGET, Level::TRACE, $($fields)+),
        }
    };
}

/// The line as a `tracing` event (`None` fields are left out, as `tracing` does).
fn event(line: &AccessLine<'_>) {
    access_event!(
        line.level,
        http.request.method = line.method,
        url.path = line.path,
        http.route = line.route.map(StringValue::as_str),
        http.response.status_code = line.status,
        duration_ms = line.duration_ms,
        error.class = line.error_class,
        error.type = line.error_type,
        dependency = line.dependency,
        panic.message = line.panic_message,
        message = line.message
    );
}

/// Whether the log filter lets the access line through at a level, as the filter itself
/// answers for a callsite of [`ACCESS_LOG_TARGET`] at that level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    On,
    Off,
    /// It depends on the span the event is in (a span directive in the filter): only the
    /// filter, seeing the event, can tell, so the line goes the `tracing` way.
    Ask,
}

/// The filter's verdict for each level, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdicts([Verdict; 5]);

impl Verdicts {
    /// Asks `interest` about an access-log callsite at each level; `interest` is a filter's
    /// `callsite_enabled` (e.g. `EnvFilter`'s, as `tracing_subscriber::layer::Filter`).
    pub(crate) fn from_interest(interest: impl Fn(&'static Metadata<'static>) -> Interest) -> Self {
        Self(std::array::from_fn(|i| {
            let i = interest(&METADATA[i]);
            if i.is_always() {
                Verdict::On
            } else if i.is_never() {
                Verdict::Off
            } else {
                Verdict::Ask
            }
        }))
    }

    fn of(&self, level: Level) -> Verdict {
        // `tracing`'s own caps: the compile-time maximum and the subscriber's current one.
        if level > tracing::level_filters::STATIC_MAX_LEVEL
            || level > tracing::level_filters::LevelFilter::current()
        {
            return Verdict::Off;
        }
        self.0[level_index(level)]
    }
}

fn level_index(level: Level) -> usize {
    match level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// Callsites of the access line, one per level, whose metadata the log filter is asked about.
/// They are never registered or dispatched: the filter reads only their target and level.
struct AccessCallsite(usize);

impl Callsite for AccessCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &METADATA[self.0]
    }
}

static CALLSITES: [AccessCallsite; 5] = [
    AccessCallsite(0),
    AccessCallsite(1),
    AccessCallsite(2),
    AccessCallsite(3),
    AccessCallsite(4),
];

const FIELDS: &[&str] = &[
    "message",
    "http.request.method",
    "url.path",
    "http.route",
    "http.response.status_code",
    "duration_ms",
    "error.class",
    "error.type",
    "dependency",
    "panic.message",
];

macro_rules! access_metadata {
    ($i:expr, $level:expr) => {
        Metadata::new(
            "access",
            ACCESS_LOG_TARGET,
            $level,
            Some(file!()),
            None,
            Some(module_path!()),
            tracing::field::FieldSet::new(FIELDS, Identifier(&CALLSITES[$i])),
            Kind::EVENT,
        )
    };
}

static METADATA: [Metadata<'static>; 5] = [
    access_metadata!(0, Level::ERROR),
    access_metadata!(1, Level::WARN),
    access_metadata!(2, Level::INFO),
    access_metadata!(3, Level::DEBUG),
    access_metadata!(4, Level::TRACE),
];

/// Hands a finished line (newline included) to the log writer.
pub(crate) type LineOut = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Where pulsecheck's subscriber writes access lines itself. It rides in the subscriber as a
/// layer that does nothing, so that [`emit`] finds it on the current dispatcher (and only
/// there: a test's scoped subscriber or the user's own has none and gets `tracing` events).
pub(crate) struct AccessLogSink {
    verdicts: Verdicts,
    out: LineOut,
    /// The OTLP log record of the line, when logs are exported.
    logger: Option<SdkLogger>,
}

impl AccessLogSink {
    pub(crate) fn new(verdicts: Verdicts, out: LineOut, logger: Option<SdkLogger>) -> Self {
        Self {
            verdicts,
            out,
            logger,
        }
    }

    /// Writes the line and its OTLP record if the filter allows them; `false` when the filter
    /// must see an event to decide.
    fn write(&self, line: &AccessLine<'_>, dispatch: &tracing::Dispatch) -> bool {
        match self.verdicts.of(line.level) {
            Verdict::Off => return true,
            Verdict::Ask => return false,
            Verdict::On => {}
        }
        let now = SystemTime::now();
        // The `tracing` span the request runs in, if any, as the formatter names it.
        let current = dispatch.current_span();
        let span = current.metadata().map(|m| m.name());
        with_buffer(|buf| {
            write_json(buf, line, now, span);
            (self.out)(buf);
        });
        if let Some(logger) = &self.logger {
            emit_record(logger, line, now);
        }
        true
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AccessLogSink {}

thread_local! {
    /// The line being built, reused: a line allocates nothing once the buffer has grown.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

fn with_buffer(f: impl FnOnce(&mut Vec<u8>)) {
    let mut f = Some(f);
    let _ = LINE.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut()
            && let Some(f) = f.take()
        {
            buf.clear();
            f(&mut buf);
            // A hostile request's long line (paths are capped, but still) is not kept.
            if buf.capacity() > MAX_KEPT {
                *buf = Vec::with_capacity(512);
            }
        }
    });
    // During thread teardown, or re-entered from the writer: a buffer of its own.
    if let Some(f) = f {
        f(&mut Vec::new());
    }
}

/// Largest line buffer kept for the next line.
const MAX_KEPT: usize = 16 * 1024;

/// The JSON line, byte for byte what pulsecheck's `tracing` formatter writes for the event
/// (same keys, same order, serde_json's escaping and number format), newline included.
fn write_json(buf: &mut Vec<u8>, line: &AccessLine<'_>, now: SystemTime, span: Option<&str>) {
    buf.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(buf, now);
    buf.extend_from_slice(b"\",\"level\":\"");
    buf.extend_from_slice(line.level.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"target\":");
    plain(buf, "target", ACCESS_LOG_TARGET);
    buf.extend_from_slice(b",\"message\":");
    plain(buf, "message", line.message);
    buf.extend_from_slice(b",\"http.request.method\":");
    plain(buf, "method", line.method);
    field(buf, "url.path", line.path);
    field(buf, "http.route", line.route.map(StringValue::as_str));
    field(buf, "http.response.status_code", Some(&line.status));
    field(buf, "duration_ms", Some(&line.duration_ms));
    if let Some(class) = line.error_class {
        buf.extend_from_slice(b",\"error.class\":");
        plain(buf, "class", class);
    }
    field(buf, "error.type", line.error_type);
    field(buf, "dependency", line.dependency);
    field(buf, "panic.message", line.panic_message);
    field(buf, "span", span);
    if line.span_context.is_valid() {
        buf.extend_from_slice(b",\"trace_id\":\"");
        hex(buf, &line.span_context.trace_id().to_bytes());
        buf.extend_from_slice(b"\",\"span_id\":\"");
        hex(buf, &line.span_context.span_id().to_bytes());
        buf.push(b'"');
    }
    buf.extend_from_slice(b",\"request_id\":");
    // Validated (`[A-Za-z0-9._:-]`, see `RequestId::parse`) or generated: nothing to escape.
    plain(buf, "request id", line.request_id);
    buf.extend_from_slice(b"}\n");
}

/// A string of pulsecheck's own (a constant, a validated request id) as a JSON string without
/// the escaping pass. Checked in debug builds.
fn plain(buf: &mut Vec<u8>, what: &str, s: &str) {
    debug_assert!(
        s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'),
        "{what} needs escaping: {s:?}"
    );
    buf.push(b'"');
    buf.extend_from_slice(s.as_bytes());
    buf.push(b'"');
}

thread_local! {
    /// The second of the last line on this thread and its RFC 3339 text up to the fraction
    /// (`2026-12-05T04:40:12.`): formatting the date is most of a timestamp's cost.
    static SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
}

/// `humantime::format_rfc3339_micros(now)`, the formatter's timestamp, with the date part
/// formatted once a second per thread.
fn timestamp(buf: &mut Vec<u8>, now: SystemTime) {
    let Ok(since) = now.duration_since(SystemTime::UNIX_EPOCH) else {
        let _ = write!(buf, "{}", humantime::format_rfc3339_micros(now));
        return;
    };
    let secs = since.as_secs();
    let prefix = SECOND.try_with(|cell| {
        let (cached, text) = cell.get();
        if cached == secs {
            return Some(text);
        }
        // `YYYY-MM-DDTHH:MM:SSZ`; anything else (years past 9999) takes the long way.
        let whole = humantime::format_rfc3339_seconds(now).to_string();
        let mut text = [0u8; 20];
        if whole.len() != 20 {
            return None;
        }
        text[..19].copy_from_slice(&whole.as_bytes()[..19]);
        text[19] = b'.';
        cell.set((secs, text));
        Some(text)
    });
    match prefix {
        Ok(Some(text)) => {
            buf.extend_from_slice(&text);
            let micros = since.subsec_micros();
            let mut digits = [b'0'; 6];
            let mut rest = micros;
            for d in digits.iter_mut().rev() {
                *d = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            buf.extend_from_slice(&digits);
            buf.push(b'Z');
        }
        _ => {
            let _ = write!(buf, "{}", humantime::format_rfc3339_micros(now));
        }
    }
}

/// `,"key":value` when there is a value. Keys are constants that need no escaping.
fn field<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, key: &str, value: Option<&T>) {
    if let Some(v) = value {
        buf.extend_from_slice(b",\"");
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(b"\":");
        json(buf, v);
    }
}

/// serde_json's rendering of a string or number (non-finite floats as `null`, as its `Value`
/// does). Writing into a `Vec` cannot fail.
fn json<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *buf, value);
}

/// Lowercase hex of `bytes`, as the formatter printed trace and span ids.
fn hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    let start = buf.len();
    buf.resize(start + bytes.len() * 2, 0);
    super::hex::encode(bytes, &mut buf[start..]);
}

/// The OTLP log record of the line, as the `tracing` appender bridge made it from the event:
/// target, severity, the message as body, the fields as attributes; the trace context of the
/// server span. `request.id` is added by the logger's request-id processor.
fn emit_record(logger: &SdkLogger, line: &AccessLine<'_>, now: SystemTime) {
    let severity = severity(line.level);
    if !logger.event_enabled(severity, ACCESS_LOG_TARGET, None) {
        return;
    }
    let mut record = logger.create_log_record();
    record.set_target(ACCESS_LOG_TARGET);
    record.set_severity_number(severity);
    record.set_severity_text(line.level.as_str());
    record.set_timestamp(now);
    record.set_body(AnyValue::from(line.message));
    let sc = line.span_context;
    if sc.is_valid() {
        record.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
    }
    record.add_attribute(
        Key::from_static_str("http.request.method"),
        AnyValue::from(line.method),
    );
    if let Some(p) = line.path {
        record.add_attribute(
            Key::from_static_str("url.path"),
            AnyValue::from(p.to_owned()),
        );
    }
    if let Some(r) = line.route {
        record.add_attribute(
            Key::from_static_str("http.route"),
            AnyValue::String(r.clone()),
        );
    }
    record.add_attribute(
        Key::from_static_str("http.response.status_code"),
        AnyValue::Int(i64::from(line.status)),
    );
    record.add_attribute(
        Key::from_static_str("duration_ms"),
        AnyValue::Double(line.duration_ms),
    );
    let statics = [
        ("error.class", line.error_class),
        ("dependency", line.dependency),
    ];
    for (key, value) in statics {
        if let Some(v) = value {
            record.add_attribute(Key::from_static_str(key), AnyValue::from(v));
        }
    }
    let owned = [
        ("error.type", line.error_type),
        ("panic.message", line.panic_message),
    ];
    for (key, value) in owned {
        if let Some(v) = value {
            record.add_attribute(Key::from_static_str(key), AnyValue::from(v.to_owned()));
        }
    }
    logger.emit(record);
}

/// The instrumentation scope of the access records: pulsecheck, versioned.
pub(crate) fn scope() -> opentelemetry::InstrumentationScope {
    opentelemetry::InstrumentationScope::builder("pulsecheck")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

fn severity(level: Level) -> Severity {
    match level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warn,
        Level::INFO => Severity::Info,
        Level::DEBUG => Severity::Debug,
        Level::TRACE => Severity::Trace,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
    use proptest::prelude::*;
    use serde_json::Value;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::{Filter, Layer as _, SubscriberExt as _};

    use super::*;
    use crate::layer::RequestId;
    use crate::layer::request_id::CxRequestId;
    use crate::telemetry::{LogFormat, log_layer};

    /// Lines written by a log layer or a sink, kept in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Lines {
        fn take(&self) -> Vec<Value> {
            let bytes = std::mem::take(&mut *self.0.lock().unwrap());
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
                .collect()
        }

        fn out(&self) -> LineOut {
            let lines = self.clone();
            Box::new(move |b| lines.0.lock().unwrap().extend_from_slice(b))
        }
    }

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn span_context() -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    }

    struct Owned {
        level: Level,
        path: Option<String>,
        route: Option<StringValue>,
        status: u16,
        duration_ms: f64,
        error_type: Option<String>,
        panic_message: Option<String>,
        request_id: String,
        sc: SpanContext,
    }

    impl Owned {
        fn line(&self) -> AccessLine<'_> {
            let failed = self.error_type.is_some();
            AccessLine {
                level: self.level,
                message: if failed {
                    "request failed"
                } else {
                    "request completed"
                },
                method: "GET",
                path: self.path.as_deref(),
                route: self.route.as_ref(),
                status: self.status,
                duration_ms: self.duration_ms,
                error_class: failed.then_some("server_error"),
                error_type: self.error_type.as_deref(),
                dependency: failed.then_some("postgres"),
                panic_message: self.panic_message.as_deref(),
                span_context: &self.sc,
                request_id: &self.request_id,
            }
        }
    }

    fn completed(path: &str) -> Owned {
        Owned {
            level: Level::INFO,
            path: Some(path.into()),
            route: Some(StringValue::from("/users/{id}")),
            status: 200,
            duration_ms: 1.25,
            error_type: None,
            panic_message: None,
            request_id: "req-1".into(),
            sc: span_context(),
        }
    }

    /// What the `tracing` formatter writes for the line's event, inside the request's
    /// context (as the layer emits it).
    fn formatter_line(owned: &Owned) -> Value {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber =
            tracing_subscriber::registry().with(log_layer(LogFormat::Json, move || writer.clone()));
        let cx = opentelemetry::Context::new()
            .with_remote_span_context(owned.sc.clone())
            .with_value(CxRequestId(
                RequestId::parse(owned.request_id.as_bytes()).unwrap(),
            ));
        let _attached = cx.attach();
        tracing::subscriber::with_default(subscriber, || event(&owned.line()));
        let mut got = lines.take();
        assert_eq!(got.len(), 1);
        got.remove(0)
    }

    fn direct_line(owned: &Owned) -> (Vec<u8>, Value) {
        let mut buf = Vec::new();
        write_json(&mut buf, &owned.line(), SystemTime::now(), None);
        let value = serde_json::from_slice(&buf).expect("the line is JSON");
        (buf, value)
    }

    fn without_timestamp(mut v: Value) -> Value {
        let ts = v
            .as_object_mut()
            .and_then(|o| o.shift_remove("timestamp"))
            .expect("a timestamp");
        assert!(
            humantime::parse_rfc3339(ts.as_str().unwrap()).is_ok(),
            "{ts}"
        );
        v
    }

    /// Same keys in the same order with the same values as the formatter's line.
    fn assert_same_as_formatter(owned: &Owned) {
        let (bytes, direct) = direct_line(owned);
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        let direct = without_timestamp(direct);
        let formatted = without_timestamp(formatter_line(owned));
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&direct), keys(&formatted));
        assert_eq!(direct, formatted);
    }

    #[test]
    fn timestamps_are_humantimes() {
        let base = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        for offset_us in [0u64, 1, 999_999, 1_000_000, 1_000_001, 86_400_000_007] {
            let t = base + std::time::Duration::from_micros(offset_us);
            for _ in 0..2 {
                let mut buf = Vec::new();
                timestamp(&mut buf, t);
                let want = humantime::format_rfc3339_micros(t).to_string();
                assert_eq!(String::from_utf8(buf).unwrap(), want);
            }
        }
    }

    #[test]
    fn a_completed_line_is_the_formatters_line() {
        let owned = completed("/users/7");
        assert_same_as_formatter(&owned);
        let (_, v) = direct_line(&owned);
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "pulsecheck::access");
        assert_eq!(v["message"], "request completed");
        assert_eq!(v["http.response.status_code"], 200);
        assert_eq!(v["duration_ms"], 1.25);
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(v["span_id"], "00f067aa0ba902b7");
        assert_eq!(v["request_id"], "req-1");
        assert!(v.get("error.class").is_none());
    }

    #[test]
    fn a_failed_line_without_path_or_trace_is_the_formatters_line() {
        let mut owned = completed("/");
        owned.level = Level::ERROR;
        owned.path = None;
        owned.route = None;
        owned.status = 500;
        owned.error_type = Some("500".into());
        owned.panic_message = Some("boom \"quoted\"\n\u{1b}[31m".into());
        owned.sc = SpanContext::empty_context();
        owned.duration_ms = f64::NAN;
        assert_same_as_formatter(&owned);
        let (_, v) = direct_line(&owned);
        assert_eq!(v["panic.message"], "boom \"quoted\"\n\u{1b}[31m");
        assert_eq!(v["duration_ms"], Value::Null);
        assert!(v.get("trace_id").is_none() && v.get("url.path").is_none());
    }

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[\\\\\"\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}a-z/{}]{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever a request carries, the line is one JSON object a line whose values are the
        /// request's, and the formatter would have written the same.
        #[test]
        fn hostile_values_stay_inside_their_json_strings(
            path in hostile(),
            route in hostile(),
            panic in hostile(),
            ms in any::<f64>(),
        ) {
            let mut owned = completed(&path);
            owned.route = Some(StringValue::from(route.clone()));
            owned.level = Level::ERROR;
            owned.error_type = Some("500".into());
            owned.panic_message = Some(panic.clone());
            owned.duration_ms = ms;
            let (bytes, v) = direct_line(&owned);
            prop_assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
            prop_assert_eq!(v["url.path"].as_str(), Some(path.as_str()));
            prop_assert_eq!(v["http.route"].as_str(), Some(route.as_str()));
            prop_assert_eq!(v["panic.message"].as_str(), Some(panic.as_str()));
            assert_same_as_formatter(&owned);
        }
    }

    fn verdicts(directives: &str) -> Verdicts {
        let filter = EnvFilter::new(directives);
        Verdicts::from_interest(|m| {
            Filter::<tracing_subscriber::Registry>::callsite_enabled(&filter, m)
        })
    }

    #[test]
    fn the_log_filter_decides_per_level() {
        use Verdict::*;
        assert_eq!(verdicts("info").0, [On, On, On, Off, Off]);
        assert_eq!(verdicts("info,pulsecheck::access=off").0, [Off; 5]);
        assert_eq!(verdicts("warn,pulsecheck=debug").0, [On, On, On, On, Off]);
        assert_eq!(verdicts("error").0, [On, Off, Off, Off, Off]);
        // A span directive: below the static level only the filter, seeing the event, knows.
        assert_eq!(verdicts("info,[checkout]=debug").0, [On, On, On, Ask, Ask]);
    }

    /// A subscriber like pulsecheck's: the log layer under `directives`, and the sink.
    fn subscriber(directives: &str, sink_lines: &Lines, event_lines: &Lines) -> tracing::Dispatch {
        let writer = event_lines.clone();
        let sink = AccessLogSink::new(verdicts(directives), sink_lines.out(), None);
        tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(
                    log_layer(LogFormat::Json, move || writer.clone())
                        .with_filter(EnvFilter::new(directives)),
                )
                .with(sink.with_filter(tracing_subscriber::filter::LevelFilter::OFF)),
        )
    }

    #[test]
    fn under_pulsechecks_subscriber_the_line_is_written_directly() {
        let (direct, events) = (Lines::default(), Lines::default());
        let owned = completed("/users/7");
        tracing::dispatcher::with_default(&subscriber("info", &direct, &events), || {
            emit(&owned.line())
        });
        assert!(events.take().is_empty(), "no tracing event");
        let lines = direct.take();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["request_id"], "req-1");
    }

    #[test]
    fn the_filter_still_silences_or_decides() {
        let owned = completed("/users/7");
        for (directives, direct_n, event_n) in [
            ("info,pulsecheck::access=off", 0, 0),
            ("warn", 0, 0),
            // Not decidable up front: the event goes to the filter, which lets it through.
            ("info,[checkout]=debug", 1, 0),
        ] {
            let (direct, events) = (Lines::default(), Lines::default());
            let mut line = owned.line();
            if direct_n == 1 {
                line.level = Level::DEBUG;
            }
            tracing::dispatcher::with_default(&subscriber(directives, &direct, &events), || {
                tracing::info_span!("checkout").in_scope(|| emit(&line))
            });
            assert_eq!(direct.take().len(), 0, "{directives}");
            assert_eq!(events.take().len(), direct_n + event_n, "{directives}");
        }
    }

    #[test]
    fn under_another_subscriber_the_line_is_a_tracing_event() {
        let events = Lines::default();
        let writer = events.clone();
        let subscriber =
            tracing_subscriber::registry().with(log_layer(LogFormat::Json, move || writer.clone()));
        let owned = completed("/users/7");
        tracing::subscriber::with_default(subscriber, || emit(&owned.line()));
        let lines = events.take();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["url.path"], "/users/7");
    }
}
