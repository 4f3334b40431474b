//! Rolling updates on orchestrators (Swarm, Kubernetes): the one driver of a
//! `Strategy::RollingUpdate` plan. The orchestrator replaces replicas itself; this module
//! decides everything around that — gate the roll-out, and when it fails (or cannot even be
//! judged) roll the object forward again to the ledger's known-good digest and gate that —
//! so every orchestrator target reverts the same way and none relies on its orchestrator's
//! own rollback, which only knows "the previous spec".
use crate::deploy::health::{GateFailure, GateSpec};
use crate::deploy::plan::{Plan, Step};
use crate::deploy::release::{Release, Scope};
use crate::deploy::target::{Outcome, Phase, Progress};
use crate::error::{Error, ErrorCode, Result};

/// What one roll-out puts in place: a release's pinned image, and a mark unique to this
/// roll-out so that its replicas are told apart from earlier ones of the same release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub release_id: String,
    pub image: String,
    /// The pinned reference (`repo@sha256:…`), the ledger's digest for these targets.
    pub digest: String,
    pub mark: String,
}

impl Rollout {
    /// The roll-out of `release` itself.
    pub fn of(release: &Release) -> Rollout {
        Rollout {
            release_id: release.id.clone(),
            image: release.image.clone(),
            digest: release.digest.clone(),
            mark: release.id.clone(),
        }
    }

    /// Putting `digest` back after `plan`'s release failed: the replicas run for the release
    /// that served it before (the plan's `from`), under a mark of their own.
    fn revert(plan: &Plan, digest: &str) -> Rollout {
        let from = plan.from.as_ref().filter(|r| r.digest == digest);
        Rollout {
            release_id: from.map_or_else(|| plan.release.id.clone(), |r| r.id.clone()),
            image: from.map_or_else(|| digest.to_string(), |r| r.image.clone()),
            digest: digest.to_string(),
            mark: format!("{}-revert", plan.release.id),
        }
    }
}

/// An orchestrator's side of a rolling update.
pub trait Orchestrator {
    /// What a roll-out wrote: enough to gate it and to tell later whether it is still ours.
    type Written;

    /// Updates the object of `scope` to `rollout` (creating it where the target may).
    fn roll_out(
        &self,
        scope: &Scope,
        rollout: &Rollout,
        progress: &mut dyn Progress,
    ) -> Result<Self::Written>;

    /// Gates what `written` rolled out over every replica: `Ok(Ok(ms until ready))` or the
    /// failure; `Err` when the orchestrator cannot be asked.
    fn gate(
        &self,
        written: &Self::Written,
        spec: GateSpec,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, GateFailure>>;

    /// `AUTOSD-TARGET-CONFLICT` when someone else changed the object since `written`: their
    /// change is theirs to keep, so nothing is reverted over it.
    fn still_ours(&self, written: &Self::Written) -> Result<()>;

    /// Nothing was known-good: takes the failed release out of service.
    fn withdraw(&self, written: &Self::Written, progress: &mut dyn Progress) -> Result<()>;
}

/// Runs a rolling plan (deploy, promote and rollback alike): RollOut → HealthGate →
/// RevertOnFailure.
pub fn run(o: &impl Orchestrator, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
    if !plan.steps.iter().any(|s| matches!(s, Step::RollOut { .. })) {
        return Err(Error::new(
            ErrorCode::Internal,
            format!(
                "a {} plan must roll out: it has no RollOut step",
                plan.release.target
            ),
        ));
    }
    let known_good = plan.steps.iter().find_map(|s| match s {
        Step::RevertOnFailure { digest } => digest.clone(),
        _ => None,
    });
    let written = o.roll_out(&plan.scope, &Rollout::of(&plan.release), progress)?;
    let failure = match o.gate(&written, plan.gate, progress) {
        Ok(Ok(ms)) => return Ok(Outcome::Healthy { ready_after_ms: ms }),
        Ok(Err(failure)) => failure,
        Err(e) if e.code == ErrorCode::TargetConflict => return Err(e),
        // The gate could not finish (the orchestrator stopped answering): the release was
        // never proven, so try to put the known-good one back before reporting.
        Err(e) => {
            let what = match revert(o, plan, &written, known_good.as_deref(), true, progress) {
                Ok(true) => "the known-good release serves again".to_string(),
                Ok(false) => "nothing known-good serves".to_string(),
                Err(r) => format!("it could not be reverted either ({})", r.message),
            };
            return Err(Error {
                message: format!("{}; {what}", e.message),
                ..e
            });
        }
    };
    progress.phase(
        Phase::Switch,
        &format!(
            "release {} failed its gate: {}",
            plan.release.id,
            failure.describe()
        ),
    );
    // Interrupted: there are seconds left, not a gate's worth; the orchestrator finishes
    // rolling the known-good digest out on its own.
    let gate_it = !matches!(failure, GateFailure::Interrupted(_));
    let previous_serving = revert(o, plan, &written, known_good.as_deref(), gate_it, progress)?;
    Ok(Outcome::GateFailed {
        failure,
        previous_serving,
    })
}

/// After a failed gate: rolls `known_good` out again and, when `gate_it`, gates it (true if
/// it serves again, or was rolled out ungated); with none, withdraws the failed release.
/// Refuses when the object is no longer ours.
fn revert<O: Orchestrator>(
    o: &O,
    plan: &Plan,
    written: &O::Written,
    known_good: Option<&str>,
    gate_it: bool,
    progress: &mut dyn Progress,
) -> Result<bool> {
    o.still_ours(written)?;
    let Some(digest) = known_good else {
        o.withdraw(written, progress)?;
        return Ok(false);
    };
    let back = Rollout::revert(plan, digest);
    progress.phase(
        Phase::Switch,
        &format!(
            "rolling the known-good {digest} (release {}) out again",
            back.release_id
        ),
    );
    let written = o.roll_out(&plan.scope, &back, progress)?;
    if !gate_it {
        return Ok(true);
    }
    Ok(o.gate(&written, plan.gate, progress)?.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::ledger::tests::ledger_of;
    use crate::deploy::plan::tests::req;
    use crate::deploy::plan::{Request, Strategy, plan_deploy};
    use crate::deploy::release::Verdict;
    use crate::deploy::target::Quiet;
    use std::cell::RefCell;

    /// An orchestrator that records what it was asked and answers each gate from a script.
    #[derive(Default)]
    struct Scripted {
        gates: RefCell<Vec<Result<std::result::Result<u64, GateFailure>>>>,
        changed_elsewhere: bool,
        log: RefCell<Vec<String>>,
    }

    impl Orchestrator for Scripted {
        type Written = String;

        fn roll_out(&self, _: &Scope, r: &Rollout, _: &mut dyn Progress) -> Result<String> {
            self.log
                .borrow_mut()
                .push(format!("roll-out {} for {} ({})", r.digest, r.release_id, r.mark));
            Ok(r.digest.clone())
        }

        fn gate(
            &self,
            written: &String,
            _: GateSpec,
            _: &mut dyn Progress,
        ) -> Result<std::result::Result<u64, GateFailure>> {
            self.log.borrow_mut().push(format!("gate {written}"));
            self.gates.borrow_mut().remove(0)
        }

        fn still_ours(&self, _: &String) -> Result<()> {
            if self.changed_elsewhere {
                return Err(Error::new(ErrorCode::TargetConflict, "changed elsewhere"));
            }
            Ok(())
        }

        fn withdraw(&self, written: &String, _: &mut dyn Progress) -> Result<()> {
            self.log.borrow_mut().push(format!("withdraw {written}"));
            Ok(())
        }
    }

    fn plan(known_good: bool) -> Plan {
        let req = Request {
            target: "swarm".into(),
            strategy: Strategy::RollingUpdate,
            ..req()
        };
        let ledger = if known_good {
            ledger_of(&[("r1", "a", Verdict::Healthy)])
        } else {
            ledger_of(&[])
        };
        plan_deploy(&req, &ledger, "shop:v2", "sha256:b")
    }

    fn failed() -> Result<std::result::Result<u64, GateFailure>> {
        Ok(Err(GateFailure::NotReady("1/2 running".into())))
    }

    #[test]
    fn a_passed_gate_touches_nothing_else() {
        let o = Scripted {
            gates: RefCell::new(vec![Ok(Ok(40))]),
            ..Default::default()
        };
        let outcome = run(&o, &plan(true), &mut Quiet).expect("run");
        assert_eq!(outcome, Outcome::Healthy { ready_after_ms: 40 });
        assert_eq!(
            o.log.into_inner(),
            ["roll-out sha256:b for rnew (rnew)", "gate sha256:b"]
        );
    }

    #[test]
    fn a_failed_gate_rolls_the_known_good_release_out_again() {
        let o = Scripted {
            gates: RefCell::new(vec![failed(), Ok(Ok(10))]),
            ..Default::default()
        };
        let outcome = run(&o, &plan(true), &mut Quiet).expect("run");
        assert!(
            matches!(
                outcome,
                Outcome::GateFailed {
                    previous_serving: true,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(
            o.log.into_inner(),
            [
                "roll-out sha256:b for rnew (rnew)",
                "gate sha256:b",
                "roll-out sha256:a for r1 (rnew-revert)",
                "gate sha256:a"
            ]
        );
    }

    #[test]
    fn an_interrupted_gate_rolls_the_known_good_release_out_without_gating_it() {
        let o = Scripted {
            gates: RefCell::new(vec![Ok(Err(GateFailure::Interrupted("SIGTERM".into())))]),
            ..Default::default()
        };
        let outcome = run(&o, &plan(true), &mut Quiet).expect("run");
        assert!(
            matches!(
                outcome,
                Outcome::GateFailed {
                    failure: GateFailure::Interrupted(_),
                    previous_serving: true,
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(
            o.log.into_inner(),
            [
                "roll-out sha256:b for rnew (rnew)",
                "gate sha256:b",
                "roll-out sha256:a for r1 (rnew-revert)",
            ]
        );
    }

    #[test]
    fn nothing_known_good_withdraws_and_a_foreign_change_is_kept() {
        let o = Scripted {
            gates: RefCell::new(vec![failed()]),
            ..Default::default()
        };
        let outcome = run(&o, &plan(false), &mut Quiet).expect("run");
        assert!(matches!(
            outcome,
            Outcome::GateFailed {
                previous_serving: false,
                ..
            }
        ));
        assert_eq!(
            o.log.into_inner().last().map(String::as_str),
            Some("withdraw sha256:b")
        );

        let o = Scripted {
            gates: RefCell::new(vec![failed()]),
            changed_elsewhere: true,
            ..Default::default()
        };
        let e = run(&o, &plan(true), &mut Quiet).expect_err("conflict");
        assert_eq!(e.code, ErrorCode::TargetConflict);
        assert_eq!(
            o.log.into_inner().len(),
            2,
            "nothing rolled out over the other change"
        );
    }

    #[test]
    fn a_gate_that_cannot_finish_still_puts_the_known_good_release_back() {
        let o = Scripted {
            gates: RefCell::new(vec![
                Err(Error::new(ErrorCode::ClusterUnreachable, "connection reset")),
                Ok(Ok(5)),
            ]),
            ..Default::default()
        };
        let e = run(&o, &plan(true), &mut Quiet).expect_err("gate error");
        assert_eq!(e.code, ErrorCode::ClusterUnreachable);
        assert!(
            e.message.contains("the known-good release serves again"),
            "{}",
            e.message
        );
        assert!(
            o.log
                .into_inner()
                .contains(&"roll-out sha256:a for r1 (rnew-revert)".to_string())
        );
    }
}
