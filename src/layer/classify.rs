//! What kind of failure a request ended in, for the access log's level and the span.

use std::any::Any;

use http::{Extensions, StatusCode};

/// Marks a response as caused by a failing dependency: insert it into the response's
/// extensions and the layer logs the request as [`ErrorClass::DependencyFailure`] (a
/// warning naming the dependency) whatever the status code.
///
/// ```
/// use axum::{Router, response::IntoResponse, routing::get};
/// use http::StatusCode;
/// use pulsecheck::layer::DependencyFailure;
///
/// async fn course() -> axum::response::Response {
///     // The database answered with an error: say so, and which one.
///     let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
///     response.extensions_mut().insert(DependencyFailure("postgres"));
///     response
/// }
/// let app: Router = Router::new().route("/courses", get(course));
/// ```
///
/// The name is `'static` on purpose: it becomes a span attribute and a log field, so it must
/// be a fixed, low-cardinality identifier, never text from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DependencyFailure(pub &'static str);

/// The class of a failed request.
///
/// | class | when | log level |
/// |---|---|---|
/// | `panic` | the handler panicked (the layer answered 500) | ERROR |
/// | `dependency_failure` | the response carries [`DependencyFailure`], or is 502 or 503 | WARN |
/// | `timeout` | 408 or 504, or the inner service failed with a tower or tokio `Elapsed` | WARN |
/// | `server_error` | any other 5xx, or an error from the inner service | ERROR |
/// | `client_error` | any other 4xx | INFO |
/// | `cancelled` | dropped before its response: the client hung up ([`CANCELLED_STATUS`](super::CANCELLED_STATUS)) | WARN |
///
/// ```
/// use http::{Response, StatusCode};
/// use pulsecheck::layer::{DependencyFailure, ErrorClass};
///
/// let mut r = Response::new(());
/// assert_eq!(ErrorClass::of_response(&r), None);
/// *r.status_mut() = StatusCode::NOT_FOUND;
/// assert_eq!(ErrorClass::of_response(&r), Some(ErrorClass::ClientError));
/// *r.status_mut() = StatusCode::GATEWAY_TIMEOUT;
/// assert_eq!(ErrorClass::of_response(&r), Some(ErrorClass::Timeout));
/// r.extensions_mut().insert(DependencyFailure("redis"));
/// assert_eq!(ErrorClass::of_response(&r), Some(ErrorClass::DependencyFailure));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// A 4xx other than 408.
    ClientError,
    /// A 5xx other than 502, 503, 504, or an error from the inner service.
    ServerError,
    /// 408, 504, or a timeout error from the inner service.
    Timeout,
    /// 502, 503, or a response marked with [`DependencyFailure`].
    DependencyFailure,
    /// The handler panicked.
    Panic,
    /// The request was dropped before its response: the client hung up (or a layer outside
    /// this one gave up on it). Recorded as [`CANCELLED_STATUS`](super::CANCELLED_STATUS).
    Cancelled,
}

impl ErrorClass {
    /// The class of a response, `None` for a success. Reads the status and one extension: no
    /// allocation.
    pub fn of_response<B>(response: &http::Response<B>) -> Option<Self> {
        Self::of(response.status(), response.extensions())
    }

    pub(crate) fn of(status: StatusCode, extensions: &Extensions) -> Option<Self> {
        if extensions.get::<DependencyFailure>().is_some() {
            return Some(Self::DependencyFailure);
        }
        match status.as_u16() {
            408 | 504 => Some(Self::Timeout),
            502 | 503 => Some(Self::DependencyFailure),
            500..=599 => Some(Self::ServerError),
            400..=499 => Some(Self::ClientError),
            _ => None,
        }
    }

    /// The class of an error returned by the inner service instead of a response.
    pub(crate) fn of_error(error: &dyn Any) -> Self {
        if is_timeout(error) {
            Self::Timeout
        } else {
            Self::ServerError
        }
    }

    /// The class's name, as logged in `error.class` and set on the span as
    /// `pulsecheck.error.class`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::DependencyFailure => "dependency_failure",
            Self::Panic => "panic",
            Self::Cancelled => "cancelled",
        }
    }

    /// The level the access log line of such a request is written at.
    pub fn level(self) -> tracing::Level {
        match self {
            Self::ClientError => tracing::Level::INFO,
            Self::Timeout | Self::DependencyFailure | Self::Cancelled => tracing::Level::WARN,
            Self::ServerError | Self::Panic => tracing::Level::ERROR,
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// tower's `Timeout` and tokio's `timeout` errors, bare or boxed (tower's `BoxError`).
fn is_timeout(error: &dyn Any) -> bool {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let is = |e: &(dyn std::error::Error + 'static)| {
        e.is::<tower::timeout::error::Elapsed>() || e.is::<tokio::time::error::Elapsed>()
    };
    error.is::<tower::timeout::error::Elapsed>()
        || error.is::<tokio::time::error::Elapsed>()
        || error.downcast_ref::<BoxError>().is_some_and(|b| is(&**b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        let ext = Extensions::new();
        let of = |s: u16| ErrorClass::of(StatusCode::from_u16(s).unwrap(), &ext);
        for s in [200, 204, 301, 304] {
            assert_eq!(of(s), None, "{s}");
        }
        assert_eq!(of(400), Some(ErrorClass::ClientError));
        assert_eq!(of(404), Some(ErrorClass::ClientError));
        assert_eq!(of(408), Some(ErrorClass::Timeout));
        assert_eq!(of(500), Some(ErrorClass::ServerError));
        assert_eq!(of(502), Some(ErrorClass::DependencyFailure));
        assert_eq!(of(503), Some(ErrorClass::DependencyFailure));
        assert_eq!(of(504), Some(ErrorClass::Timeout));
    }

    #[test]
    fn the_marker_wins_over_the_status() {
        let mut ext = Extensions::new();
        ext.insert(DependencyFailure("postgres"));
        assert_eq!(
            ErrorClass::of(StatusCode::OK, &ext),
            Some(ErrorClass::DependencyFailure)
        );
        assert_eq!(
            ErrorClass::of(StatusCode::GATEWAY_TIMEOUT, &ext),
            Some(ErrorClass::DependencyFailure)
        );
    }

    #[test]
    fn timeout_errors_are_recognised_bare_and_boxed() {
        let bare = tower::timeout::error::Elapsed::new();
        assert_eq!(ErrorClass::of_error(&bare), ErrorClass::Timeout);
        let boxed: Box<dyn std::error::Error + Send + Sync> =
            Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(ErrorClass::of_error(&boxed), ErrorClass::Timeout);
        let other: Box<dyn std::error::Error + Send + Sync> = "refused".into();
        assert_eq!(ErrorClass::of_error(&other), ErrorClass::ServerError);
        assert_eq!(
            ErrorClass::of_error(&std::io::Error::other("x")),
            ErrorClass::ServerError
        );
    }
}
