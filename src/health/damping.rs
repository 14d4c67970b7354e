//! Flap damping: a passing check needs `failure_threshold` failures in a row to be reported
//! down, a failing one `success_threshold` successes in a row to be reported up again; the
//! first result counts at once. One bad probe does not page, one good probe does not clear.

use super::status::CheckStatus;

/// The probes in a row that passed or failed, of one check.
#[derive(Debug, Default)]
pub(super) struct Streak {
    failures: u32,
    successes: u32,
}

impl Streak {
    /// Counts a probe that `observed` a status, and returns the status to report after
    /// `from`, the one reported so far.
    pub(super) fn damp(
        &mut self,
        from: CheckStatus,
        observed: CheckStatus,
        failure_threshold: u32,
        success_threshold: u32,
    ) -> CheckStatus {
        if observed.is_ok() {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        match from {
            CheckStatus::Unknown => observed,
            CheckStatus::Up | CheckStatus::Warn if !observed.is_ok() => {
                if self.failures >= failure_threshold {
                    observed
                } else {
                    from
                }
            }
            CheckStatus::Down if observed.is_ok() => {
                if self.successes >= success_threshold {
                    observed
                } else {
                    CheckStatus::Down
                }
            }
            _ => observed,
        }
    }

    /// Failures in a row.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::{Down, Unknown, Up, Warn};

    #[test]
    fn thresholds_hold_a_status_until_enough_probes_in_a_row_disagree() {
        let mut s = Streak::default();
        // The first result counts at once.
        assert_eq!(s.damp(Unknown, Up, 3, 2), Up);
        // Two failures stay up; the third goes down.
        assert_eq!(s.damp(Up, Down, 3, 2), Up);
        assert_eq!(s.damp(Up, Down, 3, 2), Up);
        assert_eq!(s.damp(Up, Down, 3, 2), Down);
        assert_eq!(s.failures(), 3);
        // One success stays down; a failure resets the count; two in a row come back.
        assert_eq!(s.damp(Down, Up, 3, 2), Down);
        assert_eq!(s.damp(Down, Down, 3, 2), Down);
        assert_eq!(s.damp(Down, Up, 3, 2), Down);
        assert_eq!(s.damp(Down, Warn, 3, 2), Warn);
        assert_eq!(s.failures(), 0);
        // Between passing statuses nothing is held.
        assert_eq!(s.damp(Warn, Up, 3, 2), Up);
    }
}
