//! `GET /metrics` against real peers: Debian's `promtool check metrics` must accept the
//! exposition (hostile route templates included), and a real Prometheus server scraping our
//! endpoint every second must store our series with the values of the requests we sent, and
//! compute `rate()` and `histogram_quantile()` over our all-time counters that match requests
//! of known durations. The OpenMetrics exposition (what Prometheus' scraper asks for) goes
//! through Prometheus' own OpenMetrics parser (`promtool tsdb create-blocks-from openmetrics`)
//! with its exemplars, and content negotiation picks the format a client prefers.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use opentelemetry::trace::TraceId;
use pulsecheck::Pulse;
use pulsecheck::config::PulseConfig;
use pulsecheck::health::{Check, CheckError, Observation};
use pulsecheck::layer::{HttpMethod, RequestRecord};
use serde_json::Value;
use support::pulse::serve;

/// Route templates a label value must survive: quotes, backslashes, braces and a newline.
const QUOTED: &str = "/q/\"quoted\"/back\\slash/{id}";
const NEWLINE: &str = "/nl/line\nbreak/{x}";
/// What `/slow` sleeps: inside the `(0.25, 0.5]` bucket, so its p95 must come out there.
const SLOW: Duration = Duration::from_millis(300);
/// The sampled trace the newline route's requests are recorded with.
const NEWLINE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The `Accept` header Prometheus' scraper sends (2.x).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct Pool;
impl Check for Pool {
    fn name(&self) -> Cow<'static, str> {
        "db".into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Ok(Observation::pass()
            .detail("pool_size", 10)
            .detail("open", 3)
            .detail("idle", 2)
            .detail("in_use", 1))
    }
}

struct Down;
impl Check for Down {
    fn name(&self) -> Cow<'static, str> {
        "cache \"main\"".into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Err(CheckError::new("connection refused"))
    }
}

fn pulse() -> Pulse {
    support::pulse::builder()
        .service_version("9.9.9")
        .config(PulseConfig::default())
        .system_interval(Duration::from_millis(500))
        .check(Pool)
        .check(Down)
        .build()
        .expect("pulse")
}

fn app(pulse: &Pulse) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            "/courses/{id}",
            get(|| async { "course" }).post(|| async { StatusCode::CREATED }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "slow"
            }),
        )
        .merge(pulse.routes())
        .layer(pulse.layer())
}

/// Sends the known traffic: 7 × 200 on `/ok`, 3 × 503 on `/fail`, 2 GET and 1 POST (201) on
/// `/courses/{id}`, 1 × 404 on a path no route matches, and records 2 requests on the quoted
/// route and 4 on the newline route (with a sampled trace) into the aggregator.
async fn traffic(pulse: &Pulse, addr: SocketAddr) {
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
    for _ in 0..7 {
        assert_eq!(get("/ok").await.expect("ok").status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(get("/fail").await.expect("fail").status(), 503);
    }
    for _ in 0..2 {
        assert_eq!(get("/courses/7").await.expect("course").status(), 200);
    }
    let created = client
        .post(format!("http://{addr}/courses/7"))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), 201);
    assert_eq!(get("/no/such/page").await.expect("404").status(), 404);
    // No request line can carry these templates' bytes (clients percent-encode quotes and
    // turn `\` into `/`), so they are recorded as the layer would record them.
    for (template, n, trace) in [(QUOTED, 2, None), (NEWLINE, 4, Some(NEWLINE_TRACE))] {
        let id = pulse.layer().route_table().resolve(template);
        for _ in 0..n {
            pulse.aggregator().record(&RequestRecord {
                method: HttpMethod::Get,
                route: Some(id),
                status: 200,
                duration: Duration::from_millis(12),
                trace_id: trace.map(|t| TraceId::from_hex(t).expect("trace id")),
            });
        }
    }
    // Health results exist before the first scrape.
    let _ = pulse.health().report().await;
}

async fn scrape(addr: SocketAddr) -> (String, String) {
    scrape_as(addr, None).await
}

/// `GET /metrics` with an `Accept` header (none for `None`): its content type and body.
async fn scrape_as(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut req = reqwest::Client::new().get(format!("http://{addr}/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (ct, resp.text().await.expect("body"))
}

/// Scrapes until the aggregator's ticker has folded the traffic (once a second).
async fn scrape_after_tick(addr: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = scrape(addr).await;
        // Scrapes count too (the layer wraps the endpoints), so wait on the routes we drove.
        if body.contains("pulsecheck_route_window_requests{window=\"1m\",route=\"/ok\"} 7")
            && body.contains("{x}\"} 4")
        {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "traffic never showed up:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn promtool(exposition: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool not runnable ({e}): install Debian's `prometheus` package (scripts/test.sh does)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_exposition_with_hostile_route_templates() {
    let pulse = pulse();
    let addr = serve(app(&pulse)).await;
    traffic(&pulse, addr).await;
    let body = scrape_after_tick(addr).await;
    let (ct, _) = scrape(addr).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");

    let (ok, report) = promtool(&body);
    assert!(
        ok,
        "promtool rejected the exposition:\n{report}\n---\n{body}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool lint findings:\n{report}"
    );

    // The escapes themselves, as the format defines them.
    assert!(
        body.contains(r#"route="/q/\"quoted\"/back\\slash/{id}""#),
        "quoted route not escaped:\n{body}"
    );
    assert!(body.contains(r#"route="/nl/line\nbreak/{x}""#), "{body}");
    assert!(body.contains(r#"check="cache \"main\"""#), "{body}");
    // The values of the known traffic.
    for line in [
        "pulsecheck_route_window_requests{window=\"1m\",route=\"/ok\"} 7",
        "pulsecheck_route_window_errors{window=\"1m\",route=\"/fail\"} 3",
        "pulsecheck_route_window_error_ratio{window=\"1m\",route=\"/fail\"} 1",
        "pulsecheck_window_responses{window=\"1m\",code=\"503\"} 3",
        "pulsecheck_route_window_responses{window=\"1m\",route=\"/ok\",class=\"2xx\"} 7",
        "pulsecheck_health_check_status{check=\"db\",critical=\"false\",status=\"up\"} 1",
        "pulsecheck_health_check_status{check=\"cache \\\"main\\\"\",critical=\"false\",status=\"down\"} 1",
        "pulsecheck_health_status{status=\"degraded\"} 1",
        "pulsecheck_pool_size{check=\"db\"} 10",
        "pulsecheck_pool_connections{check=\"db\",state=\"in_use\"} 1",
        "pulsecheck_build_info{version=\"9.9.9\"",
        "# TYPE pulsecheck_process_cpu_seconds_total counter",
        // All-time counters, by route template, method and status code.
        "# TYPE pulsecheck_http_server_request_duration_seconds histogram",
        "# TYPE pulsecheck_http_server_requests_total counter",
        "pulsecheck_http_server_requests_total{http_route=\"/ok\",http_request_method=\"GET\",http_response_status_code=\"200\"} 7",
        "pulsecheck_http_server_requests_total{http_route=\"/fail\",http_request_method=\"GET\",http_response_status_code=\"503\"} 3",
        "pulsecheck_http_server_requests_total{http_route=\"/courses/{id}\",http_request_method=\"POST\",http_response_status_code=\"201\"} 1",
        "pulsecheck_http_server_requests_total{http_route=\"(unmatched)\",http_request_method=\"GET\",http_response_status_code=\"404\"} 1",
        "pulsecheck_http_server_request_duration_seconds_bucket{http_route=\"/ok\",http_request_method=\"GET\",le=\"+Inf\"} 7",
        "pulsecheck_http_server_request_duration_seconds_count{http_route=\"/ok\",http_request_method=\"GET\"} 7",
        "pulsecheck_http_server_request_duration_seconds_count{http_route=\"/courses/{id}\",http_request_method=\"GET\"} 2",
        // 12 ms: past le 0.01, inside le 0.025.
        "pulsecheck_http_server_request_duration_seconds_bucket{http_route=\"/nl/line\\nbreak/{x}\",http_request_method=\"GET\",le=\"0.01\"} 0",
        "pulsecheck_http_server_request_duration_seconds_bucket{http_route=\"/nl/line\\nbreak/{x}\",http_request_method=\"GET\",le=\"0.025\"} 4",
        "pulsecheck_http_server_request_duration_seconds_sum{http_route=\"/nl/line\\nbreak/{x}\",http_request_method=\"GET\"} 0.048",
        "pulsecheck_http_server_request_duration_seconds_count{http_route=\"/q/\\\"quoted\\\"/back\\\\slash/{id}\",http_request_method=\"GET\"} 2",
    ] {
        assert!(body.contains(line), "missing `{line}` in:\n{body}");
    }
    // Each series once, each family's HELP/TYPE once.
    let mut seen = BTreeSet::new();
    for l in body.lines() {
        let key = if l.starts_with('#') {
            l.to_owned()
        } else {
            l.rsplit_once(' ').expect("sample line").0.to_owned()
        };
        assert!(seen.insert(key), "repeated line: {l}");
    }
    // Budget lines exist for the default budgets.
    assert!(
        body.contains("pulsecheck_budget_limit{budget=\"latency_p95_ms\"} 1000"),
        "{body}"
    );
}

/// Prometheus' OpenMetrics parser on `exposition`, through `promtool tsdb
/// create-blocks-from openmetrics` (`promtool check metrics` reads only the 0.0.4 text format:
/// it stops at the first exemplar). Backfilling needs a timestamp on every sample, which a
/// live exposition leaves to the scraper, so each sample gets the same one, before its
/// exemplar; nothing else is changed.
fn promtool_openmetrics(exposition: &str) -> (bool, String) {
    let stamp = " 1700000000";
    let mut stamped = String::with_capacity(exposition.len() * 2);
    for line in exposition.lines() {
        if line.starts_with('#') {
            stamped.push_str(line);
        } else if let Some((sample, exemplar)) = line.rsplit_once(" # {trace_id=") {
            stamped.push_str(&format!("{sample}{stamp} # {{trace_id={exemplar}"));
        } else {
            stamped.push_str(&format!("{line}{stamp}"));
        }
        stamped.push('\n');
    }
    let dir = std::env::temp_dir().join(format!(
        "pulsecheck-om-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("exposition.om");
    std::fs::write(&file, stamped).expect("write exposition");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.join("blocks"))
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool not runnable ({e}): install Debian's `prometheus` package (scripts/test.sh does)")
        });
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Sample names of an exposition (what Prometheus stores), without labels or values.
fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_reads_the_openmetrics_exposition_with_its_exemplars() {
    let pulse = pulse();
    let addr = serve(app(&pulse)).await;
    traffic(&pulse, addr).await;
    let text = scrape_after_tick(addr).await;
    let (ct, om) = scrape_as(addr, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("\n# EOF\n"), "no # EOF terminator:\n{om}");

    let (ok, report) = promtool_openmetrics(&om);
    assert!(
        ok,
        "Prometheus' OpenMetrics parser rejected it:\n{report}\n---\n{om}"
    );

    // The newline route's bucket carries its sampled request: trace id, 12 ms, a time.
    let h = "pulsecheck_http_server_request_duration_seconds";
    let bucket = format!(
        "{h}_bucket{{http_route=\"/nl/line\\nbreak/{{x}}\",http_request_method=\"GET\",le=\"0.025\"}} 4 # {{trace_id=\"{NEWLINE_TRACE}\"}} 0.012 "
    );
    let line = om
        .lines()
        .find(|l| l.starts_with(&bucket))
        .unwrap_or_else(|| panic!("no exemplar `{bucket}` in:\n{om}"));
    let at: f64 = line[bucket.len()..].parse().expect("exemplar timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (now - 60.0..=now).contains(&at),
        "exemplar time {at}, now {now}"
    );
    // Only buckets with a sampled request have one: the untraced HTTP traffic has none.
    assert_eq!(om.matches(" # {trace_id=").count(), 1, "{om}");
    // OpenMetrics names: counters' families without `_total`, units, info.
    for want in [
        "# TYPE pulsecheck_http_server_requests counter\n",
        "# TYPE pulsecheck_process_cpu_seconds counter\n# UNIT pulsecheck_process_cpu_seconds seconds\n",
        "# UNIT pulsecheck_http_server_request_duration_seconds seconds\n",
        "# TYPE pulsecheck_build info\n",
    ] {
        assert!(om.contains(want), "missing {want:?} in:\n{om}");
    }
    // The same series in both formats, and no exemplar in the text format.
    assert_eq!(sample_names(&om), sample_names(&text));
    assert!(!text.contains(" # {"), "{text}");
}

#[test]
fn promtool_openmetrics_rejects_a_broken_exemplar_and_a_missing_eof() {
    // Guards the test above: the OpenMetrics parser really reads exemplars and the end.
    let good = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.5 1700000000.1\nh_sum 0.5\nh_count 1\n# EOF\n";
    assert!(
        promtool_openmetrics(good).0,
        "promtool rejected a valid exposition"
    );
    let (ok, _) = promtool_openmetrics(&good.replace("} 0.5 1700000000.1", "}"));
    assert!(!ok, "promtool accepted an exemplar without a value");
    let (ok, _) = promtool_openmetrics(&good.replace("# EOF\n", ""));
    assert!(!ok, "promtool accepted an exposition without # EOF");
}

#[tokio::test]
async fn the_accept_header_picks_the_format() {
    let pulse = pulse();
    let addr = serve(app(&pulse)).await;
    let text = "text/plain; version=0.0.4; charset=utf-8";
    let om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    for (accept, want) in [
        (None, text),
        (Some("*/*"), text),
        (Some(PROMETHEUS_ACCEPT), om),
        (Some("application/openmetrics-text; version=1.0.0"), om),
        (Some("application/openmetrics-text"), om),
        // text/plain preferred by q, or listed first on a tie.
        (
            Some("application/openmetrics-text;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.8"),
            text,
        ),
        (
            Some("text/plain;version=0.0.4,application/openmetrics-text"),
            text,
        ),
        // A version we do not serve, and q=0, are not a match.
        (Some("application/openmetrics-text;version=2.0.0"), text),
        (Some("application/openmetrics-text;q=0,*/*;q=0.1"), text),
    ] {
        let (ct, body) = scrape_as(addr, accept).await;
        assert_eq!(ct, want, "Accept: {accept:?}");
        assert_eq!(
            body.ends_with("# EOF\n"),
            want == om,
            "Accept: {accept:?}:\n{body}"
        );
    }
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(
        resp.headers().get("vary").and_then(|v| v.to_str().ok()),
        Some("accept"),
        "caches must key on Accept"
    );
}

#[test]
fn promtool_rejects_what_a_broken_escape_would_produce() {
    // Guards the test above: promtool really parses label values (an unescaped quote fails).
    let (ok, _) = promtool("# HELP x y\n# TYPE x gauge\nx{route=\"/a\"b\"} 1\n");
    assert!(!ok, "promtool accepted an unescaped quote");
}

struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn start_prometheus(target: SocketAddr) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("pulsecheck-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).expect("temp dir");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: pulsecheck\n    metrics_path: /metrics\n    \
         static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("prometheus not runnable ({e}): install Debian's `prometheus` package (scripts/test.sh does)")
        });
    Prometheus { child, dir, port }
}

impl Prometheus {
    async fn query(&self, promql: &str) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            percent_encode(promql)
        );
        let Ok(resp) = reqwest::get(url).await else {
            return Vec::new();
        };
        let v: Value = resp.json().await.unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `promql` until its only series has `want`, or panics with what was seen.
    async fn expect_value(&self, promql: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.query(promql).await;
            if let [one] = last.as_slice() {
                let got = one["value"][1].as_str().and_then(|s| s.parse::<f64>().ok());
                if got == Some(want) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        panic!(
            "{promql}: want {want}, last result {last:?}\nprometheus log tail:\n{}",
            log.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        );
    }

    /// Polls `promql` until its only series is within `lo..=hi`, and returns it.
    async fn expect_between(&self, promql: &str, lo: f64, hi: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.query(promql).await;
            if let [one] = last.as_slice() {
                let got = one["value"][1].as_str().and_then(|s| s.parse::<f64>().ok());
                if let Some(v) = got.filter(|v| (lo..=hi).contains(v)) {
                    return v;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{promql}: want {lo}..={hi}, last result {last:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_our_series_with_the_values_we_sent() {
    let pulse = pulse();
    let addr = serve(app(&pulse)).await;
    traffic(&pulse, addr).await;
    scrape_after_tick(addr).await;
    let prom = start_prometheus(addr);

    prom.expect_value("up{job=\"pulsecheck\"}", 1.0).await;
    prom.expect_value(
        "pulsecheck_route_window_requests{window=\"1m\",route=\"/ok\"}",
        7.0,
    )
    .await;
    prom.expect_value(
        "pulsecheck_window_responses{window=\"1m\",code=\"503\"}",
        3.0,
    )
    .await;
    prom.expect_value(
        "pulsecheck_route_window_error_ratio{window=\"1m\",route=\"/fail\"}",
        1.0,
    )
    .await;
    prom.expect_value(
        "pulsecheck_health_check_status{check=\"db\",status=\"up\"}",
        1.0,
    )
    .await;
    prom.expect_value("pulsecheck_pool_size{check=\"db\"}", 10.0)
        .await;
    prom.expect_value("pulsecheck_process_threads >= bool 1", 1.0)
        .await;
    prom.expect_value("pulsecheck_process_resident_memory_bytes > bool 0", 1.0)
        .await;
    // The whole scrape was accepted: Prometheus stored every sample and reported no error.
    prom.expect_value("scrape_samples_scraped{job=\"pulsecheck\"} > bool 50", 1.0)
        .await;

    // Hostile route templates come back from Prometheus byte for byte.
    let routes: BTreeSet<String> = prom
        .query("pulsecheck_route_window_requests{window=\"1m\"}")
        .await
        .iter()
        .filter_map(|s| s["metric"]["route"].as_str().map(str::to_owned))
        .collect();
    assert!(routes.contains(QUOTED), "{routes:?}");
    assert!(routes.contains(NEWLINE), "{routes:?}");
    prom.expect_value(
        &format!(
            "pulsecheck_route_window_requests{{window=\"1m\",route={}}}",
            serde_json::to_string(QUOTED).expect("json")
        ),
        2.0,
    )
    .await;
    prom.expect_value(
        &format!(
            "pulsecheck_route_window_requests{{window=\"1m\",route={}}}",
            serde_json::to_string(NEWLINE).expect("json")
        ),
        4.0,
    )
    .await;

    // A later request moves the stored value: Prometheus follows the endpoint.
    reqwest::get(format!("http://{addr}/ok")).await.expect("ok");
    prom.expect_value(
        "pulsecheck_route_window_requests{window=\"1m\",route=\"/ok\"}",
        8.0,
    )
    .await;

    // All-time counters: `rate()` and `histogram_quantile()` over requests sent while
    // Prometheus scrapes every second. One `/slow` first, so that both routes' series exist
    // before the burst and their rates are extrapolated alike.
    let count_slow = "pulsecheck_http_server_request_duration_seconds_count{http_route=\"/slow\",http_request_method=\"GET\"}";
    let failed = "pulsecheck_http_server_requests_total{http_route=\"/fail\",http_request_method=\"GET\",http_response_status_code=\"503\"}";
    let get = |path: &'static str| reqwest::get(format!("http://{addr}{path}"));
    assert_eq!(get("/slow").await.expect("slow").status(), 200);
    prom.expect_value(count_slow, 1.0).await;
    prom.expect_value(failed, 3.0).await;
    let sent = Instant::now();
    for i in 0..8 {
        assert_eq!(get("/slow").await.expect("slow").status(), 200);
        if i % 2 == 0 {
            assert_eq!(get("/fail").await.expect("fail").status(), 503);
        }
    }
    assert!(sent.elapsed() >= SLOW * 8);
    prom.expect_value(count_slow, 9.0).await;
    prom.expect_value(failed, 7.0).await;

    // Every `/slow` request took 300 ms and a little: all 8 new ones in the (0.25, 0.5]
    // bucket, so the p95 is interpolated inside it (0.25 + 0.95 × 0.25 = 0.4875).
    let p95 = prom
        .expect_between(
            "histogram_quantile(0.95, sum by (le) (rate(pulsecheck_http_server_request_duration_seconds_bucket{http_route=\"/slow\"}[1m])))",
            0.25,
            0.5,
        )
        .await;
    // The mean from `_sum` / `_count` is the requests' real duration, not a bucket bound.
    let mean = prom
        .expect_between(
            "rate(pulsecheck_http_server_request_duration_seconds_sum{http_route=\"/slow\"}[1m]) / rate(pulsecheck_http_server_request_duration_seconds_count{http_route=\"/slow\"}[1m])",
            0.3,
            0.45,
        )
        .await;
    // 8 requests went out: the extrapolated increase is about that (9 + 8 / seconds sampled,
    // as the series started at 1).
    let increase = prom
        .expect_between(
            "sum(increase(pulsecheck_http_server_requests_total{http_route=\"/slow\"}[1m]))",
            7.0,
            10.0,
        )
        .await;
    // Error ratio of the burst: 4 × 503 among 12 requests, about a third (each series'
    // extrapolation to the range's edges moves it by a few percent).
    let ratio = prom
        .expect_between(
            "sum(rate(pulsecheck_http_server_requests_total{http_route=~\"/slow|/fail\",http_response_status_code=~\"5..\"}[1m])) / sum(rate(pulsecheck_http_server_requests_total{http_route=~\"/slow|/fail\"}[1m]))",
            0.25,
            0.4,
        )
        .await;
    eprintln!("/slow p95 {p95} s, mean {mean} s, increase {increase}; error ratio {ratio}");
}

#[tokio::test]
async fn a_render_is_reused_for_a_second_then_refreshed() {
    // The system sample changes every 100 ms; the exposition only once the render is 1 s old.
    let pulse = Pulse::builder()
        .without_telemetry()
        .config(PulseConfig::default())
        .system_interval(Duration::from_millis(100))
        .build()
        .expect("pulse");
    let addr = serve(app(&pulse)).await;
    let stamp = |body: &str| {
        body.lines()
            .find(|l| l.starts_with("pulsecheck_system_sample_timestamp_seconds "))
            .map(str::to_owned)
            .expect("timestamp line")
    };
    let (_, first) = scrape(addr).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, cached) = scrape(addr).await;
    assert_eq!(stamp(&first), stamp(&cached), "re-rendered within the TTL");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, fresh) = scrape(addr).await;
    assert_ne!(
        stamp(&first),
        stamp(&fresh),
        "still the old render after 1.2 s"
    );
}
