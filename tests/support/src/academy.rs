//! The academy example as a real process, configured only through its environment.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Academy {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub lines: Arc<Mutex<Vec<String>>>,
}

fn binary() -> PathBuf {
    // tests run from target/<profile>/deps; examples are built next door by `cargo test`.
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("examples").join("academy");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "pulsecheck", "--example", "academy"])
            .status()
            .expect("run cargo build -p pulsecheck --example academy");
        assert!(
            status.success(),
            "cargo build -p pulsecheck --example academy failed"
        );
    }
    assert!(
        bin.exists(),
        "academy example not found at {}",
        bin.display()
    );
    bin
}

/// Variables that must not leak from the developer's or CI's environment into the child.
const SCRUB: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
    "RUST_LOG",
    "DATABASE_URL",
    "PULSE_LOG_FORMAT",
    "PULSE_TRACE_FILTER",
    "PULSE_CONFIG",
    "PULSE_BUDGET_P95_MS",
    "PULSE_BUDGET_P99_MS",
    "PULSE_BUDGET_ERROR_RATE",
    "PULSE_BUDGET_MEMORY_MIB",
    "PULSE_BUDGET_MIN_REQUESTS",
    "PULSE_BUDGET_WINDOW",
    "PULSE_DRAIN_DELAY",
    "REDIS_URL",
    "SMTP_URL",
    "STRIPE_API_BASE",
    "STRIPE_API_KEY",
    "PAYPAL_API_BASE",
    "PAYPAL_CLIENT_ID",
    "PAYPAL_CLIENT_SECRET",
    "GRPC_PORT",
    "PULSE_ADMIN_TOKEN",
    "PULSE_ALERT_INTERVAL",
    "PULSE_ALERT_FOR",
    "PULSE_ALERT_KEEP_FIRING_FOR",
    "PULSE_WEBHOOK_URL",
    "PULSE_WEBHOOK_TOKEN",
    "PULSE_SLACK_WEBHOOK_URL",
    "PULSE_PAGERDUTY_ROUTING_KEY",
    "PULSE_PAGERDUTY_URL",
    "PULSE_ALERTMANAGER_URL",
    "PULSE_ALERT_EMAIL_TO",
    "PULSE_ALERT_EMAIL_FROM",
    "PULSE_DEFAULT_SLO",
    "PULSE_SHUTDOWN_DEADLINE",
    "PULSE_TRUSTED_PROXIES",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "PULSE_TRACE_URL",
];

/// The example's command on loopback with JSON logs, no drain delay, a scrubbed environment,
/// then `envs`; for tests that wire its output themselves.
pub fn command(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    for v in SCRUB {
        cmd.env_remove(v);
    }
    cmd.env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("PULSE_LOG_FORMAT", "json")
        // Off by default; the export tests check the access records too.
        .env("PULSE_ACCESS_LOG_OTLP", "true")
        .env("RUST_BACKTRACE", "0")
        // Tests that need the drain delay set it; the others should not wait 5 s to exit.
        .env("PULSE_DRAIN_DELAY", "0")
        .envs(envs.iter().copied());
    cmd
}

impl Academy {
    /// Runs the example expecting it to fail at start-up; returns its exit status and output.
    pub fn run_to_exit(envs: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
        let out = command(envs).output().expect("run academy");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    }

    pub fn spawn(envs: &[(&str, &str)]) -> Self {
        let mut cmd = command(envs);
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn academy");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "academy listening")
                    .then(|| v["addr"].as_str().map(str::to_owned))?
            });
            if let Some(a) = found {
                break a.parse().expect("listening address");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "academy exited with {status} before listening; output:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "academy did not start listening within 30 s"
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        Self {
            child: Some(child),
            addr,
            lines,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET `path` and parse the body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// JSON log lines printed so far.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit (after a signal); returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("academy did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for exit; returns how long the exit took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = start + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("academy did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Academy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
