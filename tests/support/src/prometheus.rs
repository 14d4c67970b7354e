//! A real Prometheus server (Debian's `prometheus` package) scraping one target every second,
//! with its own data directory and port, killed and removed when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::procs::free_port;

pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Prometheus {
    /// Starts Prometheus scraping `http://{target}/metrics` as job `job`.
    pub fn start(job: &str, target: SocketAddr) -> Self {
        Self::start_full(job, target, None, &[])
    }

    /// As [`Prometheus::start`], with `rules` (a rule file's YAML) loaded and evaluated every
    /// second.
    pub fn start_with_rules(job: &str, target: SocketAddr, rules: Option<&str>) -> Self {
        Self::start_full(job, target, rules, &[])
    }

    /// [`Prometheus::start`] with more command-line flags (`--enable-feature=...`).
    pub fn start_with(job: &str, target: SocketAddr, flags: &[&str]) -> Self {
        Self::start_full(job, target, None, flags)
    }

    /// Prometheus scraping `target`, with optional rules and extra flags.
    pub fn start_full(job: &str, target: SocketAddr, rules: Option<&str>, flags: &[&str]) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("pulsecheck-prom-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("temp dir");
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {job}\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: ['{target}']\n"
        );
        if let Some(rules) = rules {
            std::fs::write(dir.join("rules.yml"), rules).expect("rules");
            config.push_str(&format!(
                "rule_files:\n  - {}\n",
                dir.join("rules.yml").display()
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), config).expect("config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus not runnable ({e}): install Debian's `prometheus` package (scripts/test.sh does)")
            });
        Self { child, dir, port }
    }

    /// The instant vector for `promql` (empty when Prometheus is not answering yet).
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let Ok(resp) = reqwest::Client::new()
            .get(url)
            .query(&[("query", promql)])
            .send()
            .await
        else {
            return Vec::new();
        };
        let v: Value = resp.json().await.unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// `/api/v1/query_exemplars` for `promql` over the last `minutes`: one entry per series
    /// (`seriesLabels`, `exemplars`), empty when Prometheus is not answering yet.
    pub async fn exemplars(&self, promql: &str, minutes: u64) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/query_exemplars", self.port);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let Ok(resp) = reqwest::Client::new()
            .get(url)
            .query(&[
                ("query", promql.to_owned()),
                ("start", (now - minutes * 60).to_string()),
                ("end", (now + 60).to_string()),
            ])
            .send()
            .await
        else {
            return Vec::new();
        };
        let v: Value = resp.json().await.unwrap_or_default();
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// The tail of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        log.lines().rev().take(15).collect::<Vec<_>>().join("\n")
    }

    /// Polls `promql` until `accept` takes its result, or panics with the last result and
    /// the server's log.
    pub async fn wait_for(
        &self,
        promql: &str,
        within: Duration,
        accept: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.query(promql).await;
            if accept(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        panic!(
            "{promql}: last result {last:?}\nprometheus log tail:\n{}",
            log.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
