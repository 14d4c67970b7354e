//! The `pulsecheck` command line: `load`, `probe`, `get`, `watch`, `rules`, for services
//! instrumented with the [`pulsecheck`] library, and the [`load`] engine behind `pulsecheck load`.
//!
//! The binary is thin: `main` parses [`Args`] and calls [`run`], which returns the exit code:
//! 0 success, 1 a budget or check failed, 2 an error (message on stderr), 130 interrupted.
//!
//! # Example
//!
//! ```
//! use clap::Parser;
//! use pulsecheck_cli::{Args, Command};
//! let args = Args::parse_from(["pulsecheck", "load", "http://127.0.0.1:8080/", "-c", "20", "-n", "1000"]);
//! let Command::Load(load) = args.command else { unreachable!() };
//! assert_eq!(load.connections, Some(20));
//! ```

#![warn(missing_docs, unreachable_pub)]

mod commands;
pub mod load;
mod paint;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use commands::get::{Endpoint, GetArgs};
pub use commands::load::{LoadArgs, Preset};
pub use commands::probe::{CheckLine, Outcome, ProbeArgs};
pub use commands::rules::{RulesArgs, SourceFlag, StyleFlag};
pub use commands::watch::WatchArgs;
pub use paint::ColorChoice;
use paint::Paint;

/// `pulsecheck`: load testing, deployment probes and Prometheus rules for pulsecheck services.
#[derive(Debug, Parser)]
#[command(
    name = "pulsecheck",
    version,
    about = "Load tests, deployment probes, live views and Prometheus rules for pulsecheck services",
    propagate_version = true
)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Colors: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load-test a URL: latency spectrum, throughput, errors; budgets for CI.
    Load(LoadArgs),
    /// Validate a deployment: /health, /health/ready, /health/budget, /health/alerts.
    Probe(ProbeArgs),
    /// Print one endpoint of a running service, pretty.
    Get(GetArgs),
    /// Live terminal view of a running service (quit with q).
    Watch(WatchArgs),
    /// Prometheus recording and alerting rules from pulsecheck.toml's budgets and SLOs.
    Rules(RulesArgs),
}

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a budget or check failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: an error (bad input, unreachable target, ...).
pub const EXIT_ERROR: u8 = 2;
/// Exit code: interrupted with Ctrl-C (results so far were reported).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The load engine refused the settings or could not connect.
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    /// pulsecheck.toml is invalid.
    #[error(transparent)]
    Config(#[from] pulsecheck::config::ConfigError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An argument is invalid.
    #[error("{0}")]
    Usage(String),
    /// A request to the service failed.
    #[error("{url}: {error}")]
    Request {
        /// The URL.
        url: String,
        /// The failure.
        error: crate::load::RequestError,
    },
    /// The terminal could not be set up.
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
    /// Standard output could not be written (see [`CliError::is_broken_pipe`]).
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

impl CliError {
    /// Whether the reader of stdout went away (`pulsecheck get .. | head`): not a failure, the
    /// binary exits 0 without a message, as ripgrep does.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// `--json` and `--output`, the same on every command that has a machine-readable result.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct JsonArgs {
    /// Print the result as JSON on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Also write the result as JSON to FILE.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl JsonArgs {
    /// Writes `text` (JSON) where the flags say: stdout with `--json`, FILE with `--output`.
    pub(crate) fn emit(&self, text: &str) -> Result<(), CliError> {
        if self.json {
            stdout(&format!("{text}\n"))?;
        }
        if let Some(path) = &self.output {
            std::fs::write(path, format!("{text}\n")).map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Writes `text` to stdout. A closed pipe is [`CliError::Stdout`] with
/// [`is_broken_pipe`](CliError::is_broken_pipe), never a panic (`print!` panics).
pub(crate) fn stdout(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Runs a command; returns the process exit code (errors are for the caller to print, exit 2).
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let paint = Paint::stdout(args.color);
    match args.command {
        Command::Load(a) => commands::load::run(a, paint).await,
        Command::Probe(a) => commands::probe::run(a, paint).await,
        Command::Get(a) => commands::get::run(a, paint).await,
        Command::Watch(a) => commands::watch::run(a, args.color).await,
        Command::Rules(a) => commands::rules::run(a),
    }
}

/// The longest duration a flag takes (a year): the longest load run, and far beyond any wait
/// or interval.
pub(crate) const MAX_FLAG_DURATION: Duration = crate::load::MAX_RUN_DURATION;

/// `60s`, `1m30s`, `500ms`, or a bare number of seconds; at most 365 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let shown: String = s.chars().take(64).collect();
    let d = if let Ok(secs) = s.parse::<f64>() {
        pulsecheck::__private::from_secs_f64(secs, MAX_FLAG_DURATION)
            .map_err(|e| format!("`{shown}` is not a duration: {e}"))?
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("`{shown}` is not a duration (60s, 1m, 500ms): {e}"))?
    };
    if d > MAX_FLAG_DURATION {
        return Err(format!(
            "`{shown}` is not a duration: {}",
            pulsecheck::__private::DurationError::TooLarge {
                max: MAX_FLAG_DURATION
            }
        ));
    }
    Ok(d)
}

/// The admin token header, when there is a token.
pub(crate) fn auth_headers(token: Option<&str>) -> Result<http::HeaderMap, CliError> {
    let mut h = http::HeaderMap::new();
    if let Some(t) = token.map(str::trim).filter(|t| !t.is_empty()) {
        let v = http::HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
            CliError::Usage("the admin token contains characters not allowed in a header".into())
        })?;
        h.insert(http::header::AUTHORIZATION, v);
    }
    h.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(h)
}

/// Writes `text` to `path`.
pub(crate) fn write_file(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, format!("{text}\n")).map_err(|source| CliError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        for huge in [
            "1e20",
            "1e19",
            "1e300",
            "inf",
            "NaN",
            "366d",
            "500000000000y",
        ] {
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains("is not a duration"), "{huge}: {e}");
        }
        assert_eq!(parse_duration("365d"), Ok(MAX_FLAG_DURATION));
    }

    #[test]
    fn args_parse_like_the_design() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        let a = Args::parse_from([
            "pulsecheck",
            "load",
            "http://x/",
            "-d",
            "10s",
            "--rate",
            "100",
            "--budget",
            "p95=1000ms,errors=5%",
            "--json",
            "-o",
            "out.json",
        ]);
        let Command::Load(l) = a.command else {
            panic!()
        };
        assert_eq!(l.duration, Some(Duration::from_secs(10)));
        assert_eq!(l.rate, Some(100.0));
        assert!(l.out.json);
        assert_eq!(
            l.out.output.as_deref(),
            Some(std::path::Path::new("out.json"))
        );
        // `--json` takes no value: the URL after it stays the URL.
        let a = Args::parse_from(["pulsecheck", "probe", "--json", "http://x/"]);
        let Command::Probe(p) = a.command else {
            panic!()
        };
        assert!(p.out.json && p.out.output.is_none());
        assert_eq!(p.base_url, "http://x/");
        assert!(
            Args::try_parse_from(["pulsecheck", "load", "http://x/", "-d", "1s", "-n", "5"])
                .is_err()
        );
    }
}
