//! The remediation ladder as a pure decision: given what a probe saw and what was already
//! tried, the next rung. restart (within the crash-loop cap) → rollback to the last
//! known-good release → give up (failed-to-heal). The gate still decides whether a rung is
//! allowed; a rung it refuses ends the ladder.

/// The next thing heal should do for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rung {
    /// Healthy and no open incident: nothing to do.
    Nothing,
    /// Healthy again with an open incident: resolve it.
    Resolve,
    /// Restart the serving release (`auto_heal`).
    Restart,
    /// Roll back to the last known-good release (`auto_heal` + `auto_rollback`); `why`
    /// says what led here (a failed restart, the crash-loop cap).
    Rollback { why: String },
    /// No rung left.
    GiveUp { why: String },
}

/// What is known about an environment when choosing a rung.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub healthy: bool,
    pub open_incident: bool,
    /// Restarts of the serving release in the last hour.
    pub restarts_last_hour: usize,
    pub max_restarts_per_hour: u32,
    /// A restart was tried in this run and the release is still unhealthy.
    pub restart_failed: bool,
    /// A rollback was tried in this run (whatever its outcome).
    pub rollback_tried: bool,
    /// An earlier healthy release exists to roll back to.
    pub known_good: bool,
}

pub fn next(s: &Situation) -> Rung {
    if s.healthy {
        return if s.open_incident {
            Rung::Resolve
        } else {
            Rung::Nothing
        };
    }
    let capped = s.restarts_last_hour >= s.max_restarts_per_hour as usize;
    if !s.restart_failed && !s.rollback_tried && !capped {
        return Rung::Restart;
    }
    if s.rollback_tried {
        return Rung::GiveUp {
            why: "the rollback did not bring the environment back".into(),
        };
    }
    let why = if s.restart_failed {
        "the restarted release is still unhealthy".to_string()
    } else {
        format!(
            "crash loop: the release was restarted {} time(s) in the last hour (cap {})",
            s.restarts_last_hour, s.max_restarts_per_hour
        )
    };
    if s.known_good {
        Rung::Rollback { why }
    } else {
        Rung::GiveUp {
            why: format!("{why}, and no earlier healthy release exists to roll back to"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sit() -> Situation {
        Situation {
            healthy: false,
            open_incident: false,
            restarts_last_hour: 0,
            max_restarts_per_hour: 3,
            restart_failed: false,
            rollback_tried: false,
            known_good: true,
        }
    }

    #[test]
    fn healthy_resolves_or_does_nothing() {
        let healthy = Situation {
            healthy: true,
            ..sit()
        };
        assert_eq!(next(&healthy), Rung::Nothing);
        assert_eq!(
            next(&Situation {
                open_incident: true,
                ..healthy
            }),
            Rung::Resolve
        );
    }

    #[test]
    fn restart_then_rollback_then_give_up() {
        assert_eq!(next(&sit()), Rung::Restart);
        let failed = Situation {
            restart_failed: true,
            ..sit()
        };
        assert!(matches!(next(&failed), Rung::Rollback { .. }));
        assert!(matches!(
            next(&Situation {
                rollback_tried: true,
                ..failed
            }),
            Rung::GiveUp { .. }
        ));
        assert!(matches!(
            next(&Situation {
                known_good: false,
                ..failed
            }),
            Rung::GiveUp { .. }
        ));
    }

    #[test]
    fn the_crash_loop_cap_escalates_to_rollback() {
        let looping = Situation {
            restarts_last_hour: 3,
            ..sit()
        };
        match next(&looping) {
            Rung::Rollback { why } => assert!(why.contains("crash loop"), "{why}"),
            other => panic!("expected a rollback, got {other:?}"),
        }
        assert_eq!(
            next(&Situation {
                restarts_last_hour: 2,
                ..sit()
            }),
            Rung::Restart
        );
    }
}
