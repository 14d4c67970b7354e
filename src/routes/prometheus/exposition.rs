//! The exposition writer: families one after the other in either format, from the
//! [catalogue](crate::catalogue). It knows the formats; the domain writers beside it know
//! only which figures to write.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::catalogue::{Kind, Metric};
use crate::routes::openmetrics::Format;
use crate::window::BucketExemplar;

/// Writes families one after the other: HELP and TYPE once, before the family's first
/// sample (a family without samples writes nothing), label values escaped, and a repeated
/// series dropped. Sample names are the same in both formats; OpenMetrics names a family
/// without its `_total` (counters) or `_info` suffix, adds `# UNIT` for a family with a unit,
/// exemplars, and `# EOF` ([`Exposition::finish`]).
pub(super) struct Exposition {
    pub(super) out: String,
    format: Format,
    /// The family whose header is still to be written, before its first sample.
    pending: Option<&'static Metric>,
    current: &'static str,
    series: HashSet<String>,
}

impl Exposition {
    pub(super) fn new(format: Format) -> Self {
        Self {
            out: String::with_capacity(16 * 1024),
            format,
            pending: None,
            current: "",
            series: HashSet::new(),
        }
    }

    /// The exposition, terminated as its format requires.
    pub(super) fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    /// Starts family `metric`; its header is written with its first sample.
    pub(super) fn family(&mut self, metric: &'static Metric) {
        self.pending = Some(metric);
        self.current = metric.name;
    }

    pub(super) fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut line = String::with_capacity(64);
        line.push_str(self.current);
        if !labels.is_empty() {
            line.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(k);
                line.push_str("=\"");
                escape_label_value(&mut line, v);
                line.push('"');
            }
            line.push('}');
        }
        if !self.series.insert(line.clone()) {
            tracing::debug!(target: "pulsecheck", series = %line, "duplicate series left out of /metrics");
            return;
        }
        self.header();
        self.out.push_str(&line);
        self.out.push(' ');
        push_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// A sample when there is a value; nothing otherwise.
    pub(super) fn opt(&mut self, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.sample(labels, v);
        }
    }

    /// One series per state, `key` after `labels`: 1 for `current`, 0 for the others (how a
    /// state machine is exposed, as `kube_pod_status_phase` does).
    pub(super) fn one_hot(
        &mut self,
        labels: &[(&str, &str)],
        key: &'static str,
        states: &[&str],
        current: &str,
    ) {
        let mut all = labels.to_vec();
        all.push((key, ""));
        for &state in states {
            if let Some(last) = all.last_mut() {
                *last = (key, state);
            }
            self.sample(&all, if state == current { 1.0 } else { 0.0 });
        }
    }

    /// The family's HELP and TYPE (and UNIT in OpenMetrics), before its first sample.
    fn header(&mut self) {
        let Some(m) = self.pending.take() else {
            return;
        };
        let name = m.name;
        if self.format == Format::Text {
            let kind = match m.kind {
                Kind::Gauge | Kind::Info => "gauge",
                Kind::Counter => "counter",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(self.out, "# HELP {name} {}\n# TYPE {name} {kind}", m.help);
            return;
        }
        let (family, kind) = match m.kind {
            Kind::Gauge => (name, "gauge"),
            Kind::Counter => (name.strip_suffix("_total").unwrap_or(name), "counter"),
            Kind::Histogram => (name, "histogram"),
            Kind::Info => (name.strip_suffix("_info").unwrap_or(name), "info"),
        };
        let _ = write!(self.out, "# HELP {family} ");
        escape_label_value(&mut self.out, m.help);
        let _ = writeln!(self.out, "\n# TYPE {family} {kind}");
        if let Some(unit) = m.unit.openmetrics() {
            let _ = writeln!(self.out, "# UNIT {family} {unit}");
        }
    }

    /// One histogram series: a cumulative `_bucket` per `le`, `_sum` and `_count`. The labels
    /// are escaped once for all its lines, and the series checked for repeats once. In
    /// OpenMetrics, a bucket with an exemplar carries it: `# {trace_id="…"} seconds unix-time`.
    pub(super) fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        les: &[String],
        buckets: &[u64],
        sum: f64,
        exemplars: &[Option<BucketExemplar>],
    ) {
        let mut l = String::with_capacity(96);
        for (k, v) in labels {
            l.push_str(k);
            l.push_str("=\"");
            escape_label_value(&mut l, v);
            l.push_str("\",");
        }
        let key = format!("{}{{{l}}}", self.current);
        if !self.series.insert(key) {
            tracing::debug!(target: "pulsecheck", series = %l, "duplicate histogram left out of /metrics");
            return;
        }
        self.header();
        let name = self.current;
        let mut cumulative = 0;
        for (i, (le, n)) in les.iter().zip(buckets).enumerate() {
            cumulative += n;
            let _ = write!(self.out, "{name}_bucket{{{l}le=\"{le}\"}} {cumulative}");
            if self.format == Format::OpenMetrics
                && let Some(x) = exemplars.get(i).copied().flatten()
            {
                push_exemplar(&mut self.out, &x);
            }
            self.out.push('\n');
        }
        l.pop();
        let _ = write!(self.out, "{name}_sum{{{l}}} ");
        push_value(&mut self.out, sum);
        let _ = writeln!(self.out, "\n{name}_count{{{l}}} {cumulative}");
    }
}

/// Escapes `\`, `"` and newline, as the text format requires in label values.
pub(super) fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// ` # {trace_id="<32 hex>"} <duration s> <unix s with ms>`, OpenMetrics' exemplar syntax.
fn push_exemplar(out: &mut String, x: &BucketExemplar) {
    let _ = write!(out, " # {{trace_id=\"{}\"}} ", x.trace_id);
    push_value(out, x.duration_ns as f64 / 1e9);
    let _ = write!(out, " {}.{:03}", x.unix_ms / 1000, x.unix_ms % 1000);
}

/// A sample value: `NaN`, `+Inf`, `-Inf` or the shortest decimal that reads back the same.
pub(super) fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Unit;

    const fn metric(name: &'static str, kind: Kind, help: &'static str) -> Metric {
        Metric::new(name, kind, Unit::None, help)
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut s = String::new();
        escape_label_value(&mut s, "/a\\b\"c\nd/{id}");
        assert_eq!(s, "/a\\\\b\\\"c\\nd/{id}");
    }

    #[test]
    fn repeated_series_are_written_once_and_empty_families_not_at_all() {
        static EMPTY: Metric = metric("x_empty", Kind::Gauge, "nothing");
        static X: Metric = metric("x", Kind::Counter, "help");
        let mut e = Exposition::new(Format::Text);
        e.family(&EMPTY);
        e.family(&X);
        e.sample(&[("a", "1")], 1.0);
        e.sample(&[("a", "1")], 2.0);
        e.sample(&[("a", "2")], f64::INFINITY);
        assert_eq!(
            e.out,
            "# HELP x help\n# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"2\"} +Inf\n"
        );
    }

    #[test]
    fn one_hot_marks_the_current_state_after_the_other_labels() {
        static S: Metric = metric("s", Kind::Gauge, "h");
        let mut e = Exposition::new(Format::Text);
        e.family(&S);
        e.one_hot(&[("check", "db")], "status", &["up", "down"], "down");
        assert_eq!(
            e.out,
            "# HELP s h\n# TYPE s gauge\ns{check=\"db\",status=\"up\"} 0\ns{check=\"db\",status=\"down\"} 1\n"
        );
    }
}
