//! `pulsecheck watch BASE_URL`: a live view of a running service, refreshed every second:
//! latency percentiles, throughput and error rate with sparklines, health checks and breaker
//! states, budget utilisation, firing alerts. Quits on `q`, Esc or Ctrl-C.
//!
//! On a terminal it takes the alternate screen in raw mode (crossterm); otherwise (a pipe, a
//! CI log) it prints one frame per refresh, and `--frames N` stops after N frames.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::get::get_endpoint;
use crate::paint::{Paint, ms, thousands};
use crate::{CliError, ColorChoice, EXIT_OK, parse_duration};

/// `pulsecheck watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The service's base URL.
    pub base_url: String,
    /// Time between refreshes.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Stop after this many frames (printed one after another, without the full-screen view).
    #[arg(long)]
    pub frames: Option<u64>,
    /// One JSON line per refresh on stdout (`metrics`, `budget`, `health`, `alerts` as the
    /// service answered, or `{"error": ..}`), instead of the view.
    #[arg(long)]
    pub json: bool,
    /// Admin token for the protected endpoints.
    #[arg(long, env = "PULSE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

const HISTORY: usize = 60;

/// What one refresh fetched.
struct Sample {
    metrics: Result<Value, String>,
    budget: Option<Result<Value, String>>,
    health: Option<Result<Value, String>>,
    alerts: Option<Result<Value, String>>,
    /// Whether the requests carried a token: without one, the detailed fields are hidden.
    with_token: bool,
}

/// One refresh as one JSON line.
fn sample_json(s: &Sample) -> Value {
    let part = |r: Option<&Result<Value, String>>| match r {
        Some(Ok(v)) => v.clone(),
        Some(Err(e)) => serde_json::json!({ "error": e }),
        None => Value::Null,
    };
    serde_json::json!({
        "time": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "metrics": part(Some(&s.metrics)),
        "budget": part(s.budget.as_ref()),
        "health": part(s.health.as_ref()),
        "alerts": part(s.alerts.as_ref()),
    })
}

#[derive(Default)]
struct History {
    rps: VecDeque<f64>,
    errors: VecDeque<f64>,
    p99: VecDeque<f64>,
}

impl History {
    fn push(&mut self, m: &Value) {
        let f = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
        for (q, v) in [
            (&mut self.rps, f(m.get("throughput_rpm")) / 60.0),
            (&mut self.errors, f(m.get("error_rate"))),
            (
                &mut self.p99,
                f(m.get("latency_ms").and_then(|l| l.get("p99"))),
            ),
        ] {
            q.push_back(v);
            if q.len() > HISTORY {
                q.pop_front();
            }
        }
    }
}

/// `▁▂▃▄▅▆▇█` scaled from zero to the largest value.
fn sparkline(v: &VecDeque<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = v.iter().copied().fold(0.0, f64::max);
    v.iter()
        .map(|x| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((x / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

async fn fetch_json(base: &str, path: &str, token: Option<&str>) -> Option<Result<Value, String>> {
    match get_endpoint(base, path, token, Duration::from_secs(2)).await {
        Err(e) => Some(Err(e.to_string())),
        Ok((_, f)) if f.status.as_u16() == 404 => None,
        Ok((_, f)) if f.status.as_u16() == 401 || f.status.as_u16() == 403 => Some(Err(format!(
            "{}: pass --token or set PULSE_ADMIN_TOKEN",
            f.status
        ))),
        // /health answers 503 with a body when unhealthy.
        Ok((_, f)) => {
            Some(serde_json::from_slice(&f.body).map_err(|_| format!("{}: not JSON", f.status)))
        }
    }
}

async fn sample(base: &str, token: Option<&str>) -> Sample {
    let (m, b, h, a) = tokio::join!(
        fetch_json(base, "/health/metrics?window=1m", token),
        fetch_json(base, "/health/budget", token),
        fetch_json(base, "/health", token),
        fetch_json(base, "/health/alerts", token),
    );
    Sample {
        metrics: m.unwrap_or_else(|| Err("/health/metrics not served (404)".into())),
        budget: b,
        health: h,
        alerts: a,
        with_token: token.is_some(),
    }
}

fn status_color(p: Paint, s: &str) -> String {
    match s {
        "healthy" | "ok" | "pass" | "closed" | "up" => p.green(s),
        "degraded" | "warning" | "warn" | "half_open" | "half-open" => p.yellow(s),
        _ => p.red(s),
    }
}

/// `version 1.2.3  up 61s`, or what is missing and why: the public `/health` hides the
/// version and uptime, and `up 0s` would read as a service that just restarted.
fn identity(health: &Value, with_token: bool) -> String {
    let version = match health.get("version").and_then(Value::as_str) {
        Some(v) => format!("version {v}"),
        None if with_token => "version unknown".to_owned(),
        None => "version unknown (needs token)".to_owned(),
    };
    match health.get("uptime_s").and_then(Value::as_u64) {
        Some(up) => format!("{version}  up {up}s"),
        None => version,
    }
}

/// A check's breaker column: its state, `no breaker` when the detailed view says it has none
/// (`"circuit": null`), and nothing when the view hides it (the public `/health`).
fn breaker(p: Paint, check: &Value) -> String {
    match check.get("circuit") {
        None => String::new(),
        Some(Value::String(state)) => format!("  breaker {}", status_color(p, state)),
        Some(_) => format!("  {}", p.dim("no breaker")),
    }
}

fn frame(base: &str, s: &Sample, h: &History, p: Paint, clock: &str, interactive: bool) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
    let _ = writeln!(
        o,
        "{} {base}   {clock}{}",
        p.bold("pulsecheck watch"),
        if interactive {
            p.dim("   (q to quit)")
        } else {
            String::new()
        }
    );
    // Health and dependencies.
    match &s.health {
        None => {
            let _ = writeln!(
                o,
                "\n{}  {}",
                p.bold("Health"),
                p.dim("/health not served (404)")
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(o, "\n{}  {}", p.bold("Health"), p.red(e));
        }
        Some(Ok(v)) => {
            let _ = writeln!(
                o,
                "\n{}  {}  {}",
                p.bold("Health"),
                status_color(p, &str_of(v, "status")),
                p.dim(identity(v, s.with_token))
            );
            if let Some(checks) = v.get("checks").and_then(Value::as_object) {
                for (name, c) in checks {
                    let _ = writeln!(
                        o,
                        "  {name:<14} {:<20} {:>9} ms{}{}",
                        status_color(p, &str_of(c, "status")),
                        c.get("latency_ms")
                            .and_then(Value::as_f64)
                            .map_or("-".into(), ms),
                        breaker(p, c),
                        c.get("error")
                            .and_then(Value::as_str)
                            .map(|e| format!("  {}", p.red(e)))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    // Traffic.
    let _ = writeln!(o, "\n{}  {}", p.bold("Traffic"), p.dim("(last minute)"));
    match &s.metrics {
        Err(e) => {
            let _ = writeln!(o, "  {}", p.red(e));
        }
        Ok(m) => {
            let f = |path: &[&str]| {
                let mut cur = m;
                for k in path {
                    cur = cur.get(*k).unwrap_or(&Value::Null);
                }
                cur.as_f64()
            };
            let _ = writeln!(
                o,
                "  throughput {:>10} req/s   {}",
                format!("{:.1}", f(&["throughput_rpm"]).unwrap_or(0.0) / 60.0),
                p.cyan(sparkline(&h.rps))
            );
            let er = f(&["error_rate"]).unwrap_or(0.0);
            let er_s = format!("{:>10}", format!("{:.2} %", er * 100.0));
            let _ = writeln!(
                o,
                "  error rate {} {}",
                if er > 0.0 { p.red(er_s) } else { p.green(er_s) },
                p.cyan(sparkline(&h.errors))
            );
            let lat = |k: &str| f(&["latency_ms", k]).map_or("-".into(), ms);
            let _ = writeln!(
                o,
                "  latency    p50 {} ms  p95 {} ms  p99 {} ms  max {} ms   {}",
                lat("p50"),
                lat("p95"),
                lat("p99"),
                lat("max"),
                p.cyan(sparkline(&h.p99))
            );
            let _ = writeln!(
                o,
                "  requests   {}",
                thousands(f(&["requests"]).unwrap_or(0.0) as u64)
            );
        }
    }
    // Budget.
    match &s.budget {
        None => {}
        Some(Err(e)) => {
            let _ = writeln!(o, "\n{}  {}", p.bold("Budget"), p.red(e));
        }
        Some(Ok(b)) => {
            let _ = writeln!(
                o,
                "\n{}  {}",
                p.bold("Budget"),
                status_color(p, &str_of(b, "status"))
            );
            for l in b
                .get("budgets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let u = l.get("utilization").and_then(Value::as_f64);
                let filled = u.map_or(0, |u| (u.clamp(0.0, 1.0) * 20.0).round() as usize);
                let bar = format!("{}{}", "█".repeat(filled), "░".repeat(20 - filled));
                let st = str_of(l, "status");
                let name = match l.get("route").and_then(Value::as_str) {
                    Some(r) => format!("{} {r}", str_of(l, "name")),
                    None => str_of(l, "name"),
                };
                let _ = writeln!(
                    o,
                    "  {name:<24} {} {:>6}  {}",
                    match st.as_str() {
                        "ok" => p.green(bar),
                        "warning" => p.yellow(bar),
                        _ => p.red(bar),
                    },
                    u.map_or("-".into(), |u| format!("{:.0} %", u * 100.0)),
                    status_color(p, &st)
                );
            }
        }
    }
    // Alerts.
    match &s.alerts {
        None => {
            let _ = writeln!(
                o,
                "\n{}  {}",
                p.bold("Alerts"),
                p.dim("/health/alerts not served (404)")
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(o, "\n{}  {}", p.bold("Alerts"), p.red(e));
        }
        Some(Ok(a)) => {
            let firing: Vec<&Value> = a
                .get("alerts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|x| x.get("status").and_then(Value::as_str) == Some("firing"))
                .collect();
            if firing.is_empty() {
                let _ = writeln!(o, "\n{}  {}", p.bold("Alerts"), p.green("none firing"));
            } else {
                let _ = writeln!(
                    o,
                    "\n{}  {}",
                    p.bold("Alerts"),
                    p.red(format!("{} firing", firing.len()))
                );
                for x in firing {
                    let _ = writeln!(
                        o,
                        "  {} {}  {}",
                        p.red(str_of(x, "severity")),
                        str_of(x, "name"),
                        p.dim(x.get("summary").and_then(Value::as_str).unwrap_or(""))
                    );
                }
            }
        }
    }
    o
}

fn clock() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    t.get(11..19).unwrap_or(&t).to_owned()
}

/// Restores the terminal however `watch` ends.
struct Screen;

impl Screen {
    fn enter() -> Result<Self, CliError> {
        crossterm::terminal::enable_raw_mode().map_err(CliError::Terminal)?;
        let s = Screen;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )
        .map_err(CliError::Terminal)?;
        Ok(s)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::cursor::Show,
            crossterm::terminal::LeaveAlternateScreen
        );
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

pub(crate) async fn run(a: WatchArgs, color: ColorChoice) -> Result<ExitCode, CliError> {
    crate::load::Target::parse(&a.base_url)?;
    let paint = Paint::stdout(color);
    let interactive = !a.json
        && a.frames.is_none()
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    let mut history = History::default();
    let mut tick = tokio::time::interval(a.interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !interactive {
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::from(EXIT_OK)),
            }
            let s = sample(&a.base_url, a.token.as_deref()).await;
            if let Ok(m) = &s.metrics {
                history.push(m);
            }
            let text = if a.json {
                format!("{}\n", sample_json(&s))
            } else {
                format!(
                    "{}\n",
                    frame(&a.base_url, &s, &history, paint, &clock(), false)
                )
            };
            crate::stdout(&text)?;
            n += 1;
            if a.frames.is_some_and(|f| n >= f) {
                return Ok(ExitCode::from(EXIT_OK));
            }
        }
    }

    let (keys_tx, mut keys) = tokio::sync::mpsc::channel::<()>(1);
    let screen = Screen::enter()?;
    // Key events come from a blocking read, on its own thread; it ends with the channel.
    std::thread::spawn(move || {
        use crossterm::event::{self, Event, KeyCode, KeyModifiers};
        loop {
            if keys_tx.is_closed() {
                return;
            }
            if !matches!(event::poll(Duration::from_millis(100)), Ok(true)) {
                continue;
            }
            if let Ok(Event::Key(k)) = event::read() {
                let quit = matches!(
                    k.code,
                    KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc
                ) || (k.code == KeyCode::Char('c')
                    && k.modifiers.contains(KeyModifiers::CONTROL));
                if quit {
                    let _ = keys_tx.blocking_send(());
                    return;
                }
            }
        }
    });
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = keys.recv() => break,
        }
        let s = tokio::select! {
            s = sample(&a.base_url, a.token.as_deref()) => s,
            _ = keys.recv() => break,
        };
        if let Ok(m) = &s.metrics {
            history.push(m);
        }
        // Raw mode: lines need \r\n.
        let text = frame(&a.base_url, &s, &history, paint, &clock(), true).replace('\n', "\r\n");
        let mut out = std::io::stdout().lock();
        let _ = crossterm::queue!(
            out,
            crossterm::cursor::MoveTo(0, 0),
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
        );
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    drop(screen);
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sparkline_scales_to_the_largest_value() {
        let v: VecDeque<f64> = [0.0, 1.0, 2.0, 4.0, 8.0].into_iter().collect();
        assert_eq!(sparkline(&v), "▁▂▃▅█");
        let z: VecDeque<f64> = [0.0, 0.0].into_iter().collect();
        assert_eq!(sparkline(&z), "▁▁");
    }

    #[test]
    fn missing_version_and_breakers_are_named_not_guessed() {
        let p = Paint::stdout(ColorChoice::Never);
        let public = json!({"status": "healthy"});
        assert_eq!(identity(&public, false), "version unknown (needs token)");
        // A token, and still no version: the service does not report one.
        assert_eq!(identity(&public, true), "version unknown");
        let full = json!({"version": "1.2.3", "uptime_s": 61});
        assert_eq!(identity(&full, true), "version 1.2.3  up 61s");
        assert_eq!(breaker(p, &json!({"status": "up"})), "");
        assert_eq!(breaker(p, &json!({"circuit": null})), "  no breaker");
        assert_eq!(
            breaker(p, &json!({"circuit": "half_open"})),
            "  breaker half_open"
        );
    }

    #[test]
    fn frame_shows_every_section_and_missing_endpoints() {
        let s = Sample {
            metrics: Ok(
                json!({"requests": 1200, "throughput_rpm": 1200.0, "error_rate": 0.01,
                "latency_ms": {"p50": 1.0, "p95": 4.0, "p99": 9.5, "max": 20.0}}),
            ),
            budget: Some(Ok(
                json!({"status":"warning","budgets":[{"name":"latency_p95_ms","utilization":0.85,"status":"warning"}]}),
            )),
            health: Some(Ok(
                json!({"status":"degraded","version":"1.2.3","uptime_s":61,
                "checks":{"redis":{"status":"unhealthy","latency_ms":2.0,"circuit":"open","error":"timeout"}}}),
            )),
            alerts: None,
            with_token: true,
        };
        let mut h = History::default();
        h.push(s.metrics.as_ref().unwrap());
        let f = frame(
            "http://x",
            &s,
            &h,
            Paint::stdout(ColorChoice::Never),
            "12:00:00",
            false,
        );
        for want in [
            "degraded",
            "redis",
            "breaker open",
            "timeout",
            "20.0 req/s",
            "1.00 %",
            "p99 9.50 ms",
            "latency_p95_ms",
            "85 %",
            "/health/alerts not served (404)",
        ] {
            assert!(f.contains(want), "missing {want:?} in\n{f}");
        }
    }
}
