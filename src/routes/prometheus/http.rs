//! Requests since the process started: a histogram per route and method (status left out:
//! route × method × 15 buckets is already the largest family), and a counter per route,
//! method and status code, for `rate()` and `histogram_quantile()`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::exposition::{Exposition, push_value};
use crate::catalogue::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};
use crate::layer::DURATION_BOUNDARIES;
use crate::window::{DURATION_BUCKETS, RouteMethodTotals};

/// `le` label values, the semantic-convention boundaries formatted once.
fn le_labels() -> &'static [String; DURATION_BUCKETS] {
    static LABELS: OnceLock<[String; DURATION_BUCKETS]> = OnceLock::new();
    LABELS.get_or_init(|| {
        std::array::from_fn(|i| match DURATION_BOUNDARIES.get(i) {
            Some(b) => {
                let mut s = String::new();
                push_value(&mut s, *b);
                s
            }
            None => "+Inf".to_owned(),
        })
    })
}

pub(super) fn write(e: &mut Exposition, totals: &[RouteMethodTotals]) {
    e.family(&HTTP_REQUEST_DURATION);
    let les = le_labels();
    for t in totals {
        e.histogram(
            &[
                ("http_route", &t.route),
                ("http_request_method", t.method.as_str()),
            ],
            les,
            &t.totals.buckets,
            t.totals.sum_seconds(),
            &t.totals.exemplars,
        );
    }
    e.family(&HTTP_REQUESTS);
    let mut code = String::with_capacity(4);
    for t in totals {
        for (status, n) in &t.totals.status_codes {
            code.clear();
            let _ = write!(code, "{status}");
            e.sample(
                &[
                    ("http_route", &t.route),
                    ("http_request_method", t.method.as_str()),
                    ("http_response_status_code", &code),
                ],
                *n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Kind, Metric, Unit};
    use crate::routes::openmetrics::Format;
    use crate::window::BucketExemplar;

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
        use crate::layer::HttpMethod;
        use crate::window::{RequestTotals, StatusLabel};
        let mut t = RequestTotals::default();
        t.buckets[0] = 2;
        t.buckets[3] = 1;
        t.buckets[DURATION_BUCKETS - 1] = 1;
        t.sum_us = 12_500_000;
        t.status_codes.insert(StatusLabel::Code(200), 3);
        t.status_codes.insert(StatusLabel::Class(5), 1);
        let mut e = Exposition::new(Format::Text);
        write(
            &mut e,
            &[RouteMethodTotals {
                route: "/a/\"{id}\"".into(),
                method: HttpMethod::Get,
                totals: t,
            }],
        );
        let h = "pulsecheck_http_server_request_duration_seconds";
        let l = r#"http_route="/a/\"{id}\"",http_request_method="GET""#;
        for line in [
            format!("# TYPE {h} histogram\n"),
            format!("{h}_bucket{{{l},le=\"0.005\"}} 2\n"),
            format!("{h}_bucket{{{l},le=\"0.025\"}} 2\n"),
            format!("{h}_bucket{{{l},le=\"0.05\"}} 3\n"),
            format!("{h}_bucket{{{l},le=\"10\"}} 3\n"),
            format!("{h}_bucket{{{l},le=\"+Inf\"}} 4\n"),
            format!("{h}_sum{{{l}}} 12.5\n"),
            format!("{h}_count{{{l}}} 4\n"),
            "# TYPE pulsecheck_http_server_requests_total counter\n".to_owned(),
            format!(
                "pulsecheck_http_server_requests_total{{{l},http_response_status_code=\"200\"}} 3\n"
            ),
            format!(
                "pulsecheck_http_server_requests_total{{{l},http_response_status_code=\"5xx\"}} 1\n"
            ),
        ] {
            assert!(e.out.contains(&line), "missing {line:?} in\n{}", e.out);
        }
        assert_eq!(e.out.matches("_bucket{").count(), DURATION_BUCKETS);
    }

    #[test]
    fn openmetrics_names_families_without_total_adds_units_exemplars_and_eof() {
        use crate::layer::HttpMethod;
        use crate::window::{RequestTotals, StatusLabel};
        use opentelemetry::trace::TraceId;
        static X_INFO: Metric = Metric::new("x_info", Kind::Info, Unit::None, "a \"quoted\" help");
        let mut t = RequestTotals::default();
        t.buckets[3] = 2;
        t.sum_us = 80_000;
        t.status_codes.insert(StatusLabel::Code(200), 2);
        let trace = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        t.exemplars[3] = Some(BucketExemplar {
            trace_id: trace,
            duration_ns: 40_000_000,
            unix_ms: 1_733_356_800_042,
        });
        let totals = [RouteMethodTotals {
            route: "/a".into(),
            method: HttpMethod::Get,
            totals: t,
        }];
        let mut e = Exposition::new(Format::OpenMetrics);
        e.family(&X_INFO);
        e.sample(&[("v", "1")], 1.0);
        write(&mut e, &totals);
        let om = e.finish();
        let h = "pulsecheck_http_server_request_duration_seconds";
        let l = r#"http_route="/a",http_request_method="GET""#;
        for line in [
            "# HELP x a \\\"quoted\\\" help\n# TYPE x info\nx_info{v=\"1\"} 1\n".to_owned(),
            format!("# TYPE {h} histogram\n# UNIT {h} seconds\n"),
            format!("{h}_bucket{{{l},le=\"0.025\"}} 0\n"),
            format!(
                "{h}_bucket{{{l},le=\"0.05\"}} 2 # {{trace_id=\"0af7651916cd43dd8448eb211c80319c\"}} 0.04 1733356800.042\n"
            ),
            format!("{h}_bucket{{{l},le=\"+Inf\"}} 2\n"),
            "# TYPE pulsecheck_http_server_requests counter\n".to_owned(),
            format!(
                "pulsecheck_http_server_requests_total{{{l},http_response_status_code=\"200\"}} 2\n"
            ),
        ] {
            assert!(om.contains(&line), "missing {line:?} in\n{om}");
        }
        assert!(om.ends_with("\n# EOF\n"), "{om}");
        assert_eq!(om.matches(" # {").count(), 1, "{om}");

        // The text format: same samples, no exemplar, no UNIT, no EOF.
        let mut e = Exposition::new(Format::Text);
        write(&mut e, &totals);
        let text = e.finish();
        assert!(!text.contains(" # {"), "{text}");
        assert!(
            !text.contains("# UNIT") && !text.contains("# EOF"),
            "{text}"
        );
        assert!(text.contains("# TYPE pulsecheck_http_server_requests_total counter\n"));
        assert!(text.contains(&format!("{h}_bucket{{{l},le=\"0.05\"}} 2\n")));
    }
}
