//! `pulsecheck load URL`: runs the [`crate::load`] engine with a live progress line, then
//! prints the report (and, when the target is a pulsecheck service, the service's own figures
//! for the same requests: see [`super::compare`]), writes `--json`, checks `--budget`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;

use super::compare::{Around, ServiceSide, Totals, compare};
use crate::load::{
    BudgetResult, Connector, LoadConfig, LoadReport, LoadTest, Stop, Target, fetch, fmt_duration,
    parse_budget,
};
use crate::paint::{Paint, bytes as fmt_bytes, ms, thousands};
use crate::{
    CliError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, auth_headers, parse_duration, stdout,
};

/// A pulsecheck service's aggregator ticks every second; its windows lag by up to that.
const SERVER_TICK: Duration = Duration::from_millis(1100);

/// `--preset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 10 connections for 60 s.
    Basic,
    /// 50 connections for 120 s.
    Stress,
}

/// `pulsecheck load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The URL to load, `http://` or `https://`.
    pub url: String,
    /// Connections, each carrying one request at a time [default: 10, or the preset's].
    #[arg(short = 'c', long)]
    pub connections: Option<usize>,
    /// How long to measure (`60s`, `2m`) [default: 60s, or the preset's].
    #[arg(short = 'd', long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Measure this many requests instead of a duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Open model: requests per second on a fixed schedule; latency counts from each request's
    /// intended send time (coordinated omission corrected).
    #[arg(long)]
    pub rate: Option<f64>,
    /// basic: 10 connections, 60 s; stress: 50 connections, 120 s (-c and -d still win).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// A header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// HTTP/2 (prior knowledge on http://, ALPN on https://).
    #[arg(long)]
    pub http2: bool,
    /// Accept any TLS certificate.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Send but do not count requests for this long first.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// A W3C traceparent and an x-request-id (the trace id as a UUID) on every request.
    #[arg(long)]
    pub trace: bool,
    /// Threads generating load, each with its share of the connections [default: CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Every figure as JSON: `--json` on stdout instead of the text report, `--output FILE`
    /// to a file.
    #[command(flatten)]
    pub out: crate::JsonArgs,
    /// Limits that fail the run (exit 1): `p95=1000ms,p99=2000ms,errors=5%` (also p50, p90,
    /// p999, max, mean, rps=MIN).
    #[arg(long)]
    pub budget: Option<String>,
    /// No live progress line (it is shown only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Do not read the service's /health/metrics before and after.
    #[arg(long)]
    pub no_server_metrics: bool,
    /// Admin token for the service's /metrics and /health/* reads, sent only there and only when given
    /// here: unlike the other commands, `load` does not read PULSE_ADMIN_TOKEN, since the
    /// loaded host may not be yours.
    #[arg(long)]
    pub token: Option<String>,
}

impl LoadArgs {
    /// The engine's settings from the arguments.
    pub fn config(&self) -> Result<LoadConfig, CliError> {
        let mut cfg = LoadConfig::new(self.url.trim());
        let (pc, pd) = match self.preset {
            Some(Preset::Basic) | None => (10, Duration::from_secs(60)),
            Some(Preset::Stress) => (50, Duration::from_secs(120)),
        };
        cfg.connections = self.connections.unwrap_or(pc);
        cfg.stop = match (self.requests, self.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, d) => Stop::After(d.unwrap_or(pd)),
        };
        cfg.rate = self.rate;
        cfg.method = Method::from_bytes(self.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| CliError::Usage(format!("`{}` is not an HTTP method", self.method)))?;
        cfg.headers = parse_headers(&self.headers)?;
        cfg.body = match (&self.body, &self.body_file) {
            (Some(b), _) => Bytes::from(b.clone()),
            (None, Some(p)) => Bytes::from(std::fs::read(p).map_err(|source| CliError::Io {
                path: p.clone(),
                source,
            })?),
            (None, None) => Bytes::new(),
        };
        cfg.http2 = self.http2;
        cfg.insecure = self.insecure;
        cfg.timeout = self.timeout;
        cfg.warmup = self.warmup;
        cfg.trace = self.trace;
        if let Some(t) = self.threads {
            cfg.threads = t;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

fn parse_headers(raw: &[String]) -> Result<HeaderMap, CliError> {
    let mut h = HeaderMap::new();
    for line in raw {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| CliError::Usage(format!("header `{line}` is not `Name: value`")))?;
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| CliError::Usage(format!("`{}` is not a header name", k.trim())))?;
        let value = HeaderValue::from_str(v.trim())
            .map_err(|_| CliError::Usage(format!("header `{}` has an invalid value", k.trim())))?;
        h.append(name, value);
    }
    Ok(h)
}

/// What `--json` writes: the report, the budget, the service's view.
#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    report: &'a LoadReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget: Option<BudgetOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a ServiceSide>,
}

#[derive(Serialize)]
struct BudgetOut<'a> {
    passed: bool,
    checks: &'a [BudgetResult],
}

/// The service's endpoints read around the run: its cumulative totals and its window.
struct ServiceProbe {
    totals: Connector,
    window: Connector,
    window_s: f64,
    headers: HeaderMap,
}

impl ServiceProbe {
    /// The totals before the run: `Ok(None)` when the target is not a pulsecheck service,
    /// `Err(reason)` when it is one that cannot tell.
    async fn totals(&self) -> Result<Option<Totals>, String> {
        let r = match fetch(
            &self.totals,
            Method::GET,
            &self.headers,
            Duration::from_secs(3),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => return Ok(None),
        };
        match r.status.as_u16() {
            401 | 403 => Err(format!(
                "its /metrics answered {}: pass the admin token with --token",
                r.status.as_u16()
            )),
            s if (200..300).contains(&s) => {
                Ok(std::str::from_utf8(&r.body).ok().and_then(Totals::parse))
            }
            _ if self.window().await.is_some() => {
                Err("it serves no /metrics, so it cannot count this run's requests".to_owned())
            }
            _ => Ok(None),
        }
    }

    async fn window(&self) -> Option<serde_json::Value> {
        let r = fetch(
            &self.window,
            Method::GET,
            &self.headers,
            Duration::from_secs(3),
        )
        .await
        .ok()?;
        if !r.status.is_success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        v.get("requests").is_some().then_some(v)
    }
}

pub(crate) async fn run(a: LoadArgs, paint: Paint) -> Result<ExitCode, CliError> {
    let cfg = a.config()?;
    let budget = a.budget.as_deref().map(parse_budget).transpose()?;
    let test = LoadTest::new(cfg.clone())?;
    let target = Target::parse(&cfg.url)?;
    let to_stdout_json = a.out.json;

    // /health/metrics over a window that covers the run.
    let total = match cfg.stop {
        Stop::After(d) => d + cfg.warmup,
        Stop::Requests(_) => Duration::from_secs(60),
    };
    let window = if total <= Duration::from_secs(60) {
        "1m"
    } else if total <= Duration::from_secs(300) {
        "5m"
    } else {
        "1h"
    };
    let headers = auth_headers(a.token.as_deref())?;
    let connector = |path: &str| {
        target
            .with_path(path)
            .ok()
            .and_then(|t| Connector::new(t, false, cfg.insecure).ok())
    };
    let probe = if a.no_server_metrics {
        None
    } else {
        match (
            connector("/metrics"),
            connector(&format!("/health/metrics?window={window}")),
        ) {
            (Some(totals), Some(window_conn)) => Some(ServiceProbe {
                totals,
                window: window_conn,
                window_s: match window {
                    "1m" => 60.0,
                    "5m" => 300.0,
                    _ => 3600.0,
                },
                headers,
            }),
            _ => None,
        }
    };
    let before = match &probe {
        Some(p) => p.totals().await,
        None => Ok(None),
    };

    if !to_stdout_json {
        eprintln!(
            "{} {} {} — {} model, {} connections, {}, {}{}",
            paint.bold("pulsecheck load"),
            cfg.method,
            cfg.url,
            if cfg.rate.is_some() { "open" } else { "closed" },
            cfg.connections,
            if cfg.http2 { "HTTP/2" } else { "HTTP/1.1" },
            match cfg.stop {
                Stop::After(d) => fmt_duration(d),
                Stop::Requests(n) => format!("{} requests", thousands(n)),
            },
            cfg.rate.map(|r| format!(", {r} req/s")).unwrap_or_default(),
        );
    }

    let show_progress = !a.no_progress && std::io::stderr().is_terminal();
    let progress = show_progress.then(|| tokio::spawn(progress_loop(test.clone())));
    // Listen for Ctrl-C before the first request: polling once registers the handler.
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    let early = futures_util::FutureExt::now_or_never(&mut ctrl_c).is_some();
    let interrupt = async move {
        if !early && ctrl_c.await.is_err() {
            std::future::pending::<()>().await;
        }
        // A second Ctrl-C while the report is being written exits at once.
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        });
    };
    let result = test.run(interrupt).await;
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[2K");
    }
    let report = result?;

    let server = match (&probe, before) {
        (Some(p), Ok(Some(before))) => {
            // The service folds its counters into its windows once a second.
            tokio::time::sleep(SERVER_TICK).await;
            Some(match p.totals().await {
                Ok(Some(after)) => {
                    let window = p.window().await;
                    compare(
                        &report,
                        &Around {
                            before: &before,
                            after: &after,
                            window: window.as_ref(),
                            window_s: p.window_s,
                            path: target.path_and_query().split('?').next().unwrap_or("/"),
                            method: cfg.method.as_str(),
                        },
                    )
                }
                Ok(None) => ServiceSide::Unavailable {
                    unavailable: "its totals could not be read after the run".to_owned(),
                },
                Err(unavailable) => ServiceSide::Unavailable { unavailable },
            })
        }
        (Some(_), Err(unavailable)) => Some(ServiceSide::Unavailable { unavailable }),
        _ => None,
    };
    let checks: Option<Vec<BudgetResult>> =
        budget.map(|b| b.iter().map(|c| c.check(&report)).collect());
    let passed = checks.as_ref().is_none_or(|c| c.iter().all(|r| r.passed));

    if !to_stdout_json {
        stdout(&render(&report, checks.as_deref(), server.as_ref(), paint))?;
    }
    if a.out.json || a.out.output.is_some() {
        let out = JsonOut {
            report: &report,
            budget: checks.as_ref().map(|c| BudgetOut { passed, checks: c }),
            server: server.as_ref(),
        };
        let text =
            serde_json::to_string_pretty(&out).map_err(|e| CliError::Usage(e.to_string()))?;
        a.out.emit(&text)?;
    }
    if report.interrupted {
        eprintln!(
            "interrupted: the figures above cover the {:.1} s that ran",
            report.duration_s
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if report.answered() == 0 && report.requests > 0 {
        let kinds: Vec<String> = report
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        eprintln!("error: no request was answered ({})", kinds.join(", "));
        return Ok(ExitCode::from(crate::EXIT_ERROR));
    }
    Ok(ExitCode::from(if passed { EXIT_OK } else { EXIT_FAILED }))
}

async fn progress_loop(test: LoadTest) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last = (Duration::ZERO, 0u64);
    let mut rps = 0.0;
    loop {
        tick.tick().await;
        let p = test.progress();
        let dt = p.elapsed.saturating_sub(last.0).as_secs_f64();
        if dt > 0.0 {
            rps = (p.requests.saturating_sub(last.1)) as f64 / dt;
        }
        last = (p.elapsed, p.requests);
        let width = 30;
        let filled = (p.done * width as f64).round() as usize;
        let bar = format!(
            "{}{}",
            "█".repeat(filled),
            "░".repeat(width - filled.min(width))
        );
        let line = if p.warming_up {
            "warming up…".to_string()
        } else {
            format!(
                "{bar} {:>5.1}s  {:>9} req  {:>8.0} req/s  errors {}  p99 {}",
                p.elapsed.as_secs_f64(),
                thousands(p.requests),
                rps,
                thousands(p.errors),
                p.p99
                    .map_or("-".into(), |d| format!("{} ms", ms(d.as_secs_f64() * 1e3))),
            )
        };
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
    }
}

/// The text report.
fn render(
    r: &LoadReport,
    checks: Option<&[BudgetResult]>,
    server: Option<&ServiceSide>,
    p: Paint,
) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let budget_for = |metric: &str| checks.and_then(|c| c.iter().find(|x| x.metric == metric));
    let _ = writeln!(o, "\n{}", p.bold("Summary"));
    let _ = writeln!(
        o,
        "  requests   {:>12}   {} req/s over {:.2} s{}",
        thousands(r.requests),
        p.bold(format!("{:.1}", r.rps)),
        r.duration_s,
        if r.interrupted {
            p.yellow("  (interrupted)")
        } else {
            String::new()
        }
    );
    let err_line = format!(
        "{:>12}   {:.2} %",
        thousands(r.errors),
        r.error_rate * 100.0
    );
    let _ = writeln!(
        o,
        "  errors     {}",
        if r.errors > 0 {
            p.red(err_line)
        } else {
            p.green(err_line)
        }
    );
    let _ = writeln!(
        o,
        "  received   {:>12}   {} connections opened{}{}",
        fmt_bytes(r.bytes_received),
        r.connects,
        if r.aborted > 0 {
            format!(", {} cut off at the end", r.aborted)
        } else {
            String::new()
        },
        if r.warmup_requests > 0 {
            format!(
                ", {} warm-up requests not counted",
                thousands(r.warmup_requests)
            )
        } else {
            String::new()
        },
    );

    let _ = writeln!(
        o,
        "\n{}{}",
        p.bold("Latency"),
        p.dim(if r.model == "open" {
            "  (from each request's intended send time)"
        } else {
            ""
        })
    );
    match &r.latency_ms {
        None => {
            let _ = writeln!(o, "  no answers");
        }
        Some(l) => {
            let rows = [
                ("min", "min", l.min),
                ("p50", "p50", l.p50),
                ("p90", "p90", l.p90),
                ("p95", "p95", l.p95),
                ("p99", "p99", l.p99),
                ("p99.9", "p999", l.p999),
                ("max", "max", l.max),
                ("mean", "mean", l.mean),
            ];
            for (label, key, v) in rows {
                let width = if l.max > 0.0 {
                    ((v / l.max) * 40.0).round() as usize
                } else {
                    0
                };
                let bar = p.cyan("▇".repeat(width.max(1)));
                let mark = match budget_for(key) {
                    Some(b) if b.passed => p.green(format!(" ≤ {} ms ✓", ms(b.limit))),
                    Some(b) => p.red(format!(" > {} ms ✗", ms(b.limit))),
                    None => String::new(),
                };
                let _ = writeln!(o, "  {label:<6} {:>10} ms  {bar}{mark}", ms(v));
            }
        }
    }
    if let Some(s) = &r.schedule {
        let _ = writeln!(o, "\n{}", p.bold("Schedule (open model)"));
        let _ = writeln!(
            o,
            "  rate {} req/s: {} due, {} sent late (> 1 ms), {} dropped, worst lag {} ms",
            s.rate,
            thousands(s.scheduled),
            if s.late_sends > 0 {
                p.yellow(thousands(s.late_sends))
            } else {
                "0".into()
            },
            if s.dropped_sends > 0 {
                p.red(thousands(s.dropped_sends))
            } else {
                "0".into()
            },
            ms(s.max_send_lag_ms),
        );
        if let Some(st) = &s.service_time_ms {
            let _ = writeln!(
                o,
                "  {}",
                p.dim(format!(
                    "service time (from actual send, uncorrected): p50 {} p99 {} max {} ms",
                    ms(st.p50),
                    ms(st.p99),
                    ms(st.max)
                ))
            );
        }
    }

    let _ = writeln!(o, "\n{}", p.bold("Status codes"));
    if r.status_codes.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for (class, n) in &r.status_classes {
        let codes: Vec<String> = r
            .status_codes
            .iter()
            .filter(|(c, _)| c.starts_with(&class[..1]))
            .map(|(c, n)| format!("{c}: {}", thousands(*n)))
            .collect();
        let line = format!("  {class}  {:>12}   {}", thousands(*n), codes.join(", "));
        let _ = writeln!(
            o,
            "{}",
            match class.as_bytes().first() {
                Some(b'5') => p.red(line),
                Some(b'4') => p.yellow(line),
                _ => line,
            }
        );
    }
    if !r.errors_by_kind.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Failed requests by kind"));
        for (k, n) in &r.errors_by_kind {
            let sample = r.error_samples.get(k).map(String::as_str).unwrap_or("");
            let _ = writeln!(
                o,
                "  {:<9}{:>10}   {}",
                p.red(k),
                thousands(*n),
                p.dim(sample)
            );
        }
    }
    if !r.slowest.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Slowest requests"));
        for s in r.slowest.iter().take(5) {
            let _ = writeln!(
                o,
                "  {:>10} ms  {}  at {:>6.2} s{}",
                ms(s.latency_ms),
                s.status,
                s.at_s,
                s.trace_id
                    .as_ref()
                    .map(|t| format!("  trace {t}"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(side) = server {
        super::compare::render(&mut o, r, side, p);
    }
    if let Some(c) = checks {
        let _ = writeln!(o, "\n{}", p.bold("Budget"));
        for b in c {
            let fmt = |v: f64| match b.unit {
                "ms" => format!("{} ms", ms(v)),
                "ratio" => format!("{:.2} %", v * 100.0),
                _ => format!("{v:.1} req/s"),
            };
            let value = b.value.map_or("n/a".to_string(), fmt);
            let op = if b.unit == "rps" { "≥" } else { "≤" };
            let line = format!(
                "  {} {:<7} {value} (limit {op} {})",
                if b.passed { "✓" } else { "✗" },
                b.metric,
                fmt(b.limit)
            );
            let _ = writeln!(o, "{}", if b.passed { p.green(line) } else { p.red(line) });
        }
        let all = c.iter().all(|b| b.passed);
        let _ = writeln!(
            o,
            "  {}",
            if all {
                p.green("budget met")
            } else {
                p.red("budget FAILED")
            }
        );
    }
    o
}
