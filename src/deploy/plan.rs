//! Plans: what a deploy, rollback or promotion will do, built by pure functions from the
//! ledger and the facts a target reported (resolved digest, retained releases). Tests check
//! plans without any engine; `--dry-run` prints them; the executor runs them step by step.
use crate::deploy::health::GateSpec;
use crate::deploy::ledger::Ledger;
use crate::deploy::release::{Origin, Release, Scope, Verdict, Who};
use crate::error::{Error, ErrorCode, Result};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Deploy,
    Rollback,
    Promote,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Deploy => "deploy",
            PlanKind::Rollback => "rollback",
            PlanKind::Promote => "promote",
        }
    }
}

/// How a target replaces what serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One host: start the new release beside the serving one, gate it, then switch
    /// (docker, generic_container).
    #[default]
    Candidate,
    /// An orchestrator (Swarm, Kubernetes) replaces replicas in place by its own rolling
    /// update; autosd gates the result and, if it fails, rolls the object forward again to
    /// the known-good digest from the ledger. The orchestrator's own rollback is never used.
    RollingUpdate,
}

/// One step, in execution order. Lock and ledger steps run in the executor; the rest in
/// the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    AcquireLock,
    /// Mark releases left `pending` by a process that died mid-operation as failed, and let
    /// the target remove their leftover candidates.
    RecoverInterrupted {
        release_ids: Vec<String>,
    },
    RecordStart,
    /// Start the new release beside the serving one, without taking its ports.
    StartCandidate {
        digest: String,
    },
    /// Nothing serves, so nothing needs protecting: start the release on its own ports and
    /// gate it there (no candidate, no switch).
    StartRelease {
        digest: String,
    },
    /// Stop the serving release (kept for rollback), so a retained one can take its ports.
    StopServing {
        release_id: Option<String>,
    },
    /// Start the stopped, retained container of an earlier release: no pull, no create.
    RestartRetained {
        release_id: String,
    },
    /// Update the orchestrator's object (service, Deployment) to `digest`, created if
    /// missing; the orchestrator rolls replicas over per the environment's update settings.
    RollOut {
        digest: String,
    },
    HealthGate {
        gate: GateSpec,
    },
    /// If the gate fails: update the object back to the known-good `digest` (from the
    /// ledger) and gate that; with no known-good release, take the new one out of service.
    RevertOnFailure {
        digest: Option<String>,
    },
    /// Stop the serving release (kept) and put the passed candidate in its place.
    SwitchOver {
        replaces: Option<String>,
    },
    /// Remove retained releases beyond the newest `keep`.
    Prune {
        keep: usize,
    },
    RecordVerdict,
    ReleaseLock,
}

impl Step {
    /// A one-line description for `--dry-run` and progress output.
    pub fn describe(&self) -> String {
        match self {
            Step::AcquireLock => "take the deploy lock".into(),
            Step::RecoverInterrupted { release_ids } => {
                format!(
                    "mark interrupted releases failed and clean up: {}",
                    release_ids.join(", ")
                )
            }
            Step::RecordStart => "record the release as pending in the ledger".into(),
            Step::StartRelease { digest } => {
                format!("start {digest} on the environment's ports (nothing serves yet)")
            }
            Step::StartCandidate { digest } => {
                format!("start a candidate from {digest} beside the serving release")
            }
            Step::StopServing { release_id } => match release_id {
                Some(id) => format!("stop the serving release {id} (kept for rollback)"),
                None => "stop whatever serves now (kept for rollback)".into(),
            },
            Step::RestartRetained { release_id } => {
                format!("restart the retained container of {release_id} (no pull)")
            }
            Step::RollOut { digest } => {
                format!("roll out {digest} (the orchestrator replaces replicas per `update:`)")
            }
            Step::RevertOnFailure { digest } => match digest {
                Some(d) => format!("if the gate fails: roll back out to the known-good {d} (ledger)"),
                None => {
                    "if the gate fails: take the new release out of service (nothing was known-good)".into()
                }
            },
            Step::HealthGate { gate } => format!(
                "health gate: ready within {}, then healthy for {} (checked every {})",
                humantime::format_duration(gate.ready_timeout),
                humantime::format_duration(gate.stability_window),
                humantime::format_duration(gate.interval)
            ),
            Step::SwitchOver { replaces } => match replaces {
                Some(id) => format!("switch over: stop {id} (kept), serve the new release"),
                None => "switch over: serve the new release".into(),
            },
            Step::Prune { keep } => format!("keep the {keep} newest previous releases, remove older ones"),
            Step::RecordVerdict => "record the verdict in the ledger".into(),
            Step::ReleaseLock => "release the deploy lock".into(),
        }
    }
}

/// A complete plan. `release` is the new ledger entry (verdict `pending`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub kind: PlanKind,
    pub scope: Scope,
    pub release: Release,
    /// The release serving now (per the ledger), if any.
    pub from: Option<Release>,
    pub gate: GateSpec,
    pub keep: usize,
    pub steps: Vec<Step>,
}

impl Plan {
    /// The human rendering of `--dry-run`.
    pub fn describe(&self) -> String {
        let from = match &self.from {
            Some(r) => format!("{} ({})", r.digest, r.id),
            None => "nothing".into(),
        };
        let mut out = format!(
            "plan: {} {} on {}\n  from: {from}\n  to:   {} ({}, release {})\n",
            self.kind.as_str(),
            self.scope,
            self.release.target,
            self.release.digest,
            self.release.image,
            self.release.id
        );
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}\n", i + 1, step.describe()));
        }
        out
    }
}

/// What every plan needs besides the ledger.
#[derive(Debug, Clone)]
pub struct Request {
    pub scope: Scope,
    pub target: String,
    pub release_id: String,
    pub who: Who,
    pub grant_id: Option<String>,
    pub now: i64,
    pub gate: GateSpec,
    pub keep: usize,
    pub strategy: Strategy,
}

impl Request {
    fn release(&self, image: &str, digest: &str, origin: Origin) -> Release {
        Release {
            id: self.release_id.clone(),
            project: self.scope.project.clone(),
            env: self.scope.env.clone(),
            target: self.target.clone(),
            image: image.to_string(),
            digest: digest.to_string(),
            origin,
            who: self.who.clone(),
            when: self.now,
            grant_id: self.grant_id.clone(),
            verdict: Verdict::Pending,
            reason: None,
        }
    }
}

fn recover_step(ledger: &Ledger) -> Option<Step> {
    let ids: Vec<String> = ledger.interrupted().iter().map(|r| r.id.clone()).collect();
    (!ids.is_empty()).then_some(Step::RecoverInterrupted { release_ids: ids })
}

/// The rolling update of `digest` over what serves (`known_good`): autosd gates it and
/// reverts to `known_good` itself.
fn rolling_steps(req: &Request, ledger: &Ledger, digest: &str, known_good: Option<&Release>) -> Vec<Step> {
    let mut steps = vec![Step::AcquireLock];
    steps.extend(recover_step(ledger));
    steps.extend([
        Step::RecordStart,
        Step::RollOut {
            digest: digest.to_string(),
        },
        Step::HealthGate { gate: req.gate },
        Step::RevertOnFailure {
            digest: known_good.map(|r| r.digest.clone()),
        },
        Step::RecordVerdict,
        Step::ReleaseLock,
    ]);
    steps
}

fn candidate_steps(req: &Request, ledger: &Ledger, digest: &str) -> Vec<Step> {
    if req.strategy == Strategy::RollingUpdate {
        return rolling_steps(req, ledger, digest, ledger.serving());
    }
    let mut steps = vec![Step::AcquireLock];
    steps.extend(recover_step(ledger));
    if ledger.serving().is_none() {
        steps.extend([
            Step::RecordStart,
            Step::StartRelease {
                digest: digest.to_string(),
            },
            Step::HealthGate { gate: req.gate },
            Step::Prune { keep: req.keep },
            Step::RecordVerdict,
            Step::ReleaseLock,
        ]);
        return steps;
    }
    steps.extend([
        Step::RecordStart,
        Step::StartCandidate {
            digest: digest.to_string(),
        },
        Step::HealthGate { gate: req.gate },
        Step::SwitchOver {
            replaces: ledger.serving().map(|r| r.id.clone()),
        },
        Step::Prune { keep: req.keep },
        Step::RecordVerdict,
        Step::ReleaseLock,
    ]);
    steps
}

/// Deploy `image` (resolved by the target to `digest`): candidate first, switch only after
/// the gate passed.
pub fn plan_deploy(req: &Request, ledger: &Ledger, image: &str, digest: &str) -> Plan {
    Plan {
        kind: PlanKind::Deploy,
        scope: req.scope.clone(),
        release: req.release(image, digest, Origin::Deploy),
        from: ledger.serving().cloned(),
        gate: req.gate,
        keep: req.keep,
        steps: candidate_steps(req, ledger, digest),
    }
}

/// Roll back to `to` (an explicit release id) or to the last known-good release.
/// `retained` lists `(release id, digest)` of the stopped containers the target still has:
/// the source release's own, or else any kept one of the same digest (a rollback release
/// runs its source's container), comes back by a restart; otherwise the digest is started
/// like a deploy.
pub fn plan_rollback(
    req: &Request,
    ledger: &Ledger,
    to: Option<&str>,
    retained: &[(String, String)],
) -> Result<Plan> {
    let serving = ledger.serving();
    let source = match to {
        Some(id) => {
            let r = ledger.find(id).ok_or_else(|| {
                Error::new(
                    ErrorCode::ReleaseNotFound,
                    format!("no release {id} in the ledger of {}", req.scope),
                )
                .hint("list them with `autosd releases --project P --env E`")
            })?;
            if matches!(r.verdict, Verdict::Failed | Verdict::Pending) {
                return Err(Error::new(
                    ErrorCode::ReleaseNotFound,
                    format!(
                        "release {id} never passed its health gate (verdict {})",
                        r.verdict.as_str()
                    ),
                )
                .hint("roll back to a release that was healthy"));
            }
            if serving.is_some_and(|s| s.digest == r.digest) {
                return Err(Error::new(
                    ErrorCode::ReleaseNotFound,
                    format!("release {id} runs the digest that is serving now ({})", r.digest),
                ));
            }
            r
        }
        None => ledger.last_known_good().ok_or_else(|| {
            Error::new(
                ErrorCode::NoKnownGood,
                format!("{} has no earlier healthy release to roll back to", req.scope),
            )
            .hint("rolled-back and failed releases are never chosen; deploy a fixed image instead")
        })?,
    };
    let origin = Origin::Rollback {
        source: source.id.clone(),
        replaced: serving.map(|r| r.id.clone()),
    };
    let mut steps = vec![Step::AcquireLock];
    steps.extend(recover_step(ledger));
    let kept = retained
        .iter()
        .find(|(id, _)| id == &source.id)
        .or_else(|| retained.iter().find(|(_, digest)| digest == &source.digest));
    if req.strategy == Strategy::RollingUpdate {
        steps = rolling_steps(req, ledger, &source.digest, serving);
    } else if let Some((kept_id, _)) = kept {
        steps.extend([
            Step::RecordStart,
            Step::StopServing {
                release_id: serving.map(|r| r.id.clone()),
            },
            Step::RestartRetained {
                release_id: kept_id.clone(),
            },
            Step::HealthGate { gate: req.gate },
            Step::Prune { keep: req.keep },
            Step::RecordVerdict,
            Step::ReleaseLock,
        ]);
    } else {
        steps = candidate_steps(req, ledger, &source.digest);
    }
    Ok(Plan {
        kind: PlanKind::Rollback,
        scope: req.scope.clone(),
        release: req.release(&source.image, &source.digest, origin),
        from: serving.cloned(),
        gate: req.gate,
        keep: req.keep,
        steps,
    })
}

/// The release of `from` to promote: the one serving there, refused when there is none or
/// when the newest release there failed (its digest may be what is wanted next, but it is
/// not proven).
pub fn promotion_source<'a>(from_env: &str, from: &'a Ledger) -> Result<&'a Release> {
    if let Some(latest) = from.latest()
        && latest.verdict == Verdict::Failed
    {
        return Err(Error::new(
            ErrorCode::PromoteRefused,
            format!(
                "the latest release in {from_env} ({}) failed its health gate",
                latest.id
            ),
        )
        .hint(format!(
            "fix {from_env} first: deploy a healthy release there, then promote"
        )));
    }
    from.serving().ok_or_else(|| {
        Error::new(
            ErrorCode::PromoteRefused,
            format!("{from_env} has no healthy release to promote"),
        )
    })
}

/// Promote exactly the digest healthy in `from_env` into the request's environment.
pub fn plan_promote(req: &Request, from_env: &str, from: &Ledger, to: &Ledger) -> Result<Plan> {
    let source = promotion_source(from_env, from)?;
    let origin = Origin::Promote {
        from_env: from_env.to_string(),
        from_release: source.id.clone(),
    };
    Ok(Plan {
        kind: PlanKind::Promote,
        scope: req.scope.clone(),
        release: req.release(&source.image, &source.digest, origin),
        from: to.serving().cloned(),
        gate: req.gate,
        keep: req.keep,
        steps: candidate_steps(req, to, &source.digest),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::deploy::ledger::tests::ledger_of;

    /// A deploy request in `shop/staging` by user ann, for plan tests elsewhere too.
    pub(crate) fn req() -> Request {
        Request {
            scope: Scope::new("shop", "staging"),
            target: "docker".into(),
            release_id: "rnew".into(),
            who: Who {
                kind: "user".into(),
                name: "ann".into(),
                repository: None,
                run_id: None,
            },
            grant_id: Some("g1".into()),
            now: 1_800_000_000,
            gate: GateSpec::default(),
            keep: 5,
            strategy: Default::default(),
        }
    }

    fn kinds(p: &Plan) -> Vec<&'static str> {
        p.steps
            .iter()
            .map(|s| match s {
                Step::AcquireLock => "lock",
                Step::RecoverInterrupted { .. } => "recover",
                Step::RecordStart => "record-start",
                Step::StartCandidate { .. } => "candidate",
                Step::StartRelease { .. } => "release",
                Step::StopServing { .. } => "stop",
                Step::RestartRetained { .. } => "restart",
                Step::HealthGate { .. } => "gate",
                Step::RollOut { .. } => "roll-out",
                Step::RevertOnFailure { .. } => "revert-on-failure",
                Step::SwitchOver { .. } => "switch",
                Step::Prune { .. } => "prune",
                Step::RecordVerdict => "record-verdict",
                Step::ReleaseLock => "unlock",
            })
            .collect()
    }

    #[test]
    fn first_deploy_starts_the_release_directly() {
        let p = plan_deploy(&req(), &Ledger::default(), "shop:v1", "sha256:a");
        assert_eq!(
            kinds(&p),
            [
                "lock",
                "record-start",
                "release",
                "gate",
                "prune",
                "record-verdict",
                "unlock"
            ]
        );
        assert_eq!(p.from, None);
        assert_eq!(p.release.verdict, Verdict::Pending);
        assert_eq!(p.release.grant_id.as_deref(), Some("g1"));
    }

    #[test]
    fn later_deploys_gate_a_candidate_then_switch() {
        let l = ledger_of(&[("r1", "a", Verdict::Healthy)]);
        let p = plan_deploy(&req(), &l, "shop:v2", "sha256:b");
        assert_eq!(
            kinds(&p),
            [
                "lock",
                "record-start",
                "candidate",
                "gate",
                "switch",
                "prune",
                "record-verdict",
                "unlock"
            ]
        );
    }

    #[test]
    fn rolling_updates_revert_to_the_known_good_digest_themselves() {
        let rolling = Request {
            strategy: Strategy::RollingUpdate,
            ..req()
        };
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Failed)]);
        let p = plan_deploy(&rolling, &l, "shop:v3", "sha256:c");
        let expected = [
            "lock",
            "record-start",
            "roll-out",
            "gate",
            "revert-on-failure",
            "record-verdict",
            "unlock",
        ];
        assert_eq!(kinds(&p), expected);
        let serving = l.serving().map(|r| r.digest.clone());
        assert_eq!(
            p.steps[4],
            Step::RevertOnFailure {
                digest: serving.clone()
            }
        );
        // A rollback is a roll-out of the known-good digest, guarded by what serves now.
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Healthy)]);
        let p = plan_rollback(&rolling, &l, None, &[]).expect("plan");
        assert_eq!(kinds(&p), expected);
        assert_eq!(p.release.digest, l.find("r1").expect("r1").digest);
        assert_eq!(
            p.steps[4],
            Step::RevertOnFailure {
                digest: l.serving().map(|r| r.digest.clone())
            }
        );
        // Nothing known-good: a failed first roll-out is taken out of service.
        let p = plan_deploy(&rolling, &ledger_of(&[]), "shop:v1", "sha256:a");
        assert_eq!(p.steps[4], Step::RevertOnFailure { digest: None });
        assert!(p.describe().contains("take the new release out of service"));
    }

    #[test]
    fn deploy_replaces_the_serving_release_and_recovers_leftovers() {
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Pending)]);
        let p = plan_deploy(&req(), &l, "shop:v3", "sha256:c");
        assert_eq!(p.from.as_ref().map(|r| r.id.as_str()), Some("r1"));
        assert_eq!(
            p.steps[1],
            Step::RecoverInterrupted {
                release_ids: vec!["r2".into()]
            }
        );
        assert!(p.steps.contains(&Step::SwitchOver {
            replaces: Some("r1".into())
        }));
        assert!(p.describe().contains("sha256:c"));
    }

    #[test]
    fn rollback_restarts_a_retained_known_good_release() {
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Healthy)]);
        let p = plan_rollback(&req(), &l, None, &[("r1".into(), "sha256:a".into())]).expect("plan");
        assert_eq!(
            kinds(&p),
            [
                "lock",
                "record-start",
                "stop",
                "restart",
                "gate",
                "prune",
                "record-verdict",
                "unlock"
            ]
        );
        assert_eq!(p.release.digest, "sha256:a");
        assert_eq!(
            p.release.origin,
            Origin::Rollback {
                source: "r1".into(),
                replaced: Some("r2".into())
            }
        );
        assert_eq!(p.kind, PlanKind::Rollback);
    }

    #[test]
    fn rollback_to_a_rollback_release_restarts_the_container_of_its_digest() {
        // r3 rolled back to r1 (running r1's container); r4 deployed v2 again.
        let l = ledger_of(&[
            ("r1", "a", Verdict::Healthy),
            ("r2", "b", Verdict::RolledBack),
            ("r3", "a", Verdict::Healthy),
            ("r4", "c", Verdict::Healthy),
        ]);
        let p = plan_rollback(&req(), &l, None, &[("r1".into(), "sha256:a".into())]).expect("plan");
        assert!(
            p.steps.contains(&Step::RestartRetained {
                release_id: "r1".into()
            }),
            "{:?}",
            p.steps
        );
        assert_eq!(
            p.release.origin,
            Origin::Rollback {
                source: "r3".into(),
                replaced: Some("r4".into())
            }
        );
    }

    #[test]
    fn rollback_without_a_retained_container_uses_the_deploy_path() {
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Healthy)]);
        let p = plan_rollback(&req(), &l, None, &[]).expect("plan");
        assert!(p.steps.contains(&Step::StartCandidate {
            digest: "sha256:a".into()
        }));
    }

    #[test]
    fn rollback_refuses_when_nothing_is_known_good() {
        let l = ledger_of(&[("r1", "a", Verdict::Failed), ("r2", "b", Verdict::Healthy)]);
        assert_eq!(
            plan_rollback(&req(), &l, None, &[]).expect_err("none").code,
            ErrorCode::NoKnownGood
        );
        assert_eq!(
            plan_rollback(&req(), &Ledger::default(), None, &[])
                .expect_err("empty")
                .code,
            ErrorCode::NoKnownGood
        );
    }

    #[test]
    fn explicit_rollback_targets_are_checked() {
        let l = ledger_of(&[
            ("r1", "a", Verdict::Healthy),
            ("r2", "c", Verdict::Failed),
            ("r3", "b", Verdict::Healthy),
        ]);
        assert_eq!(
            plan_rollback(&req(), &l, Some("nope"), &[])
                .expect_err("missing")
                .code,
            ErrorCode::ReleaseNotFound
        );
        assert_eq!(
            plan_rollback(&req(), &l, Some("r2"), &[])
                .expect_err("failed")
                .code,
            ErrorCode::ReleaseNotFound
        );
        assert_eq!(
            plan_rollback(&req(), &l, Some("r3"), &[])
                .expect_err("serving")
                .code,
            ErrorCode::ReleaseNotFound
        );
        let p = plan_rollback(&req(), &l, Some("r1"), &[("r1".into(), "sha256:a".into())]).expect("plan");
        assert_eq!(p.release.digest, "sha256:a");
    }

    #[test]
    fn promote_takes_the_serving_digest_and_refuses_after_a_failure() {
        let staging = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Healthy)]);
        let mut r = req();
        r.scope = Scope::new("shop", "prod");
        let p = plan_promote(&r, "staging", &staging, &Ledger::default()).expect("plan");
        assert_eq!(p.release.digest, "sha256:b");
        assert_eq!(p.release.env, "prod");
        assert_eq!(
            p.release.origin,
            Origin::Promote {
                from_env: "staging".into(),
                from_release: "r2".into()
            }
        );
        let failed = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Failed)]);
        assert_eq!(
            plan_promote(&r, "staging", &failed, &Ledger::default())
                .expect_err("failed")
                .code,
            ErrorCode::PromoteRefused
        );
        assert_eq!(
            plan_promote(&r, "staging", &Ledger::default(), &Ledger::default())
                .expect_err("empty")
                .code,
            ErrorCode::PromoteRefused
        );
    }
}
