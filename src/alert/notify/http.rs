//! What the HTTP notifiers share: URL checks, one client setup, and the mapping of answers to
//! retryable or permanent errors.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::Url;

use super::text::snippet;
use super::{NotifyConfigError, NotifyError};

const USER_AGENT: &str = concat!("pulsecheck/", env!("CARGO_PKG_VERSION"));
/// How much of an error answer is read, for its first line.
const MAX_ERROR_BODY: usize = 4 * 1024;

/// An `http`/`https` URL with a host; the error names `name`, never the URL.
pub(crate) fn parse_url(
    name: impl Into<Cow<'static, str>>,
    raw: &str,
) -> Result<Url, NotifyConfigError> {
    let name = name.into();
    let invalid = |reason: String| NotifyConfigError::InvalidUrl {
        name: name.clone(),
        reason,
    };
    // url's messages name the problem ("relative URL without a base"), not the input.
    let url = Url::parse(raw.trim()).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(invalid(format!(
                "unsupported scheme `{other}` (use http or https)"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(url)
}

/// `scheme://host[:port]`: what logs and `Debug` show of a receiver.
pub(crate) fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// `base` with `suffix` appended to its path (`/prefix` + `/api/v2/alerts`).
pub(crate) fn join(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}{suffix}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// A client that follows no redirects (a secret in a URL or header must not travel to
/// another host) and gives up connecting after 5 s; the dispatcher bounds whole attempts.
pub(crate) fn client(name: &'static str) -> Result<reqwest::Client, NotifyConfigError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| NotifyConfigError::invalid(name, format!("HTTP client: {}", e.without_url())))
}

/// POSTs `body` as JSON to `url`; `shown` stands for the URL in errors.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &Url,
    shown: &str,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(), NotifyError> {
    let response = client
        .post(url.clone())
        .headers(headers)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(shown, e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let answer = read_some(response).await;
    let reason = if answer.is_empty() {
        format!("HTTP {} from {shown}", status.as_u16())
    } else {
        format!("HTTP {} from {shown}: {answer}", status.as_u16())
    };
    if retryable(status) {
        let err = NotifyError::retryable(reason);
        Err(match retry_after {
            Some(wait) => err.with_retry_after(wait),
            None => err,
        })
    } else {
        Err(NotifyError::permanent(reason))
    }
}

/// 408, 425, 429 and 5xx may pass; other answers will not change.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        )
}

/// Connection, TLS and timeout failures are retryable; a request that cannot be built is not.
fn transport_error(shown: &str, e: reqwest::Error) -> NotifyError {
    let builder = e.is_builder();
    // `without_url`: the URL holds the secret (Slack's path, a token in a query).
    let e = e.without_url();
    let text = crate::error_chain::error_chain(&e);
    let reason = format!("{shown}: {}", snippet(&text));
    if builder {
        NotifyError::permanent(reason)
    } else {
        NotifyError::retryable(reason)
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

/// The start of an error answer, for the log.
async fn read_some(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    snippet(&String::from_utf8_lossy(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_echoing_them() {
        let err = parse_url("PULSE_SLACK_WEBHOOK_URL", "hooks.slack.com/services/SECRET")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("PULSE_SLACK_WEBHOOK_URL: invalid URL"),
            "{err}"
        );
        assert!(!err.contains("SECRET"), "{err}");
        let err = parse_url("X", "ftp://h/SECRET")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("`ftp`") && !e.contains("SECRET")));
        assert!(parse_url("X", "http://").is_err());
        let url = parse_url("X", "https://u:p@am.internal:9093/prefix/?k=SECRET").unwrap();
        assert_eq!(origin(&url), "https://am.internal:9093");
        assert_eq!(
            join(&url, "/api/v2/alerts").as_str(),
            "https://u:p@am.internal:9093/prefix/api/v2/alerts?k=SECRET"
        );
        let bare = parse_url("X", "https://events.pagerduty.com").unwrap();
        assert_eq!(
            join(&bare, "/v2/enqueue").as_str(),
            "https://events.pagerduty.com/v2/enqueue"
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, SystemTime::now()), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            retry_after(&h, SystemTime::now()),
            Some(Duration::from_secs(7))
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        let before = httpdate::parse_http_date("Wed, 21 Oct 2015 07:27:30 GMT").unwrap();
        assert_eq!(retry_after(&h, before), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, SystemTime::now()), None);
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable(StatusCode::BAD_GATEWAY));
        assert!(!retryable(StatusCode::NOT_FOUND));
        assert!(!retryable(StatusCode::BAD_REQUEST));
    }
}
