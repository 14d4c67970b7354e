//! Admin authentication: `Authorization: Bearer <token>` on every endpoint but the probes,
//! when a token is configured.
//!
//! The presented token and the configured one are both hashed with SHA-256 and the digests
//! compared in constant time, so neither the content nor the length of the secret leaks
//! through response timing. Failures answer 401 with `WWW-Authenticate: Bearer` and a body
//! that says nothing more; the audit log records them without the token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::layer::TrustedProxies;
use crate::layer::audit::{AuditKind, AuditLog, Origin};

/// The admin token's digest (never the token) and where denials are reported.
pub(crate) struct AdminAuth {
    digest: Option<[u8; 32]>,
    audit: AuditLog,
    trusted: Arc<TrustedProxies>,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("enabled", &self.digest.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a request is not authorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    Missing,
    Invalid,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl AdminAuth {
    /// `token` must already be validated (non-blank, visible ASCII).
    pub(crate) fn new(token: Option<&str>, audit: AuditLog, trusted: Arc<TrustedProxies>) -> Self {
        Self {
            digest: token.map(|t| digest(t.as_bytes())),
            audit,
            trusted,
        }
    }

    /// Whether a token is configured.
    pub(crate) fn enabled(&self) -> bool {
        self.digest.is_some()
    }

    /// `Ok` when no token is configured or the request carries the right one.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(expected) = &self.digest else {
            return Ok(());
        };
        let presented = bearer(headers).ok_or(Denied::Missing)?;
        if bool::from(digest(presented).ct_eq(expected)) {
            Ok(())
        } else {
            Err(Denied::Invalid)
        }
    }

    /// Records a denial in the audit log (rate-limited; never the token).
    pub(crate) fn report<B>(&self, denied: Denied, req: &http::Request<B>) {
        let kind = match denied {
            Denied::Missing => AuditKind::AuthMissing,
            Denied::Invalid => AuditKind::AuthInvalid,
        };
        let origin = Origin::of(req, &self.trusted);
        self.audit.admin_denied(kind, req.uri().path(), origin);
    }
}

/// The credentials of `Authorization: Bearer <credentials>` (scheme case-insensitive, RFC
/// 7235), `None` when absent or another scheme.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The 401 answer: no detail beyond what RFC 6750 requires.
pub(crate) fn unauthorized() -> Response {
    let mut r = super::json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({ "error": "unauthorized" }),
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Middleware for the admin routes.
pub(crate) async fn require_admin(
    State(auth): State<Arc<AdminAuth>>,
    req: Request,
    next: Next,
) -> Response {
    match auth.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(denied) => {
            auth.report(denied, &req);
            unauthorized()
        }
    }
}

/// Middleware for `/health/dashboard`: the page itself holds no data and a browser cannot
/// add a header when it navigates, so the page goes through and the JSON it fetches needs
/// the token. The handler decides page or JSON with the same function, so the two cannot
/// disagree.
pub(crate) async fn require_admin_for_data(
    state: State<Arc<AdminAuth>>,
    req: Request,
    next: Next,
) -> Response {
    if super::negotiate::wants_html(req.headers(), req.uri().query()) {
        return next.run(req).await;
    }
    require_admin(state, req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer(&headers("Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers("bearer   abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers("BEARER abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers("Bearer")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&headers("Bearerabc")), None);
        assert_eq!(bearer(&headers("Basic YWxhZGRpbjpvcGVuc2VzYW1l")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn check_compares_the_whole_token() {
        let auth = AdminAuth::new(Some("s3cret-token"), AuditLog::default(), Arc::default());
        assert!(auth.enabled());
        assert_eq!(auth.check(&headers("Bearer s3cret-token")), Ok(()));
        assert_eq!(auth.check(&headers("Bearer s3cret")), Err(Denied::Invalid));
        assert_eq!(
            auth.check(&headers("Bearer s3cret-token-and-more")),
            Err(Denied::Invalid)
        );
        assert_eq!(auth.check(&HeaderMap::new()), Err(Denied::Missing));
        let open = AdminAuth::new(None, AuditLog::default(), Arc::default());
        assert!(!open.enabled());
        assert_eq!(open.check(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn debug_shows_no_secret() {
        let auth = AdminAuth::new(Some("s3cret-token"), AuditLog::default(), Arc::default());
        let text = format!("{auth:?}");
        assert!(!text.contains("s3cret"), "{text}");
    }
}
