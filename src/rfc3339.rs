//! Timestamps as every JSON answer writes them: RFC 3339, UTC, milliseconds.

use std::time::SystemTime;

use serde::Serializer;

/// `2026-11-27T19:56:20.181Z`.
pub(crate) fn format(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// For `#[serde(serialize_with = "crate::rfc3339::serialize")]`.
pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// For `Option<SystemTime>` fields: `null` when absent.
pub(crate) fn serialize_opt<S: Serializer>(
    t: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}
