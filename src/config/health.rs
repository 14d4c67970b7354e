//! The `[health]` section: health groups by name and their members, checked when the file is
//! read (names, empty or repeated members); whether members are registered checks is decided
//! by [`crate::health`] when the checks are known. Here, not in `health`, so that the
//! configuration does not import the module it configures.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Longest group name.
const MAX_NAME: usize = 64;

/// The `[health]` section of `pulsecheck.toml`.
///
/// ```
/// use pulsecheck::config::PulseConfig;
/// let cfg = PulseConfig::from_toml_str("[health.groups.cache]\ninclude = [\"redis\"]\n").unwrap();
/// assert_eq!(cfg.health.groups["cache"].include, ["redis"]);
/// let bad = PulseConfig::from_toml_str("[health.groups.cache]\ninclude = []\n").unwrap_err();
/// assert!(bad.to_string().contains("health.groups.cache.include"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// Health groups by name (`[health.groups.NAME]`), each served at
    /// `GET /health/group/NAME`. Defaults to none.
    pub groups: BTreeMap<String, GroupSettings>,
}

/// One health group.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// The names of the checks in the group (at least one; each must be registered).
    pub include: Vec<String>,
}

/// Whether `name` can name a group: 1 to 64 letters, digits, `-`, `_` or `.`, so that it is
/// a URL path segment as it is.
pub fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl HealthSettings {
    /// The first problem as (field, reason): a name that cannot be a URL path segment, an
    /// empty or repeated member. Whether members exist is checked when checks are known.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        for (name, group) in &self.groups {
            let field = format!("health.groups.{name}");
            if !is_group_name(name) {
                return Some((
                    field,
                    format!(
                        "a group name is 1 to {MAX_NAME} letters, digits, `-`, `_` or `.` (it is a URL path segment)"
                    ),
                ));
            }
            if group.include.is_empty() {
                return Some((
                    format!("{field}.include"),
                    "must list at least one check".into(),
                ));
            }
            for (i, member) in group.include.iter().enumerate() {
                if group.include[..i].contains(member) {
                    return Some((
                        format!("{field}.include"),
                        format!("lists `{member}` twice"),
                    ));
                }
            }
        }
        None
    }
}
