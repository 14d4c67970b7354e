//! `pulsecheck probe BASE_URL`: deployment validation in one command.
//!
//! Checks `/health` (status and response time), `/health/live`, `/health/ready`,
//! `/health/budget` and `/health/alerts`, and `/health/group/NAME` for each `--group NAME`;
//! each gives one line, pass / warn / fail. A missing
//! endpoint (404) or an unreachable service is a failure line, not a crash. Exit 1 on any
//! failure; `--wait` retries until everything passes or the time is up.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::get::{get_endpoint, status_problem};
use crate::paint::{Paint, ms};
use crate::{CliError, EXIT_FAILED, EXIT_OK, parse_duration, stdout};

/// `pulsecheck probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The service's base URL, e.g. `https://api.example.com`.
    pub base_url: String,
    /// Slowest acceptable `/health` response (request to end of body, connection open).
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub max_latency: Duration,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,
    /// Retry every second until every check passes or this long has passed (rollouts).
    #[arg(long, value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// Warnings (degraded, budget warning, warning alerts) fail too.
    #[arg(long)]
    pub strict: bool,
    /// The result as JSON: `--json` on stdout instead of the summary, `--output FILE` to a
    /// file.
    #[command(flatten)]
    pub out: crate::JsonArgs,
    /// Admin token for the protected endpoints.
    #[arg(long, env = "PULSE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Also probe health group NAME (`GET /health/group/NAME`, judged as `/health` but
    /// failing when any member is down); repeat for several groups.
    #[arg(long = "group", value_name = "NAME")]
    pub groups: Vec<String>,
}

/// One check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Fine.
    Pass,
    /// Works, but look at it.
    Warn,
    /// Broken.
    Fail,
}

/// One line of the probe.
#[derive(Clone, Debug, Serialize)]
pub struct CheckLine {
    /// `health`, `live`, `ready`, `budget`, `alerts`, `group`.
    pub name: &'static str,
    /// The URL requested.
    pub url: String,
    /// The outcome.
    pub status: Outcome,
    /// HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    /// Response time, ms.
    pub latency_ms: Option<f64>,
    /// What was found.
    pub detail: String,
}

#[derive(Serialize)]
struct ProbeOut<'a> {
    base_url: &'a str,
    passed: bool,
    attempts: u32,
    checks: &'a [CheckLine],
}

const CHECKS: [(&str, &str); 5] = [
    ("health", "/health"),
    ("live", "/health/live"),
    ("ready", "/health/ready"),
    ("budget", "/health/budget"),
    ("alerts", "/health/alerts"),
];

async fn one(a: &ProbeArgs, name: &'static str, path: &str) -> CheckLine {
    let mut line = CheckLine {
        name,
        url: format!("{}{}", a.base_url.trim_end_matches('/'), path),
        status: Outcome::Fail,
        http_status: None,
        latency_ms: None,
        detail: String::new(),
    };
    let (target, f) = match get_endpoint(&a.base_url, path, a.token.as_deref(), a.timeout).await {
        Ok(x) => x,
        Err(CliError::Request { error, .. }) => {
            line.detail = error.to_string();
            return line;
        }
        Err(e) => {
            line.detail = e.to_string();
            return line;
        }
    };
    line.url = target.url().to_owned();
    line.http_status = Some(f.status.as_u16());
    line.latency_ms = Some(f.elapsed.as_secs_f64() * 1e3);
    let body: Option<Value> = serde_json::from_slice(&f.body).ok();
    let field = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let problem = status_problem(f.status);
    let (status, detail) = match name {
        "health" | "group" => {
            let s = field("status").unwrap_or_else(|| "?".into());
            if f.status.as_u16() == 404 || f.status.as_u16() == 401 || f.status.as_u16() == 403 {
                (Outcome::Fail, problem.unwrap_or_default())
            } else if f.elapsed > a.max_latency {
                (
                    Outcome::Fail,
                    format!(
                        "{s}, but answered in {} ms, over the {} limit",
                        ms(f.elapsed.as_secs_f64() * 1e3),
                        crate::load::fmt_duration(a.max_latency)
                    ),
                )
            } else {
                match (f.status.as_u16(), s.as_str()) {
                    (200, "healthy") => (Outcome::Pass, "healthy".to_owned()),
                    (200, "degraded") => (
                        Outcome::Warn,
                        format!("degraded: {}", failing_checks(body.as_ref())),
                    ),
                    (code, s) => (
                        Outcome::Fail,
                        format!("{s} ({code}): {}", failing_checks(body.as_ref())),
                    ),
                }
            }
        }
        "live" | "ready" => match problem {
            None => (
                Outcome::Pass,
                field("status").unwrap_or_else(|| f.status.to_string()),
            ),
            Some(p) if f.status.as_u16() == 503 => (Outcome::Fail, format!("not ready: {p}")),
            Some(p) => (Outcome::Fail, p),
        },
        "budget" => match problem {
            Some(p) => (Outcome::Fail, p),
            None => {
                let s = field("status").unwrap_or_else(|| "?".into());
                let over = over_budget(body.as_ref());
                match s.as_str() {
                    "healthy" => (Outcome::Pass, "every budget within limits".to_owned()),
                    "warning" => (Outcome::Warn, format!("warning: {over}")),
                    _ => (Outcome::Fail, format!("{s}: {over}")),
                }
            }
        },
        _ => match problem {
            Some(p) => (Outcome::Fail, p),
            None => alerts(body.as_ref()),
        },
    };
    line.status = status;
    line.detail = match (name, f.status.as_u16(), field("error")) {
        // Several `--group` lines: each detail starts with its group's name.
        ("group", 404, Some(error)) => error,
        ("group", ..) => format!("{}: {detail}", path.rsplit('/').next().unwrap_or_default()),
        _ => detail,
    };
    line
}

fn failing_checks(body: Option<&Value>) -> String {
    let Some(checks) = body
        .and_then(|b| b.get("checks"))
        .and_then(Value::as_object)
    else {
        return "no check details".into();
    };
    let bad: Vec<String> = checks
        .iter()
        .filter(|(_, c)| {
            c.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "healthy" && s != "up" && s != "pass")
        })
        .map(|(n, c)| {
            let err = c.get("error").and_then(Value::as_str).unwrap_or("");
            if err.is_empty() {
                n.clone()
            } else {
                format!("{n} ({err})")
            }
        })
        .collect();
    if bad.is_empty() {
        "no failing check listed".into()
    } else {
        bad.join(", ")
    }
}

fn over_budget(body: Option<&Value>) -> String {
    let lines = body
        .and_then(|b| b.get("budgets"))
        .and_then(Value::as_array);
    let over: Vec<String> = lines
        .into_iter()
        .flatten()
        .filter(|l| {
            l.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "ok")
        })
        .map(|l| {
            format!(
                "{}{} {:.0} % of {}",
                l.get("name").and_then(Value::as_str).unwrap_or("?"),
                l.get("route")
                    .and_then(Value::as_str)
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default(),
                l.get("utilization").and_then(Value::as_f64).unwrap_or(0.0) * 100.0,
                l.get("limit").and_then(Value::as_f64).unwrap_or(0.0),
            )
        })
        .collect();
    if over.is_empty() {
        "no line listed".into()
    } else {
        over.join(", ")
    }
}

fn alerts(body: Option<&Value>) -> (Outcome, String) {
    let Some(list) = body.and_then(|b| b.get("alerts")).and_then(Value::as_array) else {
        return (Outcome::Fail, "answer has no `alerts` list".into());
    };
    let firing: Vec<&Value> = list
        .iter()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("firing"))
        .collect();
    if firing.is_empty() {
        return (Outcome::Pass, "no alert firing".into());
    }
    let severe = firing.iter().any(|a| {
        matches!(
            a.get("severity").and_then(Value::as_str),
            Some("critical" | "page" | "error")
        )
    });
    let names: Vec<String> = firing
        .iter()
        .map(|a| {
            format!(
                "{} ({})",
                a.get("name").and_then(Value::as_str).unwrap_or("?"),
                a.get("severity").and_then(Value::as_str).unwrap_or("?")
            )
        })
        .collect();
    (
        if severe { Outcome::Fail } else { Outcome::Warn },
        format!("firing: {}", names.join(", ")),
    )
}

pub(crate) async fn run(a: ProbeArgs, paint: Paint) -> Result<ExitCode, CliError> {
    // A bad URL is an error, not a failed check.
    crate::load::Target::parse(&a.base_url)?;
    if let Some(g) = a
        .groups
        .iter()
        .find(|g| !pulsecheck::health::is_group_name(g))
    {
        return Err(CliError::Usage(format!(
            "--group `{g}` is not a group name (letters, digits, `-`, `_`, `.`)"
        )));
    }
    let started = Instant::now();
    let mut attempts = 0;
    let lines = loop {
        attempts += 1;
        let mut lines = Vec::with_capacity(CHECKS.len());
        for (name, path) in CHECKS {
            lines.push(one(&a, name, path).await);
        }
        for group in &a.groups {
            lines.push(one(&a, "group", &format!("/health/group/{group}")).await);
        }
        let ok = lines
            .iter()
            .all(|l| l.status == Outcome::Pass || (!a.strict && l.status == Outcome::Warn));
        match a.wait {
            Some(w) if !ok && started.elapsed() + Duration::from_secs(1) < w => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => break lines,
        }
    };
    let passed = lines
        .iter()
        .all(|l| l.status == Outcome::Pass || (!a.strict && l.status == Outcome::Warn));
    if !a.out.json {
        use std::fmt::Write as _;
        let mut text = String::new();
        let _ = writeln!(text, "{} {}", paint.bold("pulsecheck probe"), a.base_url);
        for l in &lines {
            let mark = match l.status {
                Outcome::Pass => paint.green("✓ pass"),
                Outcome::Warn => paint.yellow("! warn"),
                Outcome::Fail => paint.red("✗ FAIL"),
            };
            let timing = l
                .latency_ms
                .map(|t| format!("{:>8} ms", ms(t)))
                .unwrap_or_else(|| format!("{:>11}", ""));
            let _ = writeln!(text, "  {mark}  {:<7} {timing}  {}", l.name, l.detail);
        }
        let verdict = if passed {
            paint.green("deployment OK")
        } else {
            paint.red("deployment check FAILED")
        };
        let tries = if attempts > 1 {
            format!(" after {attempts} attempts")
        } else {
            String::new()
        };
        let _ = writeln!(text, "  {verdict}{tries}");
        stdout(&text)?;
    }
    if a.out.json || a.out.output.is_some() {
        let out = ProbeOut {
            base_url: &a.base_url,
            passed,
            attempts,
            checks: &lines,
        };
        let text =
            serde_json::to_string_pretty(&out).map_err(|e| CliError::Usage(e.to_string()))?;
        a.out.emit(&text)?;
    }
    Ok(ExitCode::from(if passed { EXIT_OK } else { EXIT_FAILED }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn firing_alerts_fail_when_severe_and_warn_otherwise() {
        let b = json!({"alerts":[{"name":"HighLatency","severity":"warning","status":"firing"},{"name":"Old","severity":"critical","status":"resolved"}]});
        assert_eq!(alerts(Some(&b)).0, Outcome::Warn);
        let b = json!({"alerts":[{"name":"ErrorBurn","severity":"critical","status":"firing"}]});
        let (o, d) = alerts(Some(&b));
        assert_eq!(o, Outcome::Fail);
        assert!(d.contains("ErrorBurn (critical)"));
        assert_eq!(alerts(Some(&json!({"alerts":[]}))).0, Outcome::Pass);
        assert_eq!(alerts(Some(&json!({}))).0, Outcome::Fail);
    }

    #[test]
    fn budget_and_health_details_name_the_culprits() {
        let b = json!({"status":"warning","budgets":[{"name":"latency_p95_ms","limit":1000.0,"value":900.0,"utilization":0.9,"status":"warning"},{"name":"error_rate","limit":0.05,"utilization":0.1,"status":"ok"}]});
        assert_eq!(over_budget(Some(&b)), "latency_p95_ms 90 % of 1000");
        let h = json!({"status":"degraded","checks":{"redis":{"status":"unhealthy","error":"timeout"},"db":{"status":"healthy"}}});
        assert_eq!(failing_checks(Some(&h)), "redis (timeout)");
    }
}
