//! `/health`, `/health/live`, `/health/ready` and `/health/detailed`: views of the cached
//! health state. With background refresh they never wait on a dependency; on demand, an
//! expired check is probed once however many callers ask.

use std::time::SystemTime;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::Denied;
use super::{RouteState, json as json_response};
use crate::health::{BreakerState, CheckReport, CheckStatus, HealthReport, HealthStatus};

fn ms(d: std::time::Duration) -> f64 {
    // Two decimals: enough for a latency, and stable output.
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn check_error(c: &CheckReport) -> Value {
    check_error_str(c).map_or(Value::Null, Value::from)
}

/// The `/health` body (the contract in `docs/endpoints.md`).
#[derive(serde::Serialize)]
struct HealthBody<'a> {
    status: HealthStatus,
    checks: CheckMap<'a>,
    cached: bool,
    age_ms: u64,
    version: Option<&'a str>,
    uptime_s: u64,
}

/// The checks keyed by name, serialized straight from the report.
struct CheckMap<'a>(&'a [CheckReport]);

#[derive(serde::Serialize)]
struct CheckBody<'a> {
    status: CheckStatus,
    critical: bool,
    latency_ms: Option<f64>,
    circuit: Option<BreakerState>,
    error: Option<&'a str>,
    age_ms: Option<u64>,
}

impl serde::Serialize for CheckMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            let body = CheckBody {
                status: c.status(),
                critical: c.critical,
                latency_ms: c.result.as_ref().map(|r| ms(r.latency)),
                circuit: c.circuit,
                error: check_error_str(c),
                age_ms: c.result.as_ref().map(|r| r.age().as_millis() as u64),
            };
            map.serialize_entry(&c.name, &body)?;
        }
        map.end()
    }
}

fn check_error_str(c: &CheckReport) -> Option<&str> {
    match &c.result {
        None => Some("no result yet"),
        Some(r) => r.error.as_deref().or(r.warning.as_deref()),
    }
}

/// The `/health` body (the contract in `docs/endpoints.md`).
pub(crate) fn health_body<'a>(
    st: &'a RouteState,
    report: &'a HealthReport,
) -> impl serde::Serialize + 'a {
    HealthBody {
        status: report.status,
        checks: CheckMap(&report.checks),
        cached: report.cached,
        age_ms: report.age.as_millis() as u64,
        version: st.version.as_deref(),
        uptime_s: st.aggregator.uptime_s(),
    }
}

/// `/health` for a caller without the admin token, when one is set: the overall status and
/// each check's name, status and criticality (enough for a status page or a load balancer to
/// tell what is wrong), but no error text (it can name hosts, users, versions), no latency
/// and breaker state (they show an attacker when a dependency is struggling), no version
/// (fingerprinting) and no uptime (restart times).
#[derive(serde::Serialize)]
struct PublicHealthBody<'a> {
    status: HealthStatus,
    checks: PublicCheckMap<'a>,
    cached: bool,
    age_ms: u64,
}

struct PublicCheckMap<'a>(&'a [CheckReport]);

#[derive(serde::Serialize)]
struct PublicCheckBody {
    status: CheckStatus,
    critical: bool,
}

impl serde::Serialize for PublicCheckMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            let body = PublicCheckBody {
                status: c.status(),
                critical: c.critical,
            };
            map.serialize_entry(&c.name, &body)?;
        }
        map.end()
    }
}

/// Whether a public endpoint may show details: no token configured, or the right one. A
/// probe without credentials is normal; a wrong token is worth an audit line.
fn shows_details(st: &RouteState, req: &Request) -> bool {
    match st.admin.check(req.headers()) {
        Ok(()) => true,
        Err(Denied::Missing) => false,
        Err(denied @ Denied::Invalid) => {
            st.admin.report(denied, req);
            false
        }
    }
}

pub(crate) async fn health(State(st): State<RouteState>, req: Request) -> Response {
    let authorized = shows_details(&st, &req);
    drop(req);
    let report = st.health.report().await;
    let status = report.status.http_status();
    if authorized {
        json_response(status, &health_body(&st, &report))
    } else {
        json_response(
            status,
            &PublicHealthBody {
                status: report.status,
                checks: PublicCheckMap(&report.checks),
                cached: report.cached,
                age_ms: report.age.as_millis() as u64,
            },
        )
    }
}

/// `GET /health/group/{name}`: the group's status (members count as critical) and, with
/// the token, its members as `/health` shows checks; 404 naming the group when there is none.
#[derive(serde::Serialize)]
struct GroupBody<'a> {
    group: &'a str,
    status: HealthStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<CheckMap<'a>>,
}

pub(crate) async fn group(
    State(st): State<RouteState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let authorized = shows_details(&st, &req);
    drop(req);
    let Some(view) = st.health.group(&name).await else {
        let shown: String = name.chars().take(64).collect();
        let mut known: Vec<&str> = st.health.groups().names().collect();
        known.truncate(20);
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({
                "error": format!("no health group `{shown}`"),
                "group": shown,
                "groups": known,
            }),
        );
    };
    json_response(
        view.status.http_status(),
        &GroupBody {
            group: &name,
            status: view.status,
            checks: authorized.then_some(CheckMap(&view.checks)),
        },
    )
}

pub(crate) async fn live(State(st): State<RouteState>) -> Response {
    if st.health.serving().live {
        json_response(StatusCode::OK, &json!({ "status": "up" }))
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "down", "reason": "marked broken" }),
        )
    }
}

pub(crate) async fn ready(State(st): State<RouteState>) -> Response {
    // Checked first so that a shutting-down service answers at once, without probing.
    if st.health.is_shutting_down() {
        return not_ready("shutting down", &[]);
    }
    let report = st.health.report().await;
    if report.ready {
        return json_response(StatusCode::OK, &json!({ "status": "ready" }));
    }
    let pending: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.critical && c.status() == CheckStatus::Unknown)
        .map(|c| c.name.as_str())
        .collect();
    let failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.critical && c.status() == CheckStatus::Down)
        .map(|c| c.name.as_str())
        .collect();
    if report.shutting_down {
        not_ready("shutting down", &[])
    } else if !failing.is_empty() {
        not_ready("critical checks failing", &failing)
    } else if !pending.is_empty() {
        not_ready("waiting for the first result of critical checks", &pending)
    } else {
        not_ready("out of service", &[])
    }
}

fn not_ready(reason: &str, checks: &[&str]) -> Response {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({ "status": "not_ready", "reason": reason, "checks": checks }),
    )
}

/// `application/health+json` (draft-inadarei-api-health-check-06).
pub(crate) fn detailed_body(st: &RouteState, report: &HealthReport) -> Value {
    let now = crate::rfc3339::format(SystemTime::now());
    let mut checks = Map::new();
    for c in &report.checks {
        let status = c.status().health_json();
        let time = c
            .result
            .as_ref()
            .map_or_else(|| now.clone(), |r| crate::rfc3339::format(r.time));
        let output = check_error(c);
        let mut response_time = json!({
            "componentId": c.name,
            "componentType": c.kind,
            "observedValue": c.result.as_ref().map(|r| ms(r.latency)),
            "observedUnit": "ms",
            "status": status,
            "time": time,
            "critical": c.critical,
        });
        if let Some(obj) = response_time.as_object_mut() {
            if status != "pass" && !output.is_null() {
                obj.insert("output".into(), output.clone());
            }
            if let Some(circuit) = c.circuit {
                obj.insert("circuit".into(), json!(circuit));
            }
            if let Some(r) = c.result.as_ref().filter(|r| !r.details.is_empty()) {
                obj.insert("details".into(), Value::Object(r.details.clone()));
            }
        }
        checks.insert(format!("{}:responseTime", c.name), json!([response_time]));
        for m in c.result.iter().flat_map(|r| r.measurements.iter()) {
            let mut entry = json!({
                "componentId": c.name,
                "componentType": c.kind,
                "observedValue": m.value,
                "status": status,
                "time": time,
            });
            if let Some(obj) = entry.as_object_mut() {
                if let Some(unit) = &m.unit {
                    obj.insert("observedUnit".into(), json!(unit));
                }
                if status != "pass" && !output.is_null() {
                    obj.insert("output".into(), output.clone());
                }
            }
            checks.insert(format!("{}:{}", c.name, m.name), json!([entry]));
        }
    }
    checks.insert(
        "uptime".into(),
        json!([{
            "componentType": "system",
            "observedValue": st.aggregator.uptime_s(),
            "observedUnit": "s",
            "status": "pass",
            "time": now,
        }]),
    );
    let mut body = json!({
        "status": report.status.health_json(),
        "version": st.version.as_deref(),
        "description": "dependency health",
        "checks": checks,
    });
    if let Some(obj) = body.as_object_mut() {
        let notes: Vec<&str> = [
            report.shutting_down.then_some("shutting down"),
            report.cached.then_some("results served from cache"),
        ]
        .into_iter()
        .flatten()
        .collect();
        obj.insert("notes".into(), json!(notes));
        if report.status.health_json() == "fail" {
            let failing: Vec<&str> = report
                .checks
                .iter()
                .filter(|c| c.critical && !c.status().is_ok())
                .map(|c| c.name.as_str())
                .collect();
            obj.insert(
                "output".into(),
                json!(format!("critical checks failing: {}", failing.join(", "))),
            );
        }
    }
    body
}

pub(crate) async fn detailed(State(st): State<RouteState>) -> Response {
    let report = st.health.report().await;
    let mut r = json_response(report.status.http_status(), &detailed_body(&st, &report));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/health+json"),
    );
    r.into_response()
}
