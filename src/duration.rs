//! The one parser of durations written by people: `pulsecheck.toml` values (`for = "30s"`)
//! and duration variables (`PULSE_DRAIN_DELAY=500ms`) alike.

use std::time::Duration;

/// `30s`, `5m`, `1h 30m`, `500ms` (humantime's syntax) or a bare `0`; `None` otherwise.
/// Surrounding whitespace is ignored.
pub(crate) fn parse(s: &str) -> Option<Duration> {
    let s = s.trim();
    // humantime wants a unit on every number; "0" has an obvious meaning without one.
    if s == "0" {
        return Some(Duration::ZERO);
    }
    humantime::parse_duration(s).ok()
}

/// Deserializes a duration with [`parse`], naming an example in the error.
pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    use serde::Deserialize as _;
    let s = String::deserialize(d)?;
    parse(&s).ok_or_else(|| {
        serde::de::Error::custom(format!("`{s}` is not a duration such as `30s` or `5m`"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_zero_and_garbage() {
        assert_eq!(parse(" 1m30s "), Some(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("0s"), Some(Duration::ZERO));
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("5"), None);
        assert_eq!(parse(""), None);
    }
}
