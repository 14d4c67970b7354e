//! `pulsecheck load`'s client-vs-service comparison, over the same requests: the service's
//! cumulative totals (`/metrics`, `pulsecheck_http_server_requests_total` and the duration
//! histogram's sum and count) for the loaded route template and method, read just before and
//! just after the run, and their difference. Not the service-wide window, which mixes other
//! routes and earlier traffic.
//!
//! When the service cannot tell (no token, no totals, no route matching the URL, more
//! requests on the route than this run sent) the comparison says so instead of showing
//! figures that describe other requests.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::load::LoadReport;
use crate::paint::{Paint, ms, thousands};

const REQUESTS_TOTAL: &str = "pulsecheck_http_server_requests_total";
const DURATION: &str = "pulsecheck_http_server_request_duration_seconds";
/// The route name the service gives requests no route matched.
const UNMATCHED: &str = "(unmatched)";

/// One route and method's cumulative figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RouteTotals {
    /// Requests by status code (or class, past a route's first codes).
    statuses: BTreeMap<String, f64>,
    /// Seconds spent, summed.
    sum_s: f64,
    /// Requests in the duration histogram.
    count: f64,
}

/// The service's cumulative totals by (route template, method).
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals(HashMap<(String, String), RouteTotals>);

impl Totals {
    /// Parses the Prometheus text exposition; `None` when it holds no pulsecheck family (not
    /// a pulsecheck service).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut out: HashMap<(String, String), RouteTotals> = HashMap::new();
        let mut seen = false;
        for line in text.lines() {
            // A service that has served nothing yet has no totals, but its other families
            // (`pulsecheck_build_info`) say it is one.
            if line.starts_with("pulsecheck_") || line.starts_with("# TYPE pulsecheck_") {
                seen = true;
            }
            let Some((name, labels, value)) = sample(line) else {
                continue;
            };
            let family = match name {
                REQUESTS_TOTAL => 0,
                n if n == format!("{DURATION}_sum") => 1,
                n if n == format!("{DURATION}_count") => 2,
                _ => continue,
            };
            let label = |k: &str| {
                labels
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let t = out
                .entry((label("http_route"), label("http_request_method")))
                .or_default();
            match family {
                0 => {
                    *t.statuses
                        .entry(label("http_response_status_code"))
                        .or_default() += value;
                }
                1 => t.sum_s += value,
                _ => t.count += value,
            }
        }
        seen.then_some(Self(out))
    }

    fn get(&self, route: &str, method: &str) -> RouteTotals {
        self.0
            .get(&(route.to_owned(), method.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    fn routes(&self, method: &str) -> Vec<&str> {
        let mut r: Vec<&str> = self
            .0
            .keys()
            .filter(|(_, m)| m == method)
            .map(|(r, _)| r.as_str())
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    }
}

/// A sample's label pairs, in order.
type Labels = Vec<(String, String)>;

/// `name{a="x",b="y"} 12` -> (name, labels, 12).
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (n, v) = line.split_once(' ')?;
            return Some((n, Vec::new(), v.trim().parse().ok()?));
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest.char_indices().peekable();
    loop {
        // key
        let start = chars.peek()?.0;
        let mut key_end = start;
        for (i, c) in chars.by_ref() {
            if c == '=' {
                key_end = i;
                break;
            }
        }
        let key = rest[start..key_end].trim_start_matches(',').to_owned();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            let (_, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key, value));
        match chars.next()? {
            (_, ',') if chars.peek().is_some_and(|(_, c)| *c == '}') => {
                let (i, _) = chars.next()?;
                return Some((name, labels, value_after(&rest[i + 1..])?));
            }
            (_, ',') => {}
            (i, '}') => return Some((name, labels, value_after(&rest[i + 1..])?)),
            _ => return None,
        }
    }
}

fn value_after(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

/// Whether `path` is served by the route `template` (`/api/courses/{id}`, `/files/{*rest}`).
fn matches(template: &str, path: &str) -> bool {
    let mut t = template.trim_start_matches('/').split('/');
    let mut p = path.trim_start_matches('/').split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(_)) if ts.starts_with("{*") => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The service's side of the comparison.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ServiceSide {
    /// The same requests, counted by the service.
    Compared(Box<Compared>),
    /// The service cannot tell; why, in a sentence.
    Unavailable {
        /// Why there are no service figures for these requests.
        unavailable: String,
    },
}

/// The service's figures for the loaded route and method over the run.
#[derive(Debug, Serialize)]
pub(crate) struct Compared {
    /// Where the figures come from.
    source: &'static str,
    /// The route template the loaded URL is served by.
    route: String,
    /// The loaded method.
    method: String,
    /// Requests the service counted on that route and method during the run.
    requests: u64,
    /// The same by status code.
    status_codes: BTreeMap<String, u64>,
    /// 5xx among them.
    errors_5xx: u64,
    /// `errors_5xx / requests`.
    error_rate_5xx: f64,
    /// Mean duration, from the histogram's sum and count.
    mean_ms: Option<f64>,
    /// Percentiles from the route's window, only when that window holds exactly this run's
    /// requests.
    latency_ms: Option<BTreeMap<&'static str, f64>>,
    /// Whether the counts are this run's requests alone (`false`: other traffic on the route).
    only_this_run: bool,
    /// What to keep in mind reading the figures.
    notes: Vec<String>,
}

/// What the run can be compared with: the inputs read around it.
pub(crate) struct Around<'a> {
    pub(crate) before: &'a Totals,
    pub(crate) after: &'a Totals,
    /// `/health/metrics?window=W` after the run, if read.
    pub(crate) window: Option<&'a serde_json::Value>,
    /// The window's length in seconds.
    pub(crate) window_s: f64,
    pub(crate) path: &'a str,
    pub(crate) method: &'a str,
}

/// The service's view of the same requests, or why there is none.
pub(crate) fn compare(r: &LoadReport, a: &Around<'_>) -> ServiceSide {
    let unavailable = |s: String| ServiceSide::Unavailable { unavailable: s };
    let delta = |route: &str| {
        let (b, after) = (a.before.get(route, a.method), a.after.get(route, a.method));
        let total = |t: &RouteTotals| t.statuses.values().sum::<f64>();
        (total(&after) - total(&b)).max(0.0)
    };
    let matching: Vec<&str> = a
        .after
        .routes(a.method)
        .into_iter()
        .filter(|t| matches(t, a.path) && delta(t) > 0.0)
        .collect();
    let mut notes = Vec::new();
    let route = match matching.as_slice() {
        [one] => (*one).to_owned(),
        [] if delta(UNMATCHED) > 0.0 => {
            notes.push(format!(
                "no route of the service matches {}: its requests are counted as {UNMATCHED}, shared by every path no route matches",
                a.path
            ));
            UNMATCHED.to_owned()
        }
        [] => {
            return unavailable(format!(
                "the service counted no {} request on a route matching {} during the run",
                a.method, a.path
            ));
        }
        many => {
            return unavailable(format!(
                "several of the service's routes match {} ({}): it cannot tell which served this run",
                a.path,
                many.join(", ")
            ));
        }
    };
    let (before, after) = (
        a.before.get(&route, a.method),
        a.after.get(&route, a.method),
    );
    let mut status_codes = BTreeMap::new();
    for (code, n) in &after.statuses {
        let d = (n - before.statuses.get(code).copied().unwrap_or(0.0)).max(0.0);
        if d > 0.0 {
            status_codes.insert(code.clone(), d.round() as u64);
        }
    }
    let requests: u64 = status_codes.values().sum();
    let errors_5xx: u64 = status_codes
        .iter()
        .filter(|(c, _)| c.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    let count = after.count - before.count;
    let mean_ms = (count > 0.0).then(|| (after.sum_s - before.sum_s) / count * 1e3);

    // What this run may have put on the route: measured, warm-up and cut-off requests.
    let sent = r.requests + r.warmup_requests + r.aborted;
    let only_this_run = requests <= sent;
    if !only_this_run {
        notes.push(format!(
            "other traffic on {} {route}: the service counted {} requests, this run sent at most {}; the service figures include them",
            a.method,
            thousands(requests),
            thousands(sent)
        ));
    } else if requests < r.answered() {
        notes.push(format!(
            "the service counted {} of the {} answered requests",
            thousands(requests),
            thousands(r.answered())
        ));
    }
    if r.warmup_requests > 0 {
        notes.push(format!(
            "the service's counts include the {} warm-up requests",
            thousands(r.warmup_requests)
        ));
    }
    let window_route = a
        .window
        .and_then(|w| w.get("routes"))
        .and_then(|routes| routes.get(&route));
    let window_requests = window_route
        .and_then(|w| w.get("requests"))
        .and_then(serde_json::Value::as_u64);
    let fits = r.duration_s + 2.0 < a.window_s;
    let latency_ms = match window_route.and_then(|w| w.get("latency_ms")) {
        Some(l) if only_this_run && fits && window_requests == Some(requests) => Some(
            ["p50", "p95", "p99", "max"]
                .into_iter()
                .filter_map(|k| Some((k, l.get(k)?.as_f64()?)))
                .collect(),
        ),
        _ => {
            notes.push(
                "no service percentiles: its window for this route also holds requests from outside the run"
                    .to_owned(),
            );
            None
        }
    };
    ServiceSide::Compared(Box::new(Compared {
        source: "/metrics",
        route,
        method: a.method.to_owned(),
        requests,
        status_codes,
        errors_5xx,
        error_rate_5xx: if requests > 0 {
            errors_5xx as f64 / requests as f64
        } else {
            0.0
        },
        mean_ms,
        latency_ms,
        only_this_run,
        notes,
    }))
}

/// The "Client vs service" section of the text report.
pub(crate) fn render(o: &mut String, r: &LoadReport, side: &ServiceSide, p: Paint) {
    use std::fmt::Write as _;
    let c = match side {
        ServiceSide::Unavailable { unavailable } => {
            let _ = writeln!(o, "\n{}", p.bold("Client vs service"));
            let _ = writeln!(
                o,
                "  {}",
                p.yellow(format!("no service figures: {unavailable}"))
            );
            return;
        }
        ServiceSide::Compared(c) => c,
    };
    let _ = writeln!(
        o,
        "\n{}  {}",
        p.bold("Client vs service"),
        p.dim(format!(
            "(same requests: {} {}, the service's totals just before and after the run)",
            c.method, c.route
        ))
    );
    let row = |o: &mut String, label: &str, client: String, service: String| {
        let _ = writeln!(o, "  {label:<14}{client:>14}{service:>16}");
    };
    row(o, "", "client".into(), "service".into());
    row(
        o,
        "requests",
        thousands(r.requests),
        format!(
            "{}{}",
            thousands(c.requests),
            if c.only_this_run { "" } else { " (+others)" }
        ),
    );
    let client_5xx: u64 = r
        .status_codes
        .iter()
        .filter(|(code, _)| code.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    let pct = |n: u64, of: u64| {
        if of == 0 {
            "-".to_owned()
        } else {
            format!("{:.2} %", n as f64 * 100.0 / of as f64)
        }
    };
    row(
        o,
        "5xx",
        pct(client_5xx, r.requests),
        pct(c.errors_5xx, c.requests),
    );
    row(
        o,
        "failed",
        pct(r.requests - r.answered(), r.requests),
        "-".into(),
    );
    let l = r.latency_ms.as_ref();
    row(
        o,
        "mean ms",
        l.map_or("-".into(), |l| ms(l.mean)),
        c.mean_ms.map_or("-".into(), ms),
    );
    for key in ["p50", "p95", "p99", "max"] {
        let client = l.map(|l| match key {
            "p50" => l.p50,
            "p95" => l.p95,
            "p99" => l.p99,
            _ => l.max,
        });
        let service = c.latency_ms.as_ref().and_then(|m| m.get(key).copied());
        row(
            o,
            &format!("{key} ms"),
            client.map_or("-".into(), ms),
            service.map_or("-".into(), ms),
        );
    }
    for n in &c.notes {
        let _ = writeln!(o, "  {}", p.dim(format!("note: {n}")));
    }
    let _ = writeln!(
        o,
        "  {}",
        p.dim("the service's time excludes the network and the client's queueing")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_paths() {
        assert!(matches("/api/courses/{id}", "/api/courses/42"));
        assert!(matches("/api/courses", "/api/courses"));
        assert!(!matches("/api/courses", "/api/courses/42"));
        assert!(!matches("/api/courses/{id}", "/api/courses"));
        assert!(!matches("/api/courses/{id}", "/api/courses/"));
        assert!(matches("/files/{*rest}", "/files/a/b/c"));
        assert!(matches("/", "/"));
        assert!(!matches("/api/{id}/x", "/api/1/y"));
    }

    #[test]
    fn exposition_samples_parse_with_escapes() {
        let text = r#"# TYPE pulsecheck_http_server_requests_total counter
pulsecheck_http_server_requests_total{http_route="/a/{id}",http_request_method="GET",http_response_status_code="200"} 3
pulsecheck_http_server_requests_total{http_route="/q\"x\\y",http_request_method="GET",http_response_status_code="5xx"} 1
pulsecheck_http_server_request_duration_seconds_sum{http_route="/a/{id}",http_request_method="GET"} 0.5
pulsecheck_http_server_request_duration_seconds_count{http_route="/a/{id}",http_request_method="GET"} 4
pulsecheck_uptime_seconds 12
"#;
        let t = Totals::parse(text).unwrap();
        let a = t.get("/a/{id}", "GET");
        assert_eq!(a.statuses["200"], 3.0);
        assert_eq!((a.sum_s, a.count), (0.5, 4.0));
        assert_eq!(t.get("/q\"x\\y", "GET").statuses["5xx"], 1.0);
        assert!(Totals::parse("ok").is_none());
        let empty = Totals::parse("pulsecheck_build_info{service=\"a\"} 1\n");
        assert!(empty.is_some_and(|t| t.0.is_empty()));
        assert!(Totals::parse("foo{a=\"b\"} 1\n").is_none());
    }
}
