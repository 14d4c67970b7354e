//! The HTTP API: course list (cache-aside), course by id, enrollments with payment and email,
//! and `/api/simulate` for demos. Every failure is a JSON `{"error", "code"}` body.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::cache::CourseCache;
use crate::db::{Course, Db, EnrollmentStatus};
use crate::mail::{Confirmation, Mailer};
use crate::payments::{Charge, PaymentError, Payments, Provider};

/// Longest delay `/api/simulate` accepts, so a demo cannot tie up a connection forever.
const MAX_SIMULATED_LATENCY_MS: u64 = 30_000;
const MAX_EMAIL_LEN: usize = 254;
const MAX_PAYMENT_METHOD_LEN: usize = 64;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: Db,
    pub(crate) cache: Option<Arc<CourseCache>>,
    pub(crate) payments: Arc<Payments>,
    pub(crate) mailer: Option<Arc<Mailer>>,
}

/// The routes, without the layer: `main` adds it.
pub(crate) fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/courses", get(list_courses))
        .route("/api/courses/{id}", get(get_course))
        .route("/api/enrollments", post(create_enrollment))
        .route("/api/simulate", get(simulate))
        .with_state(state)
}

/// Failures a handler answers with; internal detail goes to the log, never to the body.
pub(crate) enum ApiError {
    BadRequest(String),
    NotFound(&'static str),
    CourseFull,
    Declined(String),
    /// The provider's breaker is open: try again after this long.
    BreakerOpen {
        provider: Provider,
        retry_after: Duration,
    },
    PaymentFailed(Provider),
    Internal(sqlx::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::BadRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", why),
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            Self::CourseFull => (
                StatusCode::CONFLICT,
                "course_full",
                "every place on this course is taken".into(),
            ),
            Self::Declined(reason) => (
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                format!("the payment was declined ({reason})"),
            ),
            Self::BreakerOpen {
                provider,
                retry_after,
            } => {
                // Whole seconds, rounded up: `Retry-After: 0` would invite an immediate retry.
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                let body = json!({
                    "error": format!("{} payments are unavailable; retry in {secs} s", provider.as_str()),
                    "code": "payment_unavailable",
                });
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return response;
            }
            Self::PaymentFailed(provider) => (
                StatusCode::BAD_GATEWAY,
                "payment_provider_error",
                format!(
                    "{} did not complete the payment; nothing was charged twice, retry later",
                    provider.as_str()
                ),
            ),
            Self::Internal(e) => {
                tracing::error!(error = %e, "database error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                )
            }
        };
        (status, Json(json!({ "error": message, "code": code }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e)
    }
}

async fn list_courses(State(state): State<AppState>) -> Result<Json<Vec<Course>>, ApiError> {
    if let Some(cache) = &state.cache
        && let Some(courses) = cache.courses().await
    {
        return Ok(Json(courses));
    }
    let courses = state.db.courses().await?;
    if let Some(cache) = &state.cache {
        cache.store(&courses).await;
    }
    Ok(Json(courses))
}

async fn get_course(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Course>, ApiError> {
    state
        .db
        .course(id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("course"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEnrollment {
    course_id: i64,
    email: String,
    /// `stripe` or `paypal`; the first configured provider when absent.
    provider: Option<String>,
    /// Stripe's `payment_method`, `pm_card_visa` when absent.
    payment_method: Option<String>,
}

/// A validated enrollment request.
struct Valid {
    course_id: i64,
    email: lettre::Address,
    provider: Option<Provider>,
    payment_method: Option<String>,
}

fn validate(body: NewEnrollment, payments: &Payments) -> Result<Valid, ApiError> {
    if body.course_id <= 0 {
        return Err(ApiError::BadRequest(
            "course_id must be a positive integer".into(),
        ));
    }
    let email = body.email.trim();
    if email.len() > MAX_EMAIL_LEN {
        return Err(ApiError::BadRequest(format!(
            "email must be at most {MAX_EMAIL_LEN} characters"
        )));
    }
    let email: lettre::Address = email.parse().map_err(|_| {
        ApiError::BadRequest("email must be an address such as ada@example.com".into())
    })?;
    let provider = match body.provider.as_deref().map(str::trim) {
        None | Some("") => payments.default_provider(),
        Some(name) => {
            let provider = Provider::parse(name).ok_or_else(|| {
                ApiError::BadRequest("provider must be `stripe` or `paypal`".into())
            })?;
            if !payments.is_configured(provider) {
                return Err(ApiError::BadRequest(format!(
                    "provider `{}` is not configured on this server",
                    provider.as_str()
                )));
            }
            Some(provider)
        }
    };
    if let Some(pm) = &body.payment_method {
        let ok = !pm.is_empty()
            && pm.len() <= MAX_PAYMENT_METHOD_LEN
            && pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(ApiError::BadRequest(format!(
                "payment_method must be 1 to {MAX_PAYMENT_METHOD_LEN} letters, digits or `_`"
            )));
        }
    }
    Ok(Valid {
        course_id: body.course_id,
        email,
        provider,
        payment_method: body.payment_method,
    })
}

/// Enrolls, charges and confirms by email.
///
/// The row is written as `pending` before the provider is called and settled after, rather
/// than holding a transaction open across the call: a transaction would pin a database
/// connection (the only one, on SQLite) and row locks for as long as the provider takes, and a
/// crash mid-call would erase the only trace of a charge that may have gone through. A decline
/// or provider failure leaves the row as `declined` / `payment_failed` (an audit trail; it does
/// not take a place), and the enrollment id is the provider's idempotency key.
async fn create_enrollment(
    State(state): State<AppState>,
    body: Result<Json<NewEnrollment>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let req = validate(body, &state.payments)?;
    let course = state
        .db
        .course(req.course_id)
        .await?
        .ok_or(ApiError::NotFound("course"))?;
    if course.enrolled >= course.seats {
        return Err(ApiError::CourseFull);
    }
    // Before the row: an open breaker answers 503 and writes nothing.
    let pending = match req.provider {
        Some(provider) => Some((
            provider,
            state
                .payments
                .begin(provider)
                .map_err(|e| payment_error(provider, e))?,
        )),
        None => None,
    };
    let email = req.email.to_string();
    let (id, payment) = match pending {
        None => {
            let id = state
                .db
                .insert_enrollment(&course, &email, None, EnrollmentStatus::Confirmed)
                .await?;
            (id, json!(null))
        }
        Some((provider, pending)) => {
            let id = state
                .db
                .insert_enrollment(
                    &course,
                    &email,
                    Some(provider.as_str()),
                    EnrollmentStatus::Pending,
                )
                .await?;
            let charge = Charge {
                enrollment_id: id,
                amount_cents: course.price_cents,
                email: &email,
                payment_method: req.payment_method.as_deref(),
            };
            match pending.run(&charge).await {
                Ok(receipt) => {
                    state
                        .db
                        .settle_enrollment(id, EnrollmentStatus::Paid, Some(&receipt.id))
                        .await?;
                    (
                        id,
                        json!({ "provider": provider.as_str(), "id": receipt.id }),
                    )
                }
                Err(e) => {
                    let settled = match e {
                        PaymentError::Declined(_) => EnrollmentStatus::Declined,
                        _ => EnrollmentStatus::PaymentFailed,
                    };
                    tracing::warn!(enrollment_id = id, provider = provider.as_str(), error = %e, "payment not taken");
                    state.db.settle_enrollment(id, settled, None).await?;
                    return Err(payment_error(provider, e));
                }
            }
        }
    };
    if let Some(cache) = &state.cache {
        cache.invalidate().await;
    }
    let email_status = match &state.mailer {
        None => "not_configured",
        Some(mailer) => {
            let sent = mailer
                .send_confirmation(&Confirmation {
                    to: &req.email,
                    enrollment_id: id,
                    course_title: &course.title,
                    amount_cents: course.price_cents,
                })
                .await;
            if sent { "sent" } else { "failed" }
        }
    };
    let enrollment_status = if payment.is_null() {
        "confirmed"
    } else {
        "paid"
    };
    tracing::info!(
        enrollment_id = id,
        course_id = course.id,
        status = enrollment_status,
        "enrollment created"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "course_id": course.id,
            "status": enrollment_status,
            "payment": payment,
            "email": email_status,
        })),
    ))
}

fn payment_error(provider: Provider, e: PaymentError) -> ApiError {
    match e {
        PaymentError::Open(open) => ApiError::BreakerOpen {
            provider,
            retry_after: open.retry_after,
        },
        PaymentError::Declined(reason) => ApiError::Declined(reason),
        PaymentError::Failed(_) => ApiError::PaymentFailed(provider),
    }
}

#[derive(Deserialize)]
struct Simulate {
    latency_ms: Option<u64>,
    status: Option<u16>,
    panic: Option<bool>,
}

/// Drives budgets and alerts in demos: answers with the given status after the given delay.
async fn simulate(Query(q): Query<Simulate>) -> Response {
    let latency = q.latency_ms.unwrap_or(0);
    if latency > MAX_SIMULATED_LATENCY_MS {
        return ApiError::BadRequest(format!(
            "latency_ms must be at most {MAX_SIMULATED_LATENCY_MS}"
        ))
        .into_response();
    }
    let Ok(status) = StatusCode::from_u16(q.status.unwrap_or(200)) else {
        return ApiError::BadRequest("status must be 100..=599".into()).into_response();
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if q.panic == Some(true) {
        panic!("simulated panic");
    }
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), "simulated failure");
    }
    (
        status,
        Json(json!({ "simulated": { "latency_ms": latency, "status": status.as_u16() } })),
    )
        .into_response()
}
