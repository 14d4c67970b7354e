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
use pulsecheck::alert::AlertSettings;
use pulsecheck::budget::PulseConfig;
use pulsecheck::health::{Check, CheckError, HealthConfig, Observation, Refresh};
use serde_json::{Value, json};
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
    Pulse::builder()
        .without_telemetry()
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
        .health_config(HealthConfig {
            refresh: Refresh::OnDemand,
            ..HealthConfig::default()
        })
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

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
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
        // --test dashboard
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
        assert_eq!(page["status"], "degraded");
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
