//! The release use cases — deploy, rollback, promote, lock break, and the read-only
//! releases list and dry-run — wired to the real world: the project file's target settings,
//! the ledger and incidents in the `Store`, and the one gate. Every mutation runs as the
//! gate's act: `deploy::execute` (lock → plan → target → ledger) inside `ProjectSession::run`.
use crate::config::Environment;
use crate::deploy::execute::{self, Executed, LedgerIo, Operation};
use crate::deploy::ledger::{Ledger, LedgerLineV1, ledger_key};
use crate::deploy::plan::{Plan, Request};
use crate::deploy::release::{Scope, Who};
use crate::deploy::settings::TargetKind;
use crate::deploy::target::{self, Change, LockHolder, Outcome, Progress, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::heal::incident::{Event, Incident, Severity, Trigger};
use crate::ops::guard::{Confirm, Privileged};
use crate::ops::heal;
use crate::ops::live::ProjectSession;
use crate::ops::targets::{Configured, open_target};
use crate::policy;
use crate::store::{Key, Store};
use std::time::Duration;

/// The ledger in the state store (`ledger/<project>/<env>.jsonl`, append-only).
pub struct StoreLedgers<'s> {
    pub store: &'s dyn Store,
}

impl LedgerIo for StoreLedgers<'_> {
    fn read(&self, scope: &Scope) -> Result<Ledger> {
        let key = Key::new(&ledger_key(scope))?;
        match self.store.read(&key)? {
            Some(bytes) => Ledger::parse(&String::from_utf8_lossy(&bytes)),
            None => Ok(Ledger::default()),
        }
    }

    fn append(&self, scope: &Scope, line: &LedgerLineV1) -> Result<()> {
        let key = Key::new(&ledger_key(scope))?;
        self.store.append(&key, line.to_line().as_bytes())
    }
}

/// Opens the incident of a failed gate (and its postmortem). When the previous release
/// kept serving, users were never affected: it is mitigated and resolved at once.
fn open_incident(session: &ProjectSession, done: &Executed, env: &Environment, now: i64) -> Result<Incident> {
    let Outcome::GateFailed {
        failure,
        previous_serving,
    } = &done.outcome
    else {
        return Err(Error::new(
            ErrorCode::Internal,
            "an incident for a healthy release",
        ));
    };
    let r = &done.plan.release;
    let id = format!("inc-{}", r.id);
    let (source, what) = match done.plan.kind {
        crate::deploy::plan::PlanKind::Rollback => ("rollback_gate", "rollback"),
        _ => ("deploy_gate", "deploy"),
    };
    let severity = if *previous_serving {
        Severity::Minor
    } else {
        Severity::of_outage(env.production)
    };
    let mut events = vec![Event::Opened {
        project: r.project.clone(),
        env: r.env.clone(),
        release_id: Some(r.id.clone()),
        digest: Some(r.digest.clone()),
        severity,
        trigger: Trigger {
            what: format!(
                "{what} of {} failed its health gate: {}",
                r.id,
                failure.describe()
            ),
            evidence: Default::default(),
        },
        impact_started: r.when,
        source: source.into(),
    }];
    if *previous_serving {
        let how = match &done.plan.from {
            Some(f) => format!(
                "release {} kept serving (automatic rollback of the candidate)",
                f.id
            ),
            None => "the failed candidate was removed".into(),
        };
        events.push(Event::Mitigated { how });
        events.push(Event::Resolved {
            by: "autosd".into(),
            note: Some("no user impact: traffic never left the previous release".into()),
        });
    } else {
        events.push(Event::FailedToHeal {
            reason: "the previous release could not be brought back".into(),
            human: format!(
                "nothing serves {}/{}: deploy a known-good image or run `autosd rollback`",
                r.project, r.env
            ),
        });
    }
    for event in events {
        heal::append_event(session.store.as_ref(), &r.project, &id, now, event)?;
    }
    heal::write_postmortem(session, &id)
}

/// What a release command asked for.
#[derive(Debug, Clone)]
pub struct ReleaseArgs<'a> {
    pub project: &'a str,
    pub op: Operation,
    /// The environment acted in (a promotion's destination).
    pub env: &'a str,
    pub kind: TargetKind,
    pub force: bool,
    pub grant_flag: Option<&'a str>,
    pub require_grant: bool,
    pub lock_wait: Duration,
}

impl ReleaseArgs<'_> {
    fn policy_op(&self) -> policy::Operation {
        match self.op {
            Operation::Deploy { .. } => policy::Operation::Deploy,
            Operation::Rollback { .. } => policy::Operation::Rollback,
            Operation::Promote { .. } => policy::Operation::Promote,
        }
    }
}

/// Fills in the image of a deploy without `--image`, and checks the promotion source.
fn resolve_op(
    session: &ProjectSession,
    args: &ReleaseArgs<'_>,
    configured: &Configured,
) -> Result<Operation> {
    match &args.op {
        Operation::Deploy { image } if image.is_empty() => match configured.image() {
            Some(image) => Ok(Operation::Deploy {
                image: image.to_string(),
            }),
            None => Err(Error::new(
                ErrorCode::Usage,
                "deploy needs --image (or an `image:` in the environment's target settings)",
            )),
        },
        Operation::Promote { from_env } => {
            session.config.environment(from_env)?;
            if from_env == args.env {
                return Err(Error::new(
                    ErrorCode::TargetEnvInvalid,
                    format!("cannot promote `{from_env}` onto itself"),
                ));
            }
            Ok(args.op.clone())
        }
        other => Ok(other.clone()),
    }
}

pub(crate) fn request(
    session: &ProjectSession,
    args: &ReleaseArgs<'_>,
    target: &dyn Target,
    configured: &Configured,
    grant_id: Option<String>,
) -> Result<Request> {
    let now = session.ctx.now_unix();
    Ok(Request {
        scope: Scope::new(&session.config.project, args.env),
        target: target.kind().to_string(),
        release_id: crate::deploy::release::new_release_id(now),
        who: Who::from_actor(&session.ctx.actor()),
        grant_id,
        now,
        gate: configured.gate(),
        keep: configured.keep(),
        strategy: target.strategy(),
    })
}

pub(crate) fn holder(
    session: &ProjectSession,
    operation: &str,
    gate: &crate::deploy::health::GateSpec,
) -> LockHolder {
    let now = session.ctx.now_unix();
    // Long enough for the slowest honest run; a dead holder is found sooner by its pid.
    let lease = crate::deploy::health::Gate::new(*gate).max_duration().as_secs() as i64 * 2 + 600;
    LockHolder {
        who: session.ctx.actor().describe(),
        host: target::this_host(),
        pid: std::process::id(),
        operation: operation.to_string(),
        acquired: now,
        expires: now + lease,
    }
}

/// A finished release command: what ran, and the incident a failed gate opened.
pub struct Released {
    pub executed: Executed,
    pub incident: Option<Incident>,
}

/// Runs a deploy, rollback or promotion through the gate. A failed gate returns the
/// `Released` (for rendering) together with the error the command exits with.
pub fn run(
    session: &ProjectSession,
    confirm: &mut dyn Confirm,
    args: &ReleaseArgs<'_>,
    progress: &mut dyn Progress,
) -> (Option<Released>, Option<Error>) {
    let req = Privileged {
        project: Some(args.project),
        env: Some(args.env),
        target: Some(args.kind.as_str()),
        force: args.force,
        grant_flag: args.grant_flag,
        require_grant: args.require_grant,
        ..Privileged::new(args.policy_op())
    };
    let mut released = None;
    let result = session.run(&req, confirm, |granted| {
        let env = granted
            .env
            .ok_or_else(|| Error::new(ErrorCode::Internal, "a release operation without an environment"))?;
        let configured = Configured::read(env, args.kind)?;
        let op = resolve_op(session, args, &configured)?;
        let target = configured.open(session)?;
        let request = request(
            session,
            args,
            target.as_ref(),
            &configured,
            granted.grant_id().map(str::to_string),
        )?;
        let ledgers = StoreLedgers {
            store: session.store.as_ref(),
        };
        let holder = holder(session, args.policy_op().as_str(), &request.gate);
        let done = execute::execute(
            target.as_ref(),
            &ledgers,
            &op,
            &request,
            &holder,
            args.lock_wait,
            progress,
        )?;
        let error = done.gate_error();
        // A cancelled run is no incident: the release was taken back before it was judged.
        let incident = match &error {
            Some(e) if e.code != ErrorCode::Interrupted => {
                Some(open_incident(session, &done, env, request.now)?)
            }
            _ => None,
        };
        released = Some(Released {
            executed: done,
            incident,
        });
        error.map_or(Ok(()), Err)
    });
    let error = result.err().map(|e| {
        // The guard names an unknown environment generically; for a promotion it is the
        // destination that is wrong.
        if e.code == ErrorCode::EnvInvalid
            && matches!(args.op, Operation::Promote { .. })
            && session.config.environment(args.env).is_err()
        {
            Error {
                code: ErrorCode::TargetEnvInvalid,
                ..e
            }
        } else {
            e
        }
    });
    (released, error)
}

/// What `--dry-run` shows: the plan, the gate's decision, the lock, and nothing changed.
pub struct DryRun {
    pub plan: Plan,
    /// The exact object change (service spec, apply patch) on orchestrator targets.
    pub change: Option<Change>,
    pub decision: std::result::Result<String, Error>,
    pub halted: Option<String>,
    pub lock: Option<LockHolder>,
}

pub fn dry_run(
    session: &ProjectSession,
    args: &ReleaseArgs<'_>,
    progress: &mut dyn Progress,
) -> Result<DryRun> {
    let config = &session.config;
    config.check_project(Some(args.project))?;
    let preq = policy::Request {
        op: args.policy_op(),
        env: Some(args.env),
        require_grant: args.require_grant,
    };
    policy::requirements(config, &preq).map_err(|e| {
        if e.code == ErrorCode::EnvInvalid && matches!(args.op, Operation::Promote { .. }) {
            Error {
                code: ErrorCode::TargetEnvInvalid,
                ..e
            }
        } else {
            e
        }
    })?;
    let env = config.environment(args.env)?;
    let grant = session.verify_grant(args.grant_flag);
    let decision = match &grant {
        Ok(g) => policy::authorize(config, &preq, g.as_ref().map(|g| &g.claims)).map(|r| {
            let grant = g
                .as_ref()
                .map(|g| format!("grant {}", g.gid))
                .unwrap_or_else(|| "no grant".into());
            format!("allowed with {grant} ({})", r.reason)
        }),
        Err(e) => Err(Error::new(e.code, e.message.clone())),
    };
    let halted = crate::ops::halt::read(session.store.as_ref(), &config.project)?
        .filter(|h| h.halted)
        .map(|h| h.reason);
    let configured = Configured::read(env, args.kind)?;
    let op = resolve_op(session, args, &configured)?;
    let target = configured.open(session)?;
    let request = request(
        session,
        args,
        target.as_ref(),
        &configured,
        grant.ok().flatten().map(|g| g.gid),
    )?;
    let ledgers = StoreLedgers {
        store: session.store.as_ref(),
    };
    let plan = execute::plan_only(target.as_ref(), &ledgers, &op, &request, progress)?;
    let lock = target.lock_holder(&request.scope)?;
    let change = target.preview(&plan)?;
    Ok(DryRun {
        change,
        plan,
        decision,
        halted,
        lock,
    })
}

/// `autosd lock break`: removes the deploy lock whoever holds it. Gated like a deploy to
/// that environment (whoever may deploy there may clear its lock) and audited.
pub fn break_lock(
    session: &ProjectSession,
    confirm: &mut dyn Confirm,
    args: &ReleaseArgs<'_>,
) -> Result<(Option<LockHolder>, bool)> {
    let req = Privileged {
        project: Some(args.project),
        env: Some(args.env),
        target: Some(args.kind.as_str()),
        force: args.force,
        grant_flag: args.grant_flag,
        require_grant: args.require_grant,
        ..Privileged::new(policy::Operation::Deploy)
    };
    session.run(&req, confirm, |granted| {
        let env = granted
            .env
            .ok_or_else(|| Error::new(ErrorCode::Internal, "lock break without an environment"))?;
        let target = open_target(session, env, args.kind)?;
        let scope = Scope::new(&session.config.project, args.env);
        let holder = target.lock_holder(&scope)?;
        let removed = target.break_lock(&scope)?;
        Ok((holder, removed))
    })
}

/// The ledger of one environment (read-only; no gate).
pub fn releases(session: &ProjectSession, project: &str, env: &str) -> Result<Ledger> {
    session.config.check_project(Some(project))?;
    session.config.environment(env)?;
    StoreLedgers {
        store: session.store.as_ref(),
    }
    .read(&Scope::new(&session.config.project, env))
}

/// The lock holder of one environment (read-only).
pub fn lock_holder(
    session: &ProjectSession,
    project: &str,
    env: &str,
    kind: TargetKind,
) -> Result<Option<LockHolder>> {
    session.config.check_project(Some(project))?;
    let env = session.config.environment(env)?;
    let target = open_target(session, env, kind)?;
    target.lock_holder(&Scope::new(&session.config.project, &env.name))
}
