//! Which exposition format a `/metrics` request gets: the Prometheus text format 0.0.4 by
//! default, OpenMetrics 1.0.0 (the one that carries exemplars) when the `Accept` header
//! prefers it, as Prometheus' scraper sends it:
//! `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`.
//!
//! The media range with the highest `q` wins, the earlier one on a tie; `q=0` refuses a range.
//! OpenMetrics counts only without a version or with `version=1.0.0`; anything else
//! (`text/plain`, `*/*`, an unknown type, no header, an unparsable one) gets 0.0.4, which
//! every Prometheus-compatible scraper reads.

use axum::http::{HeaderMap, header};

/// The content type of the Prometheus text format.
pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics text.
pub(crate) const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format `/metrics` renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Prometheus text format 0.0.4: the default.
    Text,
    /// OpenMetrics 1.0.0 text: `_total` counters named without it in `# TYPE`, `# UNIT`,
    /// exemplars on the request-duration buckets, `# EOF`.
    OpenMetrics,
}

impl Format {
    /// Both formats, in the render cache's order.
    pub(crate) const ALL: [Format; 2] = [Format::Text, Format::OpenMetrics];

    /// The response's `Content-Type`.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Text => TEXT_CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Index into [`Format::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The format the request's `Accept` headers prefer.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for value in headers.get_all(header::ACCEPT) {
            let Ok(value) = value.to_str() else {
                continue;
            };
            for range in value.split(',') {
                let Some((q, format)) = Self::of_range(range) else {
                    continue;
                };
                if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                    best = Some((q, format));
                }
            }
        }
        best.map_or(Self::Text, |(_, f)| f)
    }

    /// The format a media range asks for and its `q`; `None` for a range neither format
    /// serves.
    fn of_range(range: &str) -> Option<(f32, Self)> {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next()?.to_ascii_lowercase();
        let (mut q, mut version) = (1.0_f32, None);
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = v.parse().ok().filter(|q: &f32| (0.0..=1.0).contains(q))?,
                "version" => version = Some(v.to_owned()),
                _ => {}
            }
        }
        let format = match media.as_str() {
            "application/openmetrics-text" => match version.as_deref() {
                None | Some("1.0.0") => Self::OpenMetrics,
                Some(_) => return None,
            },
            "text/plain" => match version.as_deref() {
                None | Some("0.0.4") => Self::Text,
                Some(_) => return None,
            },
            "*/*" | "text/*" => Self::Text,
            _ => return None,
        };
        Some((q, format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn pick(accept: &[&str]) -> Format {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        Format::negotiate(&h)
    }

    #[test]
    fn prometheus_scrapers_get_openmetrics_and_everyone_else_the_text_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(pick(&[prometheus]), Format::OpenMetrics);
        assert_eq!(pick(&["application/openmetrics-text"]), Format::OpenMetrics);
        assert_eq!(
            pick(&["Application/OpenMetrics-Text; Version=\"1.0.0\""]),
            Format::OpenMetrics
        );
        assert_eq!(pick(&[]), Format::Text);
        assert_eq!(pick(&["*/*"]), Format::Text);
        assert_eq!(pick(&["text/plain"]), Format::Text);
        assert_eq!(pick(&["application/json"]), Format::Text);
        assert_eq!(pick(&["garbage;;;q=x,,"]), Format::Text);
        // q decides, the first listed on a tie.
        assert_eq!(
            pick(&[
                "application/openmetrics-text;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.9"
            ]),
            Format::Text
        );
        assert_eq!(
            pick(&["text/plain,application/openmetrics-text"]),
            Format::Text
        );
        // q=0 refuses; a version we do not serve is not a match.
        assert_eq!(
            pick(&["application/openmetrics-text;q=0,text/plain;q=0.1"]),
            Format::Text
        );
        assert_eq!(
            pick(&["application/openmetrics-text;version=0.0.1,text/plain;q=0.1"]),
            Format::Text
        );
        // Several Accept headers count as one list.
        assert_eq!(
            pick(&["text/plain;q=0.5", "application/openmetrics-text"]),
            Format::OpenMetrics
        );
    }
}
