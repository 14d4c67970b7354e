//! `pulsecheck get health|metrics|budget|alerts|system BASE_URL`: one endpoint, pretty.

use std::process::ExitCode;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::load::{Connector, Fetched, LoadError, Target, fetch};
use crate::paint::Paint;
use crate::{CliError, EXIT_FAILED, EXIT_OK, auth_headers, parse_duration};

/// The endpoints `get` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    /// `/health`: overall status and checks.
    Health,
    /// `/health/live`.
    Live,
    /// `/health/ready`.
    Ready,
    /// `/health/detailed` (health+json).
    Detailed,
    /// `/health/metrics?window=`.
    Metrics,
    /// `/health/budget`.
    Budget,
    /// `/health/alerts`.
    Alerts,
    /// `/health/system`.
    System,
    /// `/health/status`.
    Status,
}

impl Endpoint {
    /// Its path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
            Endpoint::Live => "/health/live",
            Endpoint::Ready => "/health/ready",
            Endpoint::Detailed => "/health/detailed",
            Endpoint::Metrics => "/health/metrics",
            Endpoint::Budget => "/health/budget",
            Endpoint::Alerts => "/health/alerts",
            Endpoint::System => "/health/system",
            Endpoint::Status => "/health/status",
        }
    }
}

/// `pulsecheck get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Which endpoint.
    #[arg(value_enum)]
    pub endpoint: Endpoint,
    /// The service's base URL, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Window for `metrics`: 1m, 5m or 1h.
    #[arg(long, default_value = "5m")]
    pub window: String,
    /// Print the body as received.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// Print the body as plain JSON (pretty, no colors), for other programs.
    #[arg(long)]
    pub json: bool,
    /// Request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Admin token for the protected endpoints.
    #[arg(long, env = "PULSE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `base` joined with `path` (a base path such as `/api-gw` is kept).
pub(crate) fn endpoint_target(base: &str, path: &str) -> Result<Target, LoadError> {
    let t = Target::parse(base)?;
    let prefix = t
        .path_and_query()
        .split('?')
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();
    t.with_path(&format!("{prefix}{path}"))
}

/// GET one endpoint of the service.
pub(crate) async fn get_endpoint(
    base: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(Target, Fetched), CliError> {
    let target = endpoint_target(base, path)?;
    let conn = Connector::new(target.clone(), false, false)?;
    let headers = auth_headers(token)?;
    let f = fetch(&conn, Method::GET, &headers, timeout)
        .await
        .map_err(|error| CliError::Request {
            url: target.url().to_owned(),
            error,
        })?;
    Ok((target, f))
}

/// Why a status is not a normal answer, for people.
pub(crate) fn status_problem(status: StatusCode) -> Option<String> {
    match status.as_u16() {
        200..=299 => None,
        401 | 403 => Some(format!("{status}: pass --token or set PULSE_ADMIN_TOKEN")),
        404 => Some("404 Not Found: this service does not serve that endpoint".into()),
        _ => Some(status.to_string()),
    }
}

pub(crate) async fn run(a: GetArgs, paint: Paint) -> Result<ExitCode, CliError> {
    let path = match a.endpoint {
        Endpoint::Metrics => {
            if !matches!(a.window.as_str(), "1m" | "5m" | "1h") {
                return Err(CliError::Usage(format!(
                    "--window `{}` is not one of 1m, 5m, 1h",
                    a.window
                )));
            }
            format!("/health/metrics?window={}", a.window)
        }
        e => e.path().to_owned(),
    };
    let (target, f) = get_endpoint(&a.base_url, &path, a.token.as_deref(), a.timeout).await?;
    let text = String::from_utf8_lossy(&f.body);
    let pretty = if a.raw {
        text.into_owned()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&f.body) {
            Ok(v) if a.json => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Ok(v) => colorize(&serde_json::to_string_pretty(&v).unwrap_or_default(), paint),
            Err(_) => text.into_owned(),
        }
    };
    // 503 from /health or /health/ready carries a body worth showing.
    if f.status == StatusCode::NOT_FOUND {
        eprintln!(
            "{}: {}",
            target.url(),
            paint.red("404 Not Found: this service does not serve that endpoint")
        );
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    if !pretty.trim().is_empty() {
        crate::stdout(&format!("{pretty}\n"))?;
    }
    match status_problem(f.status) {
        None => Ok(ExitCode::from(EXIT_OK)),
        Some(p) => {
            eprintln!("{}: {}", target.url(), paint.red(p));
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

/// Colors JSON keys (cyan) and the usual status words.
fn colorize(json: &str, p: Paint) -> String {
    let mut out = String::with_capacity(json.len());
    for line in json.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(rest) = trimmed.strip_prefix('"')
            && let Some(end) = rest.find("\": ")
        {
            let key = &rest[..end];
            let value = &rest[end + 3..];
            let v = value.trim_end_matches(',');
            let colored = match v {
                "\"healthy\"" | "\"ok\"" | "\"pass\"" | "\"up\"" | "\"closed\""
                | "\"resolved\"" => p.green(value),
                "\"degraded\"" | "\"warning\"" | "\"warn\"" | "\"half_open\"" => p.yellow(value),
                "\"unhealthy\"" | "\"critical\"" | "\"fail\"" | "\"down\"" | "\"open\""
                | "\"firing\"" => p.red(value),
                _ => value.to_owned(),
            };
            out.push_str(&format!(
                "{indent}{}: {colored}\n",
                p.cyan(format!("\"{key}\""))
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_kept() {
        assert_eq!(
            endpoint_target("http://h:1/gw/", "/health").unwrap().url(),
            "http://h:1/gw/health"
        );
        assert_eq!(
            endpoint_target("http://h:1", "/health/ready")
                .unwrap()
                .url(),
            "http://h:1/health/ready"
        );
    }
}
