//! `GET /health/dashboard`: the JSON composes every endpoint and carries a per-slot history of
//! real requests sent through the layer; browsers get the HTML page with a CSP allowing only
//! this origin; and the page, loaded in a real headless Chromium driven over the DevTools
//! protocol, draws its charts from live data, lists the failing dependency, logs no error
//! and requests nothing but its own origin, with and without an admin token.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::BodyExt as _;
use pulsecheck::Pulse;
use pulsecheck::config::AlertSettings;
use pulsecheck::config::PulseConfig;
use pulsecheck::health::{Check, CheckError, HealthConfig, Observation, Refresh};
use serde_json::{Value, json};
use support::pulse::serve;
use tower::ServiceExt as _;

const CHROME_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
                             image/avif,image/webp,*/*;q=0.8";

struct Db;
impl Check for Db {
    fn name(&self) -> Cow<'static, str> {
        "db".into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Ok(Observation::pass()
            .detail("pool_size", 10)
            .detail("in_use", 2))
    }
}

/// A dependency that is down; its name carries markup the page must show as text.
struct Payments;
const PAYMENTS: &str = "payments <b>\"eu\"</b>";
impl Check for Payments {
    fn name(&self) -> Cow<'static, str> {
        PAYMENTS.into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Err(CheckError::new("connection refused <script>"))
    }
}

fn pulse() -> Pulse {
    support::pulse::builder()
        .service_version("1.2.3")
        // Alerts evaluated quickly and fired at once, so the page shows the down dependency's.
        .config(PulseConfig {
            alerts: AlertSettings {
                interval: Duration::from_millis(200),
                pending_for: Duration::ZERO,
                ..AlertSettings::default()
            },
            ..PulseConfig::default()
        })
        .system_interval(Duration::from_millis(500))
        .check(Db)
        .check(Payments)
        .build()
        .expect("pulse")
}

async fn slow(axum::extract::Path(ms): axum::extract::Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms.min(500))).await;
    "slow"
}

fn app(pulse: &Pulse) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/slow/{ms}", get(slow))
        .merge(pulse.routes())
        .layer(pulse.layer())
}

async fn call(
    app: &Router,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body.to_vec())
}

async fn dashboard_json(app: &Router, query: &str) -> Value {
    let (status, headers, body) = call(app, &format!("/health/dashboard{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers["content-type"]
            .to_str()
            .expect("content-type")
            .starts_with("application/json")
    );
    assert_eq!(headers["cache-control"], "no-store");
    serde_json::from_slice(&body).expect("JSON")
}

fn points(d: &Value) -> &Vec<Value> {
    d.pointer("/series/points")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("series.points in {d}"))
}

fn sum(points: &[Value], key: &str) -> u64 {
    points.iter().filter_map(|p| p[key].as_u64()).sum()
}

/// Polls the dashboard until the ticker (once a second) has folded `n` requests into the series.
async fn json_after_tick(app: &Router, query: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = dashboard_json(app, query).await;
        if sum(points(&d), "requests") >= n {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "series never reached {n} requests: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn json_composes_every_endpoint_and_the_series_holds_the_requests_sent() {
    let pulse = pulse();
    let app = app(&pulse);
    for _ in 0..20 {
        assert_eq!(call(&app, "/ok", None).await.0, StatusCode::OK);
    }
    for _ in 0..5 {
        assert_eq!(
            call(&app, "/fail", None).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    for ms in [30, 60] {
        assert_eq!(
            call(&app, &format!("/slow/{ms}"), None).await.0,
            StatusCode::OK
        );
    }
    let d = json_after_tick(&app, "", 27).await;

    assert_eq!(d["version"], "1.2.3");
    assert!(
        d["generated_at"]
            .as_str()
            .expect("generated_at")
            .ends_with('Z')
    );
    assert!(d["uptime_s"].is_u64());
    assert_eq!(d["window"], "5m");
    // As /health answers.
    assert_eq!(d.pointer("/health/status"), Some(&json!("degraded")));
    assert_eq!(d["health"]["checks"]["db"]["status"], "up");
    assert_eq!(d["health"]["checks"][PAYMENTS]["status"], "down");
    assert_eq!(d["health"]["checks"][PAYMENTS]["circuit"], "closed");
    // As /health/budget answers.
    let budgets = d
        .pointer("/budget/budgets")
        .and_then(Value::as_array)
        .expect("budgets");
    assert!(
        budgets.iter().any(|b| b["name"] == "latency_p95_ms"),
        "{budgets:?}"
    );
    assert!(d.pointer("/budget/slos").is_some_and(Value::is_array));
    // As /health/metrics answers, for the same window.
    let m = &d["metrics"];
    assert_eq!(m["window"], "5m");
    assert!(m["requests"].as_u64().expect("requests") >= 27);
    assert!(m["errors"].as_u64().expect("errors") >= 5);
    assert_eq!(m["routes"]["/fail"]["requests"], 5);
    assert_eq!(m["routes_omitted"], 0);
    // 10 s slots; the requests and errors sent are all in them, with their latency.
    let pts = points(&d);
    assert_eq!(d["series"]["step_s"], 10);
    assert!(!pts.is_empty() && pts.len() <= 31, "{} points", pts.len());
    assert!(sum(pts, "requests") >= 27);
    assert!(sum(pts, "errors") >= 5);
    let busy = pts
        .iter()
        .find(|p| p["requests"].as_u64() > Some(0))
        .expect("a busy slot");
    let (p50, p99) = (
        busy["p50"].as_f64().expect("p50"),
        busy["p99"].as_f64().expect("p99"),
    );
    assert!(p50 > 0.0 && p99 >= p50 && p99 >= 29.0, "{busy}");
    assert!(busy["rps"].as_f64().expect("rps") > 0.0);
    assert!(busy["error_rate"].as_f64().expect("error_rate") > 0.0);
    let ts: Vec<u64> = pts.iter().map(|p| p["t"].as_u64().expect("t")).collect();
    assert!(ts.windows(2).all(|w| w[1] == w[0] + 10), "{ts:?}");
    // As /health/alerts and /health/system answer.
    assert!(d.pointer("/alerts/alerts").is_some_and(Value::is_array));
    assert!(d.pointer("/system/process").is_some_and(Value::is_object));
    assert_eq!(d.pointer("/system/pools/db/pool_size"), Some(&json!(10)));

    // Another window: 1 s slots.
    let d = dashboard_json(&app, "?window=1m").await;
    assert_eq!(d["series"]["step_s"], 1);
    assert!(sum(points(&d), "requests") >= 27);
    assert!(points(&d).len() <= 60);

    let (status, _, body) = call(&app, "/health/dashboard?window=2d", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("1m, 5m, 1h"));
    let (status, _, _) = call(&app, "/health/dashboard?format=xml", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn routes_in_the_json_are_bounded_to_the_busiest() {
    let pulse = pulse();
    let mut router = Router::new();
    for i in 0..26 {
        router = router.route(&format!("/r{i}"), get(|| async { "r" }));
    }
    let app = router.merge(pulse.routes()).layer(pulse.layer());
    for i in 0..26 {
        // /r0 is the busiest, so it must be kept.
        for _ in 0..if i == 0 { 3 } else { 1 } {
            call(&app, &format!("/r{i}"), None).await;
        }
    }
    let d = json_after_tick(&app, "", 28).await;
    let routes = d["metrics"]["routes"].as_object().expect("routes");
    assert_eq!(routes.len(), 20);
    assert!(routes.contains_key("/r0"));
    assert!(d["metrics"]["routes_omitted"].as_u64().expect("omitted") >= 6);
}

#[tokio::test]
async fn browsers_get_the_page_with_a_csp_allowing_only_this_origin() {
    let pulse = pulse();
    let app = app(&pulse);
    let (status, h, body) = call(&app, "/health/dashboard", Some(CHROME_ACCEPT)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().expect("csp");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce in the CSP");
    for directive in [
        "default-src 'none'",
        "connect-src 'self'",
        &format!("script-src 'nonce-{nonce}'"),
        &format!("style-src 'nonce-{nonce}'"),
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(html.contains(&format!("<style nonce=\"{nonce}\">")));
    assert!(!html.contains("{{NONCE}}"));
    // A fresh nonce each time.
    let (_, h2, _) = call(&app, "/health/dashboard", Some(CHROME_ACCEPT)).await;
    assert_ne!(h2["content-security-policy"], h["content-security-policy"]);

    // JSON for everything else, and when asked for by name.
    for (uri, accept) in [
        ("/health/dashboard", None),
        ("/health/dashboard", Some("*/*")),
        ("/health/dashboard", Some("application/json")),
        ("/health/dashboard?format=json", Some(CHROME_ACCEPT)),
    ] {
        let (status, h, _) = call(&app, uri, accept).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            h["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("application/json"),
            "{uri} {accept:?}"
        );
        assert_eq!(h["vary"], "accept");
    }
    let (_, h, _) = call(&app, "/health/dashboard?format=html", None).await;
    assert!(
        h["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
}

// ---------------------------------------------------------------------------------------
// Headless Chromium.

const TOKEN: &str = "s3cret-admin-token";

/// Stands in for the admin auth layer: the page's data (`format=json`) needs the bearer
/// token; the page itself does not.
async fn require_token(
    req: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let wants_data = req.uri().query().is_some_and(|q| q.contains("format=json"));
    let authorised = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
    if wants_data && !authorised {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    next.run(req).await
}

/// Traffic until dropped: fast, slow and failing requests, so every chart has something.
fn traffic(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        for i in 0u64.. {
            let path = match i % 10 {
                0 => "/fail".to_owned(),
                1 | 2 => format!("/slow/{}", 10 + (i * 7) % 90),
                _ => "/ok".to_owned(),
            };
            let _ = client.get(format!("http://{addr}{path}")).send().await;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    })
}

/// A headless Chromium with its own profile, killed and cleaned up on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn chromium() -> PathBuf {
    for p in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "Chromium is required for this test (Debian: apt-get install chromium; \
         scripts/test.sh installs it)"
    );
}

/// Starts Chromium and returns it with its DevTools browser WebSocket URL.
async fn launch() -> (Browser, String) {
    let profile = std::env::temp_dir().join(format!(
        "pulsecheck-dashboard-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_nanos()
    ));
    std::fs::create_dir_all(&profile).expect("profile dir");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg("about:blank")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Chromium refuses to start its sandbox as root.
        cmd.arg("--no-sandbox");
    }
    let child = cmd.spawn().expect("start chromium");
    let browser = Browser { child, profile };
    // Chromium writes the port it picked and the browser target's path to this file.
    let port_file = browser.profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return (browser, format!("ws://127.0.0.1:{port}{path}"));
            }
        }
        assert!(
            Instant::now() < deadline,
            "Chromium did not open its DevTools port"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A DevTools protocol connection: commands in order, events collected as they arrive.
struct Cdp {
    ws: Ws,
    next_id: u64,
    events: Vec<Value>,
}

impl Cdp {
    async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("DevTools WebSocket");
        Self {
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    }

    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(
                msg.to_string(),
            ))
            .await
            .expect("send to DevTools");
        loop {
            let frame = self
                .ws
                .next()
                .await
                .expect("DevTools closed")
                .expect("DevTools read");
            let Ok(text) = frame.to_text() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            if v.get("method").is_some() {
                self.events.push(v);
            }
        }
    }

    /// Opens a tab on `url`, with console, log and network events on.
    async fn open(&mut self, url: &str) -> String {
        let target = self
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let session = self
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        for domain in [
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
            "Page.enable",
        ] {
            self.send(Some(&session), domain, json!({})).await;
        }
        self.send(Some(&session), "Page.navigate", json!({ "url": url }))
            .await;
        session
    }

    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let r = self
            .send(
                Some(session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is truthy.
    async fn wait_for(&mut self, session: &str, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.eval(session, expression).await;
            if !(v.is_null() || v == json!(false)) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn events_of<'a>(&'a self, session: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events
            .iter()
            .filter(move |e| e["sessionId"] == json!(session))
    }
}

/// What the page shows, read from its DOM.
const READ_PAGE: &str = r#"(() => {
  const paths = (id) => Array.from(document.querySelectorAll('#' + id + ' path'))
    .map(p => ({ series: p.getAttribute('data-series'), d: p.getAttribute('d') }));
  const chart = (id) => ({ drawn: +document.getElementById(id).getAttribute('data-drawn'),
    points: +document.getElementById(id).getAttribute('data-points'), paths: paths(id) });
  return {
    rendered: +(document.body.getAttribute('data-rendered') || 0),
    status: document.getElementById('status').textContent,
    latency: chart('chart-latency'), throughput: chart('chart-throughput'),
    errors: chart('chart-errors'),
    deps: Array.from(document.querySelectorAll('#deps tr[data-check]')).map(r => ({
      name: r.getAttribute('data-check'), status: r.getAttribute('data-status'),
      cells: Array.from(r.children).map(c => c.textContent) })),
    injected: document.querySelectorAll('#deps b, #deps script').length,
    budgets: document.querySelectorAll('#budgets meter').length,
    p95: document.getElementById('v-p95').textContent,
    banner: document.getElementById('banner').hidden ? null : document.getElementById('banner').textContent,
    hash: location.hash,
    alerts: Array.from(document.querySelectorAll('#alerts li[data-alert]')).map(li => ({
      name: li.getAttribute('data-alert'), text: li.textContent })),
    alerts_injected: document.querySelectorAll('#alerts b, #alerts script').length,
  };
})()"#;

/// The (x, y) pairs of an SVG path `d` made of `M x y` / `L x y`.
fn coords(d: &str) -> Vec<(f64, f64)> {
    let nums: Vec<f64> = d
        .split(|c: char| c == 'M' || c == 'L' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("number in path"))
        .collect();
    nums.chunks(2).map(|c| (c[0], c[1])).collect()
}

/// Each of `series` drawn as a line across several slots inside the 600 × 150 plot, and the
/// chart scaled to its data (its highest line reaches the upper part of the plot).
fn assert_chart_drawn(page: &Value, chart: &str, series: &[&str]) {
    let c = &page[chart];
    let paths = c["paths"].as_array().expect("paths");
    assert!(c["drawn"].as_u64() >= Some(3), "{chart}: {c}");
    let mut top = f64::MAX;
    for name in series {
        let p = paths
            .iter()
            .find(|p| p["series"] == *name)
            .unwrap_or_else(|| panic!("{chart}: no {name} line: {c}"));
        let pts = coords(p["d"].as_str().expect("d"));
        for &(x, y) in &pts {
            assert!(
                (46.0..=600.0).contains(&x) && (0.0..=150.0).contains(&y),
                "{chart}: {p}"
            );
            top = top.min(y);
        }
        let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
        xs.dedup();
        assert!(
            xs.len() >= 2,
            "{chart}: {name} is not a line over time: {p}"
        );
    }
    assert!(
        top < 60.0,
        "{chart}: nothing reaches the upper part of the plot: {c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_headless_chromium_draws_live_data_and_stays_on_its_origin() {
    let run = async {
        let pulse = pulse();
        let app = app(&pulse).layer(axum::middleware::from_fn(require_token));
        let addr = serve(app).await;
        let origin = format!("http://{addr}");
        let load = traffic(addr);
        // Two 1 s ticks of traffic before the first load, so the history has data at once.
        tokio::time::sleep(Duration::from_millis(2200)).await;

        let (_browser, ws) = launch().await;
        let mut cdp = Cdp::connect(&ws).await;

        // Without the token: the page loads, says how to authorise, and draws nothing.
        let anon = cdp.open(&format!("{origin}/health/dashboard")).await;
        let banner = cdp
            .wait_for(&anon, "document.getElementById('banner') && !document.getElementById('banner').hidden && document.getElementById('banner').textContent", "the unauthorised banner")
            .await;
        assert!(
            banner.as_str().expect("banner").contains("#token="),
            "{banner}"
        );

        // With the token in the fragment: it is taken out of the address bar and sent.
        let tab = cdp
            .open(&format!("{origin}/health/dashboard#token={TOKEN}"))
            .await;
        cdp.wait_for(
            &tab,
            "+(document.body && document.body.getAttribute('data-rendered') || 0) >= 1",
            "the first render",
        )
        .await;
        // The 1 m window (1 s slots) has several points after a few seconds of traffic; the
        // page fetches it at once, then keeps refreshing.
        cdp.eval(
            &tab,
            "document.querySelector('nav button[data-window=\"1m\"]').click()",
        )
        .await;
        cdp.wait_for(&tab, "+document.body.getAttribute('data-rendered') >= 3 && +document.getElementById('chart-latency').getAttribute('data-points') >= 3", "renders of the 1 m window")
            .await;
        cdp.wait_for(
            &tab,
            "!!document.querySelector('#alerts li[data-alert=\"PulsecheckDependencyDown\"]')",
            "the dependency alert",
        )
        .await;
        let page = cdp.eval(&tab, READ_PAGE).await;
        load.abort();
        // For a look by hand: PULSE_DASHBOARD_SCREENSHOT=/tmp/dashboard.png cargo nextest run
        // --all-features --test endpoints -E 'test(/^dashboard::/)'
        if let Some(path) = std::env::var_os("PULSE_DASHBOARD_SCREENSHOT") {
            let shot = cdp
                .send(
                    Some(&tab),
                    "Page.captureScreenshot",
                    json!({ "format": "png" }),
                )
                .await;
            let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
            std::fs::write(&path, png).expect("write the screenshot");
            let dark = json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] });
            cdp.send(Some(&tab), "Emulation.setEmulatedMedia", dark)
                .await;
            let shot = cdp
                .send(
                    Some(&tab),
                    "Page.captureScreenshot",
                    json!({ "format": "png" }),
                )
                .await;
            let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
            let mut dark_path = path;
            dark_path.push(".dark.png");
            std::fs::write(dark_path, png).expect("write the screenshot");
        }

        assert_eq!(page["banner"], Value::Null, "{page}");
        assert_eq!(page["hash"], "", "the token stays in the address bar");
        // The overall status: the error-rate budget is critical (10 % failures) while /health
        // says degraded (a non-critical dependency is down).
        assert_eq!(page["status"], "critical");
        assert_chart_drawn(&page, "latency", &["p50", "p95", "p99"]);
        assert_chart_drawn(&page, "throughput", &["rps"]);
        assert_chart_drawn(&page, "errors", &["error_rate"]);
        assert!(
            page["p95"].as_str().expect("p95").ends_with(" ms"),
            "{page}"
        );
        assert!(page["budgets"].as_u64() >= Some(3), "{page}");
        // The down dependency is listed, its name and error shown as text, not markup.
        let deps = page["deps"].as_array().expect("deps");
        let payments = deps
            .iter()
            .find(|d| d["name"] == PAYMENTS)
            .unwrap_or_else(|| panic!("{page}"));
        assert_eq!(payments["status"], "down");
        assert_eq!(payments["cells"][0], PAYMENTS);
        assert!(
            payments["cells"][5]
                .as_str()
                .expect("error")
                .contains("<script>")
        );
        assert_eq!(page["injected"], 0);
        // Its alert fired (for = 0) and is listed with the check's name and error as text.
        let alert = page["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .find(|a| a["name"] == "PulsecheckDependencyDown")
            .unwrap_or_else(|| panic!("no dependency alert on the page: {page}"));
        let text = alert["text"].as_str().expect("alert text");
        assert!(text.contains(PAYMENTS) && text.contains("firing"), "{text}");
        assert!(!text.contains("threshold null"), "{text}");
        assert_eq!(page["alerts_injected"], 0);
        assert!(
            deps.iter()
                .any(|d| d["name"] == "db" && d["status"] == "up")
        );

        for session in [&anon, &tab] {
            let mut urls = Vec::new();
            for e in cdp.events_of(session) {
                let p = &e["params"];
                match e["method"].as_str().unwrap_or_default() {
                    "Network.requestWillBeSent" => {
                        urls.push(p["request"]["url"].as_str().unwrap_or_default().to_owned())
                    }
                    "Runtime.exceptionThrown" => panic!("exception in the page: {p}"),
                    "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                        panic!("console error: {p}")
                    }
                    // CSP violations and failed loads land here. The anonymous tab's 401 is
                    // expected and is the only error allowed.
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        let status_401 = session == &anon
                            && p["entry"]["text"]
                                .as_str()
                                .is_some_and(|t| t.contains("401"));
                        assert!(status_401, "logged error: {p}");
                    }
                    _ => {}
                }
            }
            assert!(urls.len() >= 2, "the page and its fetch: {urls:?}");
            for u in &urls {
                // `data:` (the empty favicon) never leaves the browser.
                let local = u.starts_with(&format!("{origin}/")) || u.starts_with("data:");
                assert!(local, "request off the origin: {u}");
            }
            assert!(urls.iter().any(|u| u.contains("format=json")), "{urls:?}");
        }
    };
    tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the Chromium test took over 90 s");
}

/// Standard base64 (the screenshot's encoding); no crate for one optional debugging aid.
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(value).collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &v)| n | u32::from(v) << (18 - 6 * i));
            let b = n.to_be_bytes();
            b[1..c.len()].to_vec()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// One story during an incident: the pages a person reads while the error budget burns.

const JAEGER: &str = "http://127.0.0.1:16686/trace/{trace_id}";

/// Requests get real trace ids: an SDK tracer provider (no exporter) installed globally, as a
/// service with OpenTelemetry has. Each test runs in its own process under nextest.
fn install_tracer() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        opentelemetry::global::set_tracer_provider(
            opentelemetry_sdk::trace::SdkTracerProvider::builder().build(),
        );
    });
}

/// The test service with a trace link template (or none).
fn incident_pulse(trace_url: Option<&str>) -> Pulse {
    install_tracer();
    let mut b = Pulse::builder()
        .without_telemetry()
        .service_version("1.2.3")
        .config(PulseConfig {
            alerts: AlertSettings {
                interval: Duration::from_millis(200),
                pending_for: Duration::ZERO,
                ..AlertSettings::default()
            },
            ..PulseConfig::default()
        })
        .system_interval(Duration::from_millis(500))
        .health_config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        })
        .check(Db)
        .check(Payments);
    if let Some(t) = trace_url {
        b = b.trace_url(t);
    }
    b.build().expect("pulse")
}

/// Traffic until dropped: only failures for `all_failing`, then fast, slow and failing
/// requests mixed (10 % failures: the error-rate budget is critical), with probes and scrapes
/// as a kubelet and Prometheus would send.
fn incident_traffic(addr: SocketAddr, all_failing: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let start = Instant::now();
        for i in 0u64.. {
            let path = if start.elapsed() < all_failing {
                "/fail".to_owned()
            } else {
                match i % 20 {
                    0 | 10 => "/fail".to_owned(),
                    1 | 2 | 11 => format!("/slow/{}", 10 + (i * 7) % 90),
                    3 => "/health/live".to_owned(),
                    13 => "/metrics".to_owned(),
                    _ => "/ok".to_owned(),
                }
            };
            let _ = client.get(format!("http://{addr}{path}")).send().await;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    })
}

struct Scene {
    _browser: Browser,
    cdp: Cdp,
    origin: String,
    load: tokio::task::JoinHandle<()>,
}

/// The service behind the token stand-in, under incident traffic, and a browser.
async fn scene(pulse: &Pulse, all_failing: Duration) -> Scene {
    let app = app(pulse).layer(axum::middleware::from_fn(require_token));
    let addr = serve(app).await;
    let load = incident_traffic(addr, all_failing);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (browser, ws) = launch().await;
    let cdp = Cdp::connect(&ws).await;
    Scene {
        _browser: browser,
        cdp,
        origin: format!("http://{addr}"),
        load,
    }
}

impl Scene {
    /// Opens the page with the token on the 1 m window and waits until it shows `ready`.
    async fn page(&mut self, ready: &str, what: &str) -> String {
        let tab = self
            .cdp
            .open(&format!("{}/health/dashboard#token={TOKEN}", self.origin))
            .await;
        self.cdp
            .wait_for(
                &tab,
                "+(document.body && document.body.getAttribute('data-rendered') || 0) >= 1",
                "the first render",
            )
            .await;
        self.cdp
            .eval(
                &tab,
                "document.querySelector('nav button[data-window=\"1m\"]').click()",
            )
            .await;
        self.cdp
            .wait_for(
                &tab,
                "+document.body.getAttribute('data-rendered') >= 3",
                "renders of the 1 m window",
            )
            .await;
        self.cdp.wait_for(&tab, ready, what).await;
        tab
    }

    async fn json(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.origin))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }
}

async fn within_90s(f: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("the Chromium test took over 90 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_shows_the_overall_status_not_health_alone() {
    within_90s(async {
        let pulse = incident_pulse(None);
        let mut s = scene(&pulse, Duration::ZERO).await;
        // Firing critical alerts: the error-rate budget is over (10 % failures).
        let tab = s
            .page(
                "!!document.querySelector('#alerts li[data-alert=\"PulsecheckErrorRateCritical\"]')",
                "the critical error-rate alert",
            )
            .await;
        // The story the endpoints tell: /health degraded (a non-critical dependency is down),
        // /health/status critical (budget and alerts).
        let health = s.json("/health").await;
        assert_eq!(health["status"], "degraded", "{health}");
        let status = s.json("/health/status").await;
        assert_eq!(status["status"], "critical", "{status}");
        assert!(status["alerts"]["firing"].as_u64() >= Some(1), "{status}");
        // The header says what /health/status says, within a refresh.
        let shown = s
            .cdp
            .wait_for(
                &tab,
                "document.getElementById('status').textContent === 'critical' && document.querySelector('header').textContent",
                "the header to say critical",
            )
            .await;
        let header = shown.as_str().expect("header text");
        assert!(header.contains("health degraded"), "{header}");
        assert!(header.contains("budgets critical"), "{header}");
        // Without a template, trace ids are shown but not linked.
        s.cdp
            .wait_for(
                &tab,
                "document.querySelectorAll('#failures li[data-trace-id]').length > 0",
                "failed requests by trace",
            )
            .await;
        let links = s
            .cdp
            .eval(&tab, "document.querySelectorAll('main a[href]').length")
            .await;
        assert_eq!(links, json!(0));
        s.load.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_requests_link_to_their_traces_with_route_status_duration_and_age() {
    within_90s(async {
        let pulse = incident_pulse(Some(JAEGER));
        let mut s = scene(&pulse, Duration::ZERO).await;
        let tab = s
            .page(
                "document.querySelectorAll('#failures li[data-trace-id]').length > 0 && document.querySelectorAll('#slowest li[data-trace-id]').length > 0",
                "example requests",
            )
            .await;
        let items = s
            .cdp
            .eval(
                &tab,
                r#"Array.from(document.querySelectorAll('#slowest li, #failures li')).map(li => ({
                  list: li.parentElement.id,
                  id: li.getAttribute('data-trace-id'),
                  href: li.querySelector('a') && li.querySelector('a').getAttribute('href'),
                  target: li.querySelector('a') && li.querySelector('a').getAttribute('rel'),
                  text: li.textContent }))"#,
            )
            .await;
        let items = items.as_array().expect("items");
        let m = s.json("/health/metrics?window=1m").await;
        let known: Vec<&str> = m["slowest"]
            .as_array()
            .into_iter()
            .chain(m["failures"].as_array())
            .flatten()
            .filter_map(|e| e["trace_id"].as_str())
            .collect();
        assert!(!known.is_empty(), "{m}");
        for list in ["slowest", "failures"] {
            let of_list: Vec<&Value> = items.iter().filter(|i| i["list"] == list).collect();
            assert!(!of_list.is_empty(), "{list}: {items:?}");
            for i in of_list {
                let id = i["id"].as_str().expect("trace id");
                assert!(
                    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{i}"
                );
                assert_eq!(
                    i["href"],
                    json!(JAEGER.replace("{trace_id}", id)),
                    "link through PULSE_TRACE_URL: {i}"
                );
                assert!(
                    i["target"].as_str().is_some_and(|r| r.contains("noopener")),
                    "{i}"
                );
                let text = i["text"].as_str().expect("text");
                // Route, status, duration and age beside the id.
                assert!(text.contains(" ms") && text.contains(" ago"), "{text}");
                if list == "failures" {
                    assert!(text.contains("/fail") && text.contains("503"), "{text}");
                } else {
                    assert!(text.contains("/slow/{ms}") || text.contains("/fail") || text.contains("/ok"), "{text}");
                    assert!(text.contains("200") || text.contains("503"), "{text}");
                }
            }
        }
        // The ids are the service's own (the JSON of /health/metrics names them too).
        let shown: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
        assert!(shown.iter().any(|id| known.contains(id)), "{shown:?} vs {known:?}");
        // An alert's exemplar trace ids are linked the same way.
        let alert_links = s
            .cdp
            .wait_for(
                &tab,
                "Array.from(document.querySelectorAll('#alerts a[data-trace]')).map(a => [a.getAttribute('data-trace'), a.getAttribute('href')])",
                "linked alert trace ids",
            )
            .await;
        for pair in alert_links.as_array().expect("pairs") {
            let id = pair[0].as_str().expect("id");
            assert_eq!(pair[1], json!(JAEGER.replace("{trace_id}", id)));
        }
        s.load.abort();
    })
    .await;
}

#[test]
fn a_trace_link_template_without_its_placeholder_is_a_build_error() {
    let err = Pulse::builder()
        .without_telemetry()
        .trace_url("http://127.0.0.1:16686/trace/")
        .build()
        .expect_err("a template without {trace_id}");
    let text = err.to_string();
    assert!(
        text.contains("PulseBuilder::trace_url") && text.contains("{trace_id}"),
        "{text}"
    );
    let err = Pulse::builder()
        .without_telemetry()
        .trace_url("https://admin:hunter2@grafana.example/explore/{trace_id}")
        .build()
        .expect_err("credentials in the template");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_the_page_says_the_data_needs_it_not_all_clear() {
    within_90s(async {
        let pulse = incident_pulse(None);
        let mut s = scene(&pulse, Duration::ZERO).await;
        let anon = s
            .cdp
            .open(&format!("{}/health/dashboard", s.origin))
            .await;
        s.cdp
            .wait_for(
                &anon,
                "document.getElementById('banner') && !document.getElementById('banner').hidden",
                "the unauthorised banner",
            )
            .await;
        let page = s
            .cdp
            .eval(
                &anon,
                "({ alerts: document.getElementById('alerts').textContent, deps: document.getElementById('deps').textContent, status: document.getElementById('status').textContent, text: document.body.innerText })",
            )
            .await;
        let text = page["text"].as_str().expect("text");
        for all_clear in ["No alert firing", "No checks registered", "loading", "Loading"] {
            assert!(!text.contains(all_clear), "{all_clear:?} shown without the token: {text}");
        }
        for part in ["alerts", "deps"] {
            assert!(
                page[part].as_str().is_some_and(|t| t.contains("needs the admin token")),
                "{part}: {page}"
            );
        }
        assert_eq!(page["status"], "unknown", "{page}");
        s.load.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_routes_are_grouped_apart_from_the_services_routes() {
    within_90s(async {
        let pulse = incident_pulse(None);
        let mut s = scene(&pulse, Duration::ZERO).await;
        let tab = s
            .page(
                "document.querySelectorAll('#routes-monitoring tr, #routes tr').length >= 6",
                "the routes",
            )
            .await;
        let m = s.json("/health/metrics").await;
        assert_eq!(m["routes"]["/metrics"]["monitoring"], true, "{m}");
        assert_eq!(m["routes"]["/health/dashboard"]["monitoring"], true, "{m}");
        let routes = s
            .cdp
            .eval(
                &tab,
                r#"({ main: Array.from(document.querySelectorAll('#routes tr > th')).map(t => t.textContent),
                  group: Array.from(document.querySelectorAll('details#monitoring-routes tr > th[scope="row"]')).map(t => t.textContent),
                  open: !!(document.querySelector('details#monitoring-routes') || {}).open,
                  summary: (document.querySelector('details#monitoring-routes summary') || {}).textContent })"#,
            )
            .await;
        let main: Vec<&str> = routes["main"]
            .as_array()
            .expect("main")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for r in ["/ok", "/fail", "/slow/{ms}"] {
            assert!(main.contains(&r), "{r} among the service's routes: {routes}");
        }
        for r in &main {
            assert!(
                !r.starts_with("/health") && *r != "/metrics",
                "{r} among the service's routes: {routes}"
            );
        }
        let group: Vec<&str> = routes["group"]
            .as_array()
            .expect("group")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for r in ["/health/dashboard", "/health/live", "/metrics"] {
            assert!(group.contains(&r), "{r} in the monitoring group: {routes}");
        }
        assert_eq!(routes["open"], false, "the group starts collapsed: {routes}");
        assert!(
            routes["summary"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("({})", group.len()))),
            "{routes}"
        );
        s.load.abort();
    })
    .await;
}

/// Numbers, times, axes and the layout, as a person sees them.
const READ_LAYOUT: &str = r#"(() => {
  const ticks = (id) => Array.from(document.querySelectorAll('#' + id + ' text.axis'))
    .filter(t => t.getAttribute('x') === '78').map(t => t.textContent);
  const main = document.querySelector('main').getBoundingClientRect();
  const rows = {};
  for (const s of document.querySelectorAll('main > section')) {
    const r = s.getBoundingClientRect();
    const top = Math.round(r.top);
    (rows[top] = rows[top] || []).push({ id: s.getAttribute('aria-labelledby'), left: r.left, right: r.right });
  }
  return {
    text: document.body.innerText,
    latency: ticks('chart-latency'), throughput: ticks('chart-throughput'), errors: ticks('chart-errors'),
    main: { left: main.left, right: main.right },
    rows: Object.values(rows),
  };
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_times_axes_and_cards_read_as_a_person_expects() {
    within_90s(async {
        let pulse = incident_pulse(Some(JAEGER));
        // All requests fail for the first 1.5 s: slots at a 100 % error rate.
        let mut s = scene(&pulse, Duration::from_millis(1500)).await;
        let tab = s
            .page(
                "!!document.querySelector('#alerts li[data-alert=\"PulsecheckErrorRateCritical\"]') && +document.getElementById('chart-errors').getAttribute('data-points') >= 3",
                "the error-rate alert and chart",
            )
            .await;
        let page = s.cdp.eval(&tab, READ_LAYOUT).await;
        if let Some(path) = std::env::var_os("PULSE_DASHBOARD_FULL_SCREENSHOT") {
            let height = s
                .cdp
                .eval(&tab, "document.documentElement.scrollHeight")
                .await;
            let metrics = json!({ "width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": false });
            s.cdp
                .send(Some(&tab), "Emulation.setDeviceMetricsOverride", metrics)
                .await;
            let shot = s
                .cdp
                .send(Some(&tab), "Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true }))
                .await;
            let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
            std::fs::write(&path, png).expect("write the screenshot");
        }
        s.load.abort();
        let text = page["text"].as_str().expect("text");
        // No raw floats: nothing with more than 4 decimals.
        let raw = text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find(|w| {
            w.split_once('.')
                .is_some_and(|(_, frac)| frac.len() > 4 && frac.bytes().all(|b| b.is_ascii_digit()))
        });
        assert_eq!(raw, None, "a raw float on the page: {text}");
        // One time style: the charts' local times, no ISO UTC stamps beside them.
        let iso = text.as_bytes().windows(11).any(|w| {
            w[..4].iter().all(u8::is_ascii_digit) && w[4] == b'-' && w[7] == b'-' && w[10] == b'T'
        });
        assert!(!iso, "an ISO timestamp on the page: {text}");
        // The error-rate axis never goes above 100 %, even with slots at 100 %.
        let errors: Vec<f64> = page["errors"]
            .as_array()
            .expect("ticks")
            .iter()
            .map(|t| {
                let t = t.as_str().expect("tick");
                t.trim_end_matches('%').trim().replace(',', "").parse().unwrap_or_else(|_| panic!("tick {t:?}"))
            })
            .collect();
        assert_eq!(errors.len(), 3, "{page}");
        let top = errors.iter().copied().fold(0.0, f64::max);
        assert!(top > 0.0 && top <= 100.0, "error-rate axis up to {top} %: {page}");
        let m = s.json("/health/dashboard?format=json&window=1m").await;
        let full = m["series"]["points"]
            .as_array()
            .expect("points")
            .iter()
            .any(|p| p["error_rate"].as_f64() == Some(1.0));
        assert!(full, "a slot at a 100 % error rate: {m}");
        // One axis, one precision: never "0.00" beside "43".
        for chart in ["latency", "throughput", "errors"] {
            let ticks: Vec<&str> = page[chart]
                .as_array()
                .expect("ticks")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let decimals = |t: &str| {
                let n = t.split(' ').next().unwrap_or("");
                n.split_once('.').map_or(0, |(_, f)| f.len())
            };
            assert!(
                ticks.iter().all(|t| decimals(t) == decimals(ticks[0])),
                "{chart} axis: {ticks:?}"
            );
        }
        // No card stretches its row beside empty space: every row is filled across.
        let (left, right) = (
            page["main"]["left"].as_f64().expect("left"),
            page["main"]["right"].as_f64().expect("right"),
        );
        for row in page["rows"].as_array().expect("rows") {
            let cards = row.as_array().expect("row");
            let end = cards
                .iter()
                .filter_map(|c| c["right"].as_f64())
                .fold(0.0, f64::max);
            assert!(
                end >= right - 40.0 && cards.iter().all(|c| c["left"].as_f64() >= Some(left)),
                "a row with a hole (main {left}..{right}): {row}"
            );
        }
    })
    .await;
}
