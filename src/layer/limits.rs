//! Byte limits on the values the layer copies from requests (path, query, user agent, host,
//! unknown method) into span attributes and access-log fields.
//!
//! A client chooses these values: a 300 KB `User-Agent` would otherwise be copied whole into
//! every span, and with a slow collector thousands of such spans wait in the export queue (a
//! queue bounded in spans, not in bytes), and a batch of them outgrows the collector's message
//! limit. The OpenTelemetry SDK counts attributes but does not apply
//! `OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT`, so the layer applies them where it builds the values,
//! with a default cap when none is set.
//!
//! Limits are counted in bytes and values are cut on a character boundary, so a value is never
//! more than the limit in bytes, nor in characters (the specification's unit).

use crate::env::{
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT_DEFAULT as REQUEST_VALUE_LENGTH_LIMIT_DEFAULT,
    OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
};

/// The limits in force, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ValueLimits {
    /// Span attributes.
    pub(crate) span: usize,
    /// Access-log fields (stdout and OTLP log records).
    pub(crate) log: usize,
}

impl Default for ValueLimits {
    fn default() -> Self {
        Self {
            span: REQUEST_VALUE_LENGTH_LIMIT_DEFAULT,
            log: REQUEST_VALUE_LENGTH_LIMIT_DEFAULT,
        }
    }
}

impl ValueLimits {
    /// From the environment. A value that is not a number is ignored here (and reported by
    /// [`Telemetry::init`](crate::telemetry::TelemetryBuilder::init), which names it).
    pub(crate) fn from_env() -> Self {
        Self::resolve(|name| std::env::var(name).ok())
    }

    /// The signal's variable, else the general one, else the default.
    fn resolve(get: impl Fn(&str) -> Option<String>) -> Self {
        let read = |name: &str| get(name).and_then(|v| parse(&v).ok());
        let general = read(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT);
        let or_default = |specific: Option<usize>| {
            specific
                .or(general)
                .unwrap_or(REQUEST_VALUE_LENGTH_LIMIT_DEFAULT)
        };
        Self {
            span: or_default(read(OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT)),
            log: or_default(read(OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT)),
        }
    }
}

fn parse(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("`{value}` is not a length in bytes (a whole number)"))
}

/// The first variable with a value that is not a length, and why.
pub(crate) fn invalid_env() -> Option<(&'static str, String)> {
    [
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
        OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
        OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    ]
    .into_iter()
    .find_map(|name| {
        let value = std::env::var(name).ok()?;
        parse(&value).err().map(|reason| (name, reason))
    })
}

/// `s` cut to at most `max` bytes, at a character boundary. Borrowed: no copy.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters_within_the_byte_limit() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly", 7), "exactly");
        assert_eq!(truncate("abcdef", 3), "abc");
        // 'é' is 2 bytes, '€' 3, '🦀' 4: never split, never over the limit.
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("€€", 5), "€");
        assert_eq!(truncate("🦀x", 3), "");
        assert_eq!(truncate("🦀x", 4), "🦀");
        assert_eq!(truncate("x", 0), "");
        for max in 0..40 {
            let s = "aé€🦀".repeat(5);
            let t = truncate(&s, max);
            assert!(t.len() <= max && s.starts_with(t));
            // The longest such prefix: one more character would not fit.
            let next = s[t.len()..].chars().next().map_or(0, char::len_utf8);
            assert!(t.len() + next > max || t.len() == s.len());
        }
    }

    #[test]
    fn the_signal_limit_wins_over_the_general_one_and_bad_values_are_ignored() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            ValueLimits::resolve(move |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        assert_eq!(env(&[]), ValueLimits::default());
        assert_eq!(
            env(&[(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, "100")]),
            ValueLimits {
                span: 100,
                log: 100
            }
        );
        assert_eq!(
            env(&[
                (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, "100"),
                (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, "64"),
                (OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, "40000"),
            ]),
            ValueLimits {
                span: 64,
                log: 40_000
            }
        );
        assert_eq!(
            env(&[(OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, "lots")]),
            ValueLimits::default()
        );
        assert!(parse(" 12 ").is_ok());
        assert!(parse("-1").unwrap_err().contains("-1"));
    }
}
