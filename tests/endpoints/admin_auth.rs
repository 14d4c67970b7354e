//! Admin authentication: with a token set, every endpoint but the probes needs
//! `Authorization: Bearer <token>`, `/health` hides per-check details from callers without it,
//! and denials reach the audit log without the token. In-process through the real router, and
//! over a real socket through the academy example configured by `PULSE_ADMIN_TOKEN`.

use std::borrow::Cow;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use pulsecheck::Pulse;
use pulsecheck::health::{Check, CheckError, Observation};
use serde_json::Value;
use support::logs::capture_logs;
use support::pulse::app;
use tower::ServiceExt as _;

const TOKEN: &str = "pc-admin-7f3a9c1e5b2d4f60a8e1";
const ADMIN_PATHS: [&str; 5] = [
    "/health/detailed",
    "/health/metrics",
    "/health/budget",
    "/health/system",
    "/metrics",
];

struct Db {
    failing: bool,
}

impl Check for Db {
    fn name(&self) -> Cow<'static, str> {
        "db".into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        if self.failing {
            Err(CheckError::new(
                "connection refused by db.internal.example:5432",
            ))
        } else {
            Ok(Observation::pass())
        }
    }
}

struct Cache;

impl Check for Cache {
    fn name(&self) -> Cow<'static, str> {
        "cache".into()
    }
    async fn check(&self) -> Result<Observation, CheckError> {
        Ok(Observation::pass())
    }
}

fn pulse(token: Option<&str>, db_failing: bool) -> Pulse {
    let mut b = support::pulse::builder()
        .service_version("9.8.7")
        .check(Db {
            failing: db_failing,
        })
        .check(Cache);
    if let Some(t) = token {
        b = b.admin_token(t);
    }
    b.build().expect("pulse")
}

async fn call(
    app: &Router,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(path);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Wrong credentials of every shape: none, another scheme, same length, shorter, longer, a
/// prefix of the real token, the real token with a suffix, an empty bearer.
fn wrong_credentials() -> Vec<Option<String>> {
    let mut same_len = TOKEN.as_bytes().to_vec();
    let last = same_len.len() - 1;
    same_len[last] = if same_len[last] == b'0' { b'1' } else { b'0' };
    vec![
        None,
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer {}", String::from_utf8(same_len).unwrap())),
        Some("Bearer x".into()),
        Some(format!("Bearer {}", "z".repeat(4096))),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Bearer {}", &TOKEN[..8])),
        Some(format!("Bearer {TOKEN}0")),
        Some("Bearer ".into()),
        Some(TOKEN.into()),
    ]
}

#[tokio::test]
async fn admin_endpoints_answer_401_without_the_right_token() {
    let p = pulse(Some(TOKEN), false);
    assert!(p.admin_auth_enabled());
    let app = app(&p);
    for path in ADMIN_PATHS {
        for auth in wrong_credentials() {
            let (status, headers, body) = call(&app, path, auth.as_deref()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {auth:?}");
            assert_eq!(headers["www-authenticate"], "Bearer", "{path}");
            assert_eq!(headers["cache-control"], "no-store");
            assert_eq!(json(&body), serde_json::json!({ "error": "unauthorized" }));
        }
        for auth in [format!("Bearer {TOKEN}"), format!("bearer  {TOKEN}")] {
            let (status, _, body) = call(&app, path, Some(&auth)).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{path}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    // Unknown paths are not the admin router's: they still reach the fallback (404, not 401).
    let (status, _, _) = call(&app, "/health/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Without the token, an admin path answers every method with the same 401 a GET gets: no 405,
/// no `Allow` header telling which methods it serves. With the token, the real 405 and `Allow`.
#[tokio::test]
async fn other_methods_on_admin_paths_reveal_nothing_without_the_token() {
    let p = pulse(Some(TOKEN), false);
    let app = app(&p);
    let send = |method: &'static str, path: &'static str, auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::builder().method(method).uri(path);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, headers, body)
        }
    };
    let paths = ADMIN_PATHS.iter().copied().chain([
        "/health/alerts",
        "/health/status",
        "/health/dashboard",
    ]);
    for path in paths {
        let (_, get_headers, get_body) = send("GET", path, Some("Bearer wrong".into())).await;
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
            let (status, headers, body) = send(method, path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert!(
                headers.get("allow").is_none(),
                "{method} {path}: {headers:?}"
            );
            assert_eq!(headers["www-authenticate"], "Bearer", "{method} {path}");
            if path != "/health/dashboard" {
                assert_eq!(body, get_body, "{method} {path}");
                assert!(get_headers.get("allow").is_none(), "GET {path}");
            }
        }
        let (status, headers, _) = send("POST", path, Some(format!("Bearer {TOKEN}"))).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "authorized POST {path}"
        );
        assert_eq!(headers["allow"], "GET,HEAD", "{path}");
    }
    // Probes are public: their 405 is no secret.
    let (status, _, _) = send("POST", "/health", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // Without a token configured nothing is hidden.
    let open = app_for(pulse(None, false));
    let resp = open
        .oneshot(
            Request::post("/health/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

fn app_for(p: Pulse) -> Router {
    app(&p)
}

#[tokio::test]
async fn probes_stay_public() {
    let p = pulse(Some(TOKEN), false);
    let app = app(&p);
    for path in ["/health", "/health/live", "/health/ready"] {
        let (status, _, body) = call(&app, path, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        // A wrong token does not lock a probe out either.
        let (status, _, _) = call(&app, path, Some("Bearer wrong")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_every_endpoint_is_open() {
    let p = pulse(None, false);
    assert!(!p.admin_auth_enabled());
    let app = app(&p);
    for path in ADMIN_PATHS {
        let (status, _, _) = call(&app, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, _, body) = call(&app, "/health", None).await;
    let body = json(&body);
    assert_eq!(body["version"], "9.8.7");
    assert!(body["checks"]["db"]["latency_ms"].is_number(), "{body}");
}

#[tokio::test]
async fn health_shows_details_only_to_authorized_callers() {
    let p = pulse(Some(TOKEN), true);
    let app = app(&p);

    let (status, _, body) = call(&app, "/health", None).await;
    // Same status code for everyone: a load balancer needs no token.
    assert_eq!(status, StatusCode::OK);
    let public = json(&body);
    assert_eq!(public["status"], "degraded");
    assert_eq!(
        public["checks"],
        serde_json::json!({
            "db": { "status": "down", "critical": false },
            "cache": { "status": "up", "critical": false },
        })
    );
    let text = String::from_utf8_lossy(&body);
    for hidden in [
        "db.internal",
        "latency_ms",
        "circuit",
        "9.8.7",
        "uptime_s",
        "error",
    ] {
        assert!(
            !text.contains(hidden),
            "{hidden} shown without the token: {text}"
        );
    }

    let (status, _, body) = call(&app, "/health", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK);
    let full = json(&body);
    assert_eq!(full["status"], "degraded");
    assert_eq!(full["version"], "9.8.7");
    assert!(full["uptime_s"].is_number());
    assert_eq!(
        full["checks"]["db"]["error"],
        "connection refused by db.internal.example:5432"
    );
    assert!(full["checks"]["db"]["latency_ms"].is_number(), "{full}");

    // A wrong token gets the public view, like no token.
    let (_, _, body) = call(&app, "/health", Some("Bearer nope")).await;
    let wrong = json(&body);
    assert_eq!(wrong["checks"], public["checks"]);
    assert!(wrong.get("version").is_none(), "{wrong}");
}

#[tokio::test]
async fn denials_are_audited_and_the_token_never_reaches_a_log() {
    let (logs, _guard) = capture_logs();
    let p = Pulse::builder()
        .without_telemetry()
        .layer(pulsecheck::layer::PulseLayer::new().log_health_requests(true))
        .admin_token(TOKEN)
        .build()
        .expect("pulse");
    let app = app(&p);
    let prefix = format!("Bearer {}", &TOKEN[..12]);
    for auth in [
        None,
        Some(prefix.as_str()),
        Some("Bearer wrong-token-value"),
    ] {
        let (status, _, _) = call(&app, "/health/metrics", auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(&app, "/health/metrics", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK);
    // `/health` with a wrong token: public view, and audited.
    call(&app, "/health", Some("Bearer wrong-token-value")).await;
    // Build-time `Debug` of the facade must not show it either.
    let debug = format!("{p:?}");

    let text = logs.text();
    for secret in [TOKEN, &TOKEN[..12], "wrong-token-value"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
        assert!(!debug.contains(secret), "{secret} in Debug: {debug}");
    }
    let audit: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["target"] == "pulsecheck::audit")
        .collect();
    let events: Vec<(&str, &str)> = audit
        .iter()
        .map(|l| {
            (
                l["audit.event"].as_str().unwrap(),
                l["url.path"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("auth.missing", "/health/metrics"),
            ("auth.invalid", "/health/metrics"),
            ("auth.invalid", "/health/metrics"),
            ("auth.invalid", "/health"),
        ],
        "{audit:#?}"
    );
    for l in &audit {
        assert_eq!(l["level"], "WARN");
        assert_eq!(l["message"], "admin request denied");
        assert_eq!(l["suppressed"], 0);
        assert!(l["request_id"].is_string(), "{l}");
    }
}

#[test]
fn a_blank_token_is_a_build_error_not_an_open_door() {
    for blank in ["", "   ", "\t\n"] {
        let err = Pulse::builder()
            .without_telemetry()
            .admin_token(blank)
            .build()
            .expect_err("blank token accepted");
        let text = err.to_string();
        assert!(text.contains("empty"), "{text}");
    }
    let err = Pulse::builder()
        .without_telemetry()
        .admin_token("has a space")
        .build()
        .expect_err("token with a space accepted");
    assert!(!err.to_string().contains("has a space"), "{err}");
}

#[tokio::test]
async fn academy_with_pulse_admin_token_over_a_real_socket() {
    let academy = support::academy::Academy::spawn(&[("PULSE_ADMIN_TOKEN", TOKEN)]);
    let client = reqwest::Client::new();
    for path in ["/health/live", "/health/ready", "/health"] {
        let r = client.get(academy.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    for path in ["/health/metrics", "/metrics", "/health/budget"] {
        let r = client.get(academy.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = client
            .get(academy.url(path))
            .header("authorization", "Bearer not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = client
            .get(academy.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // The application's own routes are not the admin router's.
    let r = client
        .get(academy.url("/api/courses"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    std::thread::sleep(std::time::Duration::from_millis(200));
    let raw = academy.lines.lock().unwrap().join("\n");
    assert!(!raw.contains(TOKEN), "token in the academy's output");
    assert!(
        !raw.contains("not-the-token"),
        "presented token in the output"
    );
    let denied: Vec<Value> = academy
        .json_lines()
        .into_iter()
        .filter(|l| l["target"] == "pulsecheck::audit")
        .collect();
    assert_eq!(denied.len(), 6, "{denied:#?}");
    for l in &denied {
        assert_eq!(l["client.address"], "127.0.0.1", "{l}");
        assert_eq!(l["network.peer.address"], "127.0.0.1", "{l}");
    }
}

/// Over a real socket: the audit log's `client.address` is the peer unless the peer is a
/// configured proxy, and then the rightmost hop the proxies did not add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn academy_believes_forwarded_for_only_from_trusted_proxies() {
    let client = reqwest::Client::new();
    for (trusted, expected) in [(None, "127.0.0.1"), (Some("127.0.0.1, ::1"), "203.0.113.9")] {
        let mut env = vec![("PULSE_ADMIN_TOKEN", TOKEN)];
        if let Some(t) = trusted {
            env.push(("PULSE_TRUSTED_PROXIES", t));
        }
        let academy = support::academy::Academy::spawn(&env);
        let r = client
            .get(academy.url("/health/metrics"))
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let line = loop {
            let found = academy
                .json_lines()
                .into_iter()
                .find(|l| l["target"] == "pulsecheck::audit");
            if let Some(l) = found {
                break l;
            }
            assert!(std::time::Instant::now() < deadline, "no audit line");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(
            line["client.address"], expected,
            "trusted {trusted:?}: {line}"
        );
        assert_eq!(line["network.peer.address"], "127.0.0.1", "{line}");
    }
    let (status, out) = support::academy::Academy::run_to_exit(&[(
        "PULSE_TRUSTED_PROXIES",
        "10.0.0.0/8, 10.0.0.0/99",
    )]);
    assert!(!status.success());
    assert!(
        out.contains("PULSE_TRUSTED_PROXIES") && out.contains("10.0.0.0/99"),
        "{out}"
    );
}

/// Open admin endpoints on a reachable address are said once at start, in the log: not on
/// loopback, not with a token.
#[test]
fn academy_warns_once_when_admin_endpoints_are_open_beyond_loopback() {
    let warnings = |env: &[(&str, &str)]| {
        let academy = support::academy::Academy::spawn(env);
        let lines = academy.json_lines();
        lines
            .into_iter()
            .filter(|l| {
                l["level"] == "WARN"
                    && l["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("without a token"))
            })
            .collect::<Vec<_>>()
    };
    let open = warnings(&[("HOST", "0.0.0.0")]);
    assert_eq!(open.len(), 1, "{open:#?}");
    assert!(
        open[0]["addr"].as_str().unwrap().starts_with("0.0.0.0:"),
        "{}",
        open[0]
    );
    assert!(
        open[0]["message"]
            .as_str()
            .unwrap()
            .contains("PULSE_ADMIN_TOKEN")
    );
    assert!(warnings(&[("HOST", "127.0.0.1")]).is_empty());
    assert!(warnings(&[("HOST", "0.0.0.0"), ("PULSE_ADMIN_TOKEN", TOKEN)]).is_empty());
}

#[test]
fn academy_refuses_to_start_with_an_empty_token() {
    let (status, out) = support::academy::Academy::run_to_exit(&[("PULSE_ADMIN_TOKEN", "  ")]);
    assert!(!status.success());
    assert!(out.contains("PULSE_ADMIN_TOKEN"), "{out}");
    assert!(out.contains("empty"), "{out}");
}

/// The dashboard page (no data) goes to a browser without the token; its JSON does not, however
/// the client asks for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_is_public_and_its_json_needs_the_token() {
    let p = pulse(Some(TOKEN), false);
    let app = app(&p);
    let get = |uri: &'static str, accept: &'static str, auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::get(uri).header("accept", accept);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (resp.status(), ct)
        }
    };
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";
    let (status, ct) = get("/health/dashboard", html, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    for (uri, accept) in [
        ("/health/dashboard", "application/json"),
        ("/health/dashboard", "*/*"),
        ("/health/dashboard?format=json", html),
    ] {
        let (status, _) = get(uri, accept, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} {accept}");
    }
    // An encoded key is not `format` to the handler either: it serves the page, not data.
    let (status, ct) = get("/health/dashboard?form%61t=json", html, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    let (status, ct) = get(
        "/health/dashboard?format=json",
        html,
        Some(format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/json"), "{ct}");
}
