//! The rule file writer: YAML groups of recording and alerting rules, and the PromQL they
//! are made of (selectors, rates, the error rate), grouped by the `--by` labels and
//! restricted by `--selector` and the monitoring exclusion.

use std::fmt::Write as _;

use super::Source;

/// Where the error counts of [`Gen::error_rate`] come from.
pub(super) struct ErrorSeries {
    pub(super) source: Source,
    pub(super) requests: &'static str,
    /// `http_response_status_code=~"<errors>"`.
    pub(super) bad_status: String,
    /// Whether a request the client abandoned counts (`count_cancelled`).
    pub(super) cancelled: bool,
}

/// The rule file being written, and how its PromQL selects and groups series.
pub(super) struct Gen {
    /// The `by` labels, comma-separated.
    pub(super) by: String,
    /// Matchers every selector carries: `--selector`'s and the monitoring routes' exclusion.
    sel: String,
    pub(super) out: String,
}

impl Gen {
    /// An empty file grouping by `by`, every selector carrying `matchers`.
    pub(super) fn new(by: &[String], matchers: &[&str]) -> Self {
        Self {
            by: by.join(", "),
            sel: matchers_list(matchers),
            out: String::new(),
        }
    }

    /// `{sel,extra}` or `{extra}` or empty.
    fn m(&self, extra: &str) -> String {
        let list = matchers_list(&[&self.sel, extra]);
        if list.is_empty() {
            String::new()
        } else {
            format!("{{{list}}}")
        }
    }

    /// The rate of requests counted as errors. A direct scrape counts a request the client
    /// abandoned under status 499; the collector's OTLP-derived series carries it with
    /// `error_type="cancelled"` and no status code (the semantic conventions give a request
    /// with no response none), so with `count_cancelled` those series are added with `or`.
    pub(super) fn error_rate(
        &self,
        e: &ErrorSeries,
        extra: &str,
        w: &str,
        by_extra: &str,
    ) -> String {
        let series = e.requests;
        let status = self.m(&matchers_list(&[extra, &e.bad_status]));
        if e.source == Source::Collector && e.cancelled {
            let cancelled = self.m(&matchers_list(&[extra, "error_type=\"cancelled\""]));
            format!(
                "sum by ({}{by_extra}) (rate({series}{status}[{w}]) or rate({series}{cancelled}[{w}]))",
                self.by
            )
        } else {
            format!(
                "sum by ({}{by_extra}) (rate({series}{status}[{w}]))",
                self.by
            )
        }
    }

    pub(super) fn rate(&self, series: &str, extra: &str, w: &str, by_extra: &str) -> String {
        format!(
            "sum by ({}{by_extra}) (rate({series}{}[{w}]))",
            self.by,
            self.m(extra)
        )
    }

    /// Starts a rule group; `name` as YAML reads it (quote it with [`q`] where needed).
    pub(super) fn group(&mut self, name: &str) {
        let _ = writeln!(self.out, "  - name: {name}");
        let _ = writeln!(self.out, "    rules:");
    }

    /// PromQL as a literal block scalar: read as written, no escaping.
    fn expr(&mut self, expr: &str) {
        let _ = writeln!(self.out, "        expr: |-");
        for line in expr.lines() {
            let _ = writeln!(self.out, "          {line}");
        }
    }

    pub(super) fn record(&mut self, name: &str, expr: &str, labels: &[(&str, &str)]) {
        let _ = writeln!(self.out, "      - record: {name}");
        self.expr(expr);
        if !labels.is_empty() {
            let _ = writeln!(self.out, "        labels:");
            for (k, v) in labels {
                let _ = writeln!(self.out, "          {k}: {}", q(v));
            }
        }
    }

    pub(super) fn alert(
        &mut self,
        name: &str,
        expr: &str,
        severity: &str,
        labels: &[(&str, &str)],
        summary: &str,
        description: &str,
    ) {
        let _ = writeln!(self.out, "      - alert: {name}");
        self.expr(expr);
        let _ = writeln!(self.out, "        labels:");
        let _ = writeln!(self.out, "          severity: {}", q(severity));
        for (k, v) in labels {
            let _ = writeln!(self.out, "          {k}: {}", q(v));
        }
        let _ = writeln!(self.out, "        annotations:");
        let _ = writeln!(self.out, "          summary: {}", q(summary));
        let _ = writeln!(self.out, "          description: {}", q(description));
    }
}

/// The non-empty matchers of `matchers`, comma-separated.
fn matchers_list(matchers: &[&str]) -> String {
    matchers
        .iter()
        .filter(|m| !m.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// `s` as a YAML double-quoted scalar.
pub(super) fn q(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `s` with every character but ASCII letters and digits turned into `-`, lowercased.
pub(super) fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
