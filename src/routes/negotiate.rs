//! Content negotiation for `/health/dashboard`: the HTML page for a browser, the JSON for
//! everything else. The admin auth layer asks it too, to let a browser's navigation through.

use http::{HeaderMap, header};

/// Whether a request to `/health/dashboard` gets the HTML page rather than the JSON.
///
/// The page itself carries no data (it fetches the JSON with the bearer token), so an admin
/// auth layer can let these requests through: a browser cannot add an `Authorization` header
/// when it navigates.
pub(crate) fn wants_html(headers: &HeaderMap, query: Option<&str>) -> bool {
    let format = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("format="));
    match format {
        Some("html") => true,
        Some(_) => false,
        None => accepts_html(headers),
    }
}

/// `text/html` named in `Accept` with a weight at least that of `application/json`.
fn accepts_html(headers: &HeaderMap) -> bool {
    let mut html: Option<f32> = None;
    let mut json: Option<f32> = None;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match media.as_str() {
                "text/html" => &mut html,
                "application/json" => &mut json,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |s| s.max(q)));
        }
    }
    match html {
        Some(h) if h > 0.0 => json.is_none_or(|j| h >= j),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn browsers_get_html_and_everything_else_json() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                      image/webp,*/*;q=0.8";
        assert!(wants_html(&accept(chrome), None));
        assert!(!wants_html(&accept("*/*"), None));
        assert!(!wants_html(&HeaderMap::new(), None));
        assert!(!wants_html(&accept("application/json"), None));
        assert!(!wants_html(
            &accept("application/json, text/html;q=0.5"),
            None
        ));
        assert!(wants_html(
            &accept("text/html;q=0.9, application/json;q=0.9"),
            None
        ));
        assert!(!wants_html(&accept("text/html;q=0"), None));
        assert!(!wants_html(&accept(chrome), Some("window=1m&format=json")));
        assert!(wants_html(&accept("*/*"), Some("format=html")));
    }
}
