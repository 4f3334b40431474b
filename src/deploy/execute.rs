//! Runs a release operation end to end: resolve → lock → read the ledger → plan → recover
//! leftovers → record `pending` → target runs the plan → record the verdict → unlock.
//! The gate (`ops::guard`) wraps this whole function as its act; this module decides nothing
//! about grants or policy.
use crate::deploy::health::GateFailure;
use crate::deploy::ledger::{Ledger, LedgerLineV1};
use crate::deploy::plan::{self, Plan, PlanKind, Request};
use crate::deploy::release::{Scope, Verdict};
use crate::deploy::target::{LockHolder, Outcome, Phase, Progress, Target};
use crate::error::{Error, ErrorCode, Result};
use std::time::Duration;

/// Where ledgers live: the `Store` in production, a directory in tests.
pub trait LedgerIo {
    fn read(&self, scope: &Scope) -> Result<Ledger>;
    fn append(&self, scope: &Scope, line: &LedgerLineV1) -> Result<()>;
}

/// The operation asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Deploy { image: String },
    Rollback { to: Option<String> },
    Promote { from_env: String },
}

/// A finished operation: the plan that ran, its outcome, and notes (broken stale locks,
/// recovered releases) worth telling the user.
#[derive(Debug, Clone)]
pub struct Executed {
    pub plan: Plan,
    pub outcome: Outcome,
    pub notes: Vec<String>,
}

impl Executed {
    /// A failed gate as the error the CLI exits with (the ledger already has the verdict).
    pub fn gate_error(&self) -> Option<Error> {
        let Outcome::GateFailed {
            failure,
            previous_serving,
        } = &self.outcome
        else {
            return None;
        };
        let (code, what) = match self.plan.kind {
            PlanKind::Rollback => (ErrorCode::RollbackFailed, "rollback"),
            _ => (ErrorCode::DeployFailed, "deploy"),
        };
        if let GateFailure::Interrupted(signal) = failure {
            let back = match (&self.plan.from, previous_serving) {
                (Some(r), true) => format!("release {} ({}) was put back", r.id, r.digest),
                (Some(r), false) => format!("release {} could not be put back", r.id),
                (None, _) => "it was taken out of service".into(),
            };
            return Some(crate::interrupt::interrupted(
                signal,
                &format!(
                    "during the health gate of the {what} of {}; {back}",
                    self.plan.release.id
                ),
            ));
        }
        let serving = match (&self.plan.from, previous_serving) {
            (Some(r), true) => format!("release {} ({}) is still serving", r.id, r.digest),
            (Some(r), false) => format!("release {} could not be brought back: nothing serves", r.id),
            (None, _) => "nothing served before, nothing serves now".into(),
        };
        Some(
            Error::new(
                code,
                format!(
                    "{what} of {} failed its health gate ({}); {serving}",
                    self.plan.release.id,
                    failure.describe()
                ),
            )
            .hint("the release is marked failed in the ledger: see `autosd releases`"),
        )
    }
}

/// Builds the plan an operation would run, without taking the lock or changing anything
/// (`--dry-run`). Resolving the image may still pull it.
pub fn plan_only(
    target: &dyn Target,
    ledgers: &dyn LedgerIo,
    op: &Operation,
    req: &Request,
    progress: &mut dyn Progress,
) -> Result<Plan> {
    let digest = match op {
        Operation::Deploy { image } => Some(target.resolve(image, progress)?),
        _ => None,
    };
    build_plan(target, ledgers, op, req, digest.as_deref())
}

fn build_plan(
    target: &dyn Target,
    ledgers: &dyn LedgerIo,
    op: &Operation,
    req: &Request,
    digest: Option<&str>,
) -> Result<Plan> {
    let ledger = ledgers.read(&req.scope)?;
    match (op, digest) {
        (Operation::Deploy { image }, Some(digest)) => Ok(plan::plan_deploy(req, &ledger, image, digest)),
        (Operation::Rollback { to }, _) => {
            let retained = target.retained(&req.scope)?;
            plan::plan_rollback(req, &ledger, to.as_deref(), &retained)
        }
        (Operation::Promote { from_env }, _) => {
            let from = ledgers.read(&Scope::new(&req.scope.project, from_env))?;
            plan::plan_promote(req, from_env, &from, &ledger)
        }
        (Operation::Deploy { .. }, None) => {
            Err(Error::new(ErrorCode::Internal, "deploy planned without a digest"))
        }
    }
}

/// Runs `op` for real. The lock is released on every path out, errors included.
pub fn execute(
    target: &dyn Target,
    ledgers: &dyn LedgerIo,
    op: &Operation,
    req: &Request,
    holder: &LockHolder,
    lock_wait: Duration,
    progress: &mut dyn Progress,
) -> Result<Executed> {
    // Resolving (and pulling) needs no lock and may be slow: do it before taking one.
    let digest = match op {
        Operation::Deploy { image } => Some(target.resolve(image, progress)?),
        _ => None,
    };
    progress.phase(Phase::Lock, &format!("taking the deploy lock of {}", req.scope));
    let (guard, mut notes) = target.lock(&req.scope, holder, lock_wait)?;
    let result = execute_locked(target, ledgers, op, req, digest.as_deref(), progress, &mut notes);
    let released = guard.release();
    let executed = result?;
    if let Err(e) = released {
        notes.push(format!(
            "the deploy lock could not be removed ({}); `autosd lock break` clears it",
            e.message
        ));
    }
    Ok(Executed { notes, ..executed })
}

fn execute_locked(
    target: &dyn Target,
    ledgers: &dyn LedgerIo,
    op: &Operation,
    req: &Request,
    digest: Option<&str>,
    progress: &mut dyn Progress,
    notes: &mut Vec<String>,
) -> Result<Executed> {
    let scope = &req.scope;
    // Planned under the lock, from the ledger as it is now.
    let plan = build_plan(target, ledgers, op, req, digest)?;
    for step in &plan.steps {
        if let plan::Step::RecoverInterrupted { release_ids } = step {
            target.recover(scope, release_ids)?;
            for id in release_ids {
                let line = LedgerLineV1::verdict(
                    req.now,
                    id,
                    Verdict::Failed,
                    Some("interrupted: the process running it died".into()),
                );
                ledgers.append(scope, &line)?;
                notes.push(format!(
                    "release {id} was interrupted (its process died); marked failed and cleaned up"
                ));
            }
        }
    }
    ledgers.append(scope, &LedgerLineV1::started(req.now, &plan.release))?;
    let run = match plan.kind {
        PlanKind::Rollback => target.rollback(&plan, progress),
        _ => target.deploy(&plan, progress),
    };
    let id = &plan.release.id;
    let outcome = match run {
        Ok(outcome) => outcome,
        Err(e) => {
            let line = LedgerLineV1::verdict(req.now, id, Verdict::Failed, Some(e.message.clone()));
            // The operation's own error matters more than a failed ledger write.
            let _ = ledgers.append(scope, &line);
            return Err(e);
        }
    };
    match &outcome {
        Outcome::Healthy { .. } => {
            ledgers.append(scope, &LedgerLineV1::verdict(req.now, id, Verdict::Healthy, None))?;
            if plan.kind == PlanKind::Rollback
                && let Some(from) = &plan.from
            {
                let reason = Some(format!("rolled back to {} by {id}", plan.release.digest));
                ledgers.append(
                    scope,
                    &LedgerLineV1::verdict(req.now, &from.id, Verdict::RolledBack, reason),
                )?;
            }
        }
        Outcome::GateFailed { failure, .. } => {
            let line = LedgerLineV1::verdict(req.now, id, Verdict::Failed, Some(failure.describe()));
            ledgers.append(scope, &line)?;
        }
    }
    Ok(Executed {
        plan,
        outcome,
        notes: Vec::new(),
    })
}

/// A ledger directory on the local disk: `<root>/ledger/<project>/<env>.jsonl`, appended
/// under an exclusive lock with fsync. The local `Store` backend keeps the same layout.
pub struct DirLedgers {
    pub root: std::path::PathBuf,
}

impl DirLedgers {
    fn path(&self, scope: &Scope) -> std::path::PathBuf {
        self.root.join(crate::deploy::ledger::ledger_key(scope))
    }
}

impl LedgerIo for DirLedgers {
    fn read(&self, scope: &Scope) -> Result<Ledger> {
        let path = self.path(scope);
        if !path.exists() {
            return Ok(Ledger::default());
        }
        let bytes = crate::store::fs::read_limited(&path, 256 << 20)?;
        Ledger::parse(&String::from_utf8_lossy(&bytes))
    }

    fn append(&self, scope: &Scope, line: &LedgerLineV1) -> Result<()> {
        use std::io::Write;
        let path = self.path(scope);
        if let Some(dir) = path.parent() {
            crate::store::fs::ensure_dir(dir, 0o700)?;
        }
        let _lock = crate::store::fs::lock_exclusive(&path.with_extension("lock"))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, &e))?;
        f.write_all(format!("{}\n", line.to_line()).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io("append to", &path, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::fake::FakeTarget;
    use crate::deploy::health::GateSpec;
    use crate::deploy::release::{Origin, Who};
    use crate::deploy::target::Quiet;

    struct Env {
        _dir: tempfile::TempDir,
        ledgers: DirLedgers,
        target: FakeTarget,
        n: u32,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledgers = DirLedgers {
            root: dir.path().to_path_buf(),
        };
        let target = FakeTarget::with_images(&[
            ("shop:v1", "sha256:1"),
            ("shop:v2", "sha256:2"),
            ("shop:bad", "sha256:bad"),
        ]);
        target.state.borrow_mut().unhealthy.insert("sha256:bad".into());
        Env {
            _dir: dir,
            ledgers,
            target,
            n: 0,
        }
    }

    fn holder() -> LockHolder {
        LockHolder {
            who: "user ann".into(),
            host: "h".into(),
            pid: 1,
            operation: "deploy".into(),
            acquired: 0,
            expires: i64::MAX,
        }
    }

    impl Env {
        fn run(&mut self, env: &str, op: Operation) -> Result<Executed> {
            self.n += 1;
            let req = Request {
                scope: Scope::new("shop", env),
                target: "fake".into(),
                release_id: format!("r{}", self.n),
                who: Who {
                    kind: "user".into(),
                    name: "ann".into(),
                    repository: None,
                    run_id: None,
                },
                grant_id: None,
                now: 1_800_000_000 + i64::from(self.n),
                gate: GateSpec::default(),
                keep: 5,
                strategy: Default::default(),
            };
            execute(
                &self.target,
                &self.ledgers,
                &op,
                &req,
                &holder(),
                Duration::ZERO,
                &mut Quiet,
            )
        }

        fn deploy(&mut self, image: &str) -> Result<Executed> {
            self.run("staging", Operation::Deploy { image: image.into() })
        }

        fn ledger(&self, env: &str) -> Ledger {
            self.ledgers.read(&Scope::new("shop", env)).expect("ledger")
        }
    }

    fn verdicts(l: &Ledger) -> Vec<(String, &'static str)> {
        l.releases
            .iter()
            .map(|r| (r.id.clone(), r.verdict.as_str()))
            .collect()
    }

    #[test]
    fn deploys_record_pending_then_healthy_and_release_the_lock() {
        let mut e = env();
        let done = e.deploy("shop:v1").expect("deploy");
        assert!(matches!(done.outcome, Outcome::Healthy { .. }));
        assert!(done.gate_error().is_none());
        e.deploy("shop:v2").expect("deploy");
        assert_eq!(
            verdicts(&e.ledger("staging")),
            [("r1".into(), "healthy"), ("r2".into(), "healthy")]
        );
        assert_eq!(e.ledger("staging").releases[1].digest, "sha256:2");
        assert!(e.target.state.borrow().lock.is_none());
    }

    #[test]
    fn a_failed_gate_is_recorded_and_reported_with_the_serving_release() {
        let mut e = env();
        e.deploy("shop:v1").expect("deploy");
        let done = e.deploy("shop:bad").expect("ran");
        let err = done.gate_error().expect("gate error");
        assert_eq!(err.code, ErrorCode::DeployFailed);
        assert!(
            err.message.contains("r1") && err.message.contains("still serving"),
            "{}",
            err.message
        );
        let l = e.ledger("staging");
        assert_eq!(verdicts(&l), [("r1".into(), "healthy"), ("r2".into(), "failed")]);
        assert_eq!(l.serving().map(|r| r.id.as_str()), Some("r1"));
        assert!(
            l.releases[1]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("unhealthy"))
        );
    }

    #[test]
    fn rollback_is_a_new_release_and_marks_the_replaced_one() {
        let mut e = env();
        e.deploy("shop:v1").expect("v1");
        e.deploy("shop:v2").expect("v2");
        let done = e
            .run("staging", Operation::Rollback { to: None })
            .expect("rollback");
        assert_eq!(done.plan.release.digest, "sha256:1");
        assert_eq!(
            e.target.state.borrow().restarts,
            1,
            "the retained v1 was restarted"
        );
        let l = e.ledger("staging");
        assert_eq!(
            verdicts(&l),
            [
                ("r1".into(), "healthy"),
                ("r2".into(), "rolled-back"),
                ("r3".into(), "healthy")
            ]
        );
        assert_eq!(
            l.releases[2].origin,
            Origin::Rollback {
                source: "r1".into(),
                replaced: Some("r2".into())
            }
        );
        // A second rollback has nowhere trusted to go: v2 was rolled back, v1 serves.
        let err = e
            .run("staging", Operation::Rollback { to: None })
            .expect_err("no known-good");
        assert_eq!(err.code, ErrorCode::NoKnownGood);
        assert!(e.target.state.borrow().lock.is_none(), "lock released on error");
    }

    #[test]
    fn promote_deploys_the_staging_digest_and_refuses_after_a_failure() {
        let mut e = env();
        e.deploy("shop:v2").expect("staging");
        let done = e
            .run(
                "prod",
                Operation::Promote {
                    from_env: "staging".into(),
                },
            )
            .expect("promote");
        assert_eq!(done.plan.release.digest, "sha256:2");
        assert_eq!(
            e.ledger("prod").serving().map(|r| r.digest.as_str()),
            Some("sha256:2")
        );
        e.deploy("shop:bad").expect("ran");
        let err = e
            .run(
                "prod",
                Operation::Promote {
                    from_env: "staging".into(),
                },
            )
            .expect_err("refused");
        assert_eq!(err.code, ErrorCode::PromoteRefused);
        assert_eq!(
            e.ledger("prod").releases.len(),
            1,
            "nothing recorded for a refused promotion"
        );
    }

    #[test]
    fn interrupted_releases_are_recovered_by_the_next_operation() {
        let mut e = env();
        e.deploy("shop:v1").expect("v1");
        let scope = Scope::new("shop", "staging");
        let mut orphan = e.ledger("staging").releases[0].clone();
        orphan.id = "rdead".into();
        e.ledgers
            .append(&scope, &LedgerLineV1::started(1, &orphan))
            .expect("append");
        let done = e.deploy("shop:v2").expect("v2");
        assert!(done.notes.iter().any(|n| n.contains("rdead")), "{:?}", done.notes);
        assert_eq!(e.target.state.borrow().recovered, vec!["rdead".to_string()]);
        assert_eq!(
            e.ledger("staging").find("rdead").map(|r| r.verdict),
            Some(Verdict::Failed)
        );
    }

    #[test]
    fn a_held_lock_stops_the_operation_before_anything_is_recorded() {
        let mut e = env();
        e.target.state.borrow_mut().lock = Some(holder());
        let err = e.deploy("shop:v1").expect_err("locked");
        assert_eq!(err.code, ErrorCode::LockHeld);
        assert!(err.message.contains("user ann"), "{}", err.message);
        assert!(e.ledger("staging").releases.is_empty());
    }

    #[test]
    fn missing_images_fail_before_the_lock() {
        let mut e = env();
        assert_eq!(
            e.deploy("shop:nope").expect_err("missing").code,
            ErrorCode::ImageNotFound
        );
        assert!(e.ledger("staging").releases.is_empty());
    }

    #[test]
    fn dry_run_changes_nothing() {
        let e = env();
        let req = Request {
            scope: Scope::new("shop", "staging"),
            target: "fake".into(),
            release_id: "r1".into(),
            who: Who {
                kind: "user".into(),
                name: "ann".into(),
                repository: None,
                run_id: None,
            },
            grant_id: None,
            now: 0,
            gate: GateSpec::default(),
            keep: 5,
            strategy: Default::default(),
        };
        let plan = plan_only(
            &e.target,
            &e.ledgers,
            &Operation::Deploy {
                image: "shop:v1".into(),
            },
            &req,
            &mut Quiet,
        )
        .expect("plan");
        assert_eq!(plan.release.digest, "sha256:1");
        assert!(e.ledger("staging").releases.is_empty());
        assert!(e.target.state.borrow().serving.is_none());
    }
}
