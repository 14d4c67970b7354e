//! Health groups: a named subset of the checks served as its own probe
//! (`GET /health/group/{name}`, the gRPC service `group/{name}`), after Spring Boot's
//! `HealthEndpointGroup`: membership, plus who sees the details (here, as for `/health`,
//! whoever holds the admin token).
//!
//! A load balancer in front of the cache tier, a team's dashboard or a dependency class gets a
//! probe that fails when, and only when, its own dependencies fail. Inside a group every member
//! counts as critical whatever its own criticality: a group exists to answer "do these work?",
//! so a non-critical Redis that is down leaves `/health` 200 `degraded` and makes its group
//! 503. A member that warns leaves the group serving (200), as a warning does for `/health`.
//!
//! Groups come from `[health.groups.NAME]` in `pulsecheck.toml` and from
//! [`PulseBuilder::health_group`](crate::PulseBuilder::health_group); a member that names no
//! registered check stops start-up.

use std::collections::BTreeMap;

use super::report::{CheckReport, HealthReport};
use super::status::{HealthStatus, aggregate, contribution};
#[cfg(test)]
use crate::config::GroupSettings;
use crate::config::HealthSettings;

/// A group member that names no registered check.
#[derive(Debug, thiserror::Error)]
#[error(
    "health group `{group}` includes `{member}`, which is not a registered check (registered: {registered})"
)]
pub struct UnknownMember {
    /// The group.
    pub group: String,
    /// The name that matches no check.
    pub member: String,
    /// The registered checks, comma-separated.
    pub registered: String,
}

/// The groups of a [`Health`](super::Health): name to members, in declaration order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Groups(BTreeMap<String, Vec<String>>);

impl Groups {
    /// The groups of `settings`, each member checked against `checks`.
    pub(crate) fn new<'a>(
        settings: &HealthSettings,
        checks: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<Self, UnknownMember> {
        let mut groups = BTreeMap::new();
        for (name, group) in &settings.groups {
            if let Some(member) = group
                .include
                .iter()
                .find(|m| !checks.clone().any(|c| c == m.as_str()))
            {
                return Err(UnknownMember {
                    group: name.clone(),
                    member: member.clone(),
                    registered: checks.collect::<Vec<_>>().join(", "),
                });
            }
            groups.insert(name.clone(), group.include.clone());
        }
        Ok(Self(groups))
    }

    /// The group names, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether `name` is a group.
    #[cfg(feature = "grpc")]
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The members of group `name`.
    pub(crate) fn members(&self, name: &str) -> Option<&[String]> {
        self.0.get(name).map(Vec::as_slice)
    }

    /// Group `name` in `report`, or `None` for an unknown group.
    pub(crate) fn view(&self, name: &str, report: &HealthReport) -> Option<GroupView> {
        let members = self.0.get(name)?;
        let checks: Vec<CheckReport> = members
            .iter()
            .filter_map(|m| report.checks.iter().find(|c| &c.name == m).cloned())
            .collect();
        // Members count as critical inside their group.
        let status = aggregate(
            checks
                .iter()
                .map(|c| contribution(true, c.status(), c.circuit)),
        );
        Some(GroupView { status, checks })
    }
}

/// One group's state at one moment.
#[derive(Clone, Debug)]
pub(crate) struct GroupView {
    /// `healthy` while every member is up; `degraded` when one warns; `unhealthy` when one is
    /// down; `unknown` while one has no result yet.
    pub(crate) status: HealthStatus,
    /// The members, in the group's order (each with its own criticality).
    pub(crate) checks: Vec<CheckReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(groups: &[(&str, &[&str])]) -> HealthSettings {
        HealthSettings {
            groups: groups
                .iter()
                .map(|(n, m)| {
                    (
                        (*n).to_owned(),
                        GroupSettings {
                            include: m.iter().map(|s| (*s).to_owned()).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn names_must_be_path_segments_and_members_listed_once() {
        assert_eq!(settings(&[("cache", &["redis"])]).problem(), None);
        let (field, _) = settings(&[("a/b", &["redis"])]).problem().unwrap();
        assert_eq!(field, "health.groups.a/b");
        let (field, reason) = settings(&[("cache", &["redis", "redis"])])
            .problem()
            .unwrap();
        assert_eq!(field, "health.groups.cache.include");
        assert!(reason.contains("`redis` twice"), "{reason}");
    }

    #[test]
    fn unknown_members_name_the_group_and_the_member() {
        let s = settings(&[("cache", &["redis", "memcached"])]);
        let e = Groups::new(&s, ["redis", "postgres"].into_iter()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`cache`") && text.contains("`memcached`") && text.contains("postgres"),
            "{text}"
        );
        assert!(Groups::new(&s, ["redis", "memcached"].into_iter()).is_ok());
    }
}
