//! The gate wired to the real world: the project file, the state store, the audit log(s),
//! the trust store and the clock. `ProjectSession::run` is what privileged commands call;
//! `ProjectSession::halt` is the cheap, ungated kill switch.
use crate::audit::{AuditEvent, AuditLog, Decision, Outcome, Phase as AuditPhase};
use crate::config::{self, ProjectConfig, StateSettings};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::grant::{Check, RuntimeBindings, VerifiedGrant, Verifier, resolve_grant_value};
use crate::ops::guard::{AuditSink, Confirm, GateRecord, GrantCheck, Granted, Guard, Phase, Privileged};
use crate::ops::halt::{self, StoreHalts, Switched};
use crate::secret::Secret;
use crate::store::{self, Store, StoreConfig};
use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::Instant;

/// A project command's view of the world, opened once per command.
pub struct ProjectSession {
    pub ctx: Context,
    pub config: ProjectConfig,
    pub store: Box<dyn Store>,
    audit: LiveAudit,
    grants: LiveGrants,
}

impl ProjectSession {
    /// Finds the project file from the current directory, checks `--project` against it and
    /// opens the state store (`state` overrides the file's `state:` section).
    pub fn open(ctx: &Context, project: Option<&str>, state: Option<StateSettings>) -> Result<Self> {
        let config = config::discover(&ctx.cwd, project)?;
        Self::with_config(ctx, config, state)
    }

    pub fn with_config(
        ctx: &Context,
        mut config: ProjectConfig,
        state: Option<StateSettings>,
    ) -> Result<Self> {
        if let Some(state) = state {
            config.state = state;
        }
        let store_config = store_config(&config.state);
        let store = store::open(ctx, &store_config)?;
        let mut logs = vec![AuditLog::open(ctx)];
        // CI homes are thrown away: with the git store the trail must also live on the branch.
        if matches!(config.state, StateSettings::Git { .. }) {
            let actor = crate::audit::record::RecordActor::from(&ctx.actor());
            logs.push(AuditLog::in_store(store::open(ctx, &store_config)?, actor)?);
        }
        Ok(ProjectSession {
            ctx: ctx.clone(),
            grants: LiveGrants {
                ctx: ctx.clone(),
                repo_root: config.root.clone(),
                verifier: OnceCell::new(),
            },
            config,
            store,
            audit: LiveAudit { logs },
        })
    }

    /// Runs `act` through the gate (see `ops::guard`).
    pub fn run<T>(
        &self,
        req: &Privileged<'_>,
        confirm: &mut dyn Confirm,
        act: impl FnOnce(&Granted<'_>) -> Result<T>,
    ) -> Result<T> {
        self.run_with_detail(req, confirm, act, |_| "done".to_string())
    }

    /// As [`ProjectSession::run`], with the outcome record's detail built from the result.
    pub fn run_with_detail<T>(
        &self,
        req: &Privileged<'_>,
        confirm: &mut dyn Confirm,
        act: impl FnOnce(&Granted<'_>) -> Result<T>,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T> {
        let start = Instant::now();
        let clock = || self.ctx.now_unix();
        let elapsed = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let halts = StoreHalts(self.store.as_ref());
        let mut guard = Guard {
            config: &self.config,
            grants: &self.grants,
            halts: &halts,
            audit: &self.audit,
            confirm,
            // The prompt goes to stderr and the answer comes from stdin: both must be the
            // terminal, or a human would wait on a question they cannot see.
            interactive: self.ctx.stdin_is_tty && self.ctx.stderr_is_tty,
            clock: &clock,
            elapsed_ms: &elapsed,
        };
        guard.run_with_detail(req, act, detail)
    }

    /// Sets the kill switch. Needs no grant and no confirmation, and is not stopped by an
    /// unwritable audit log (stopping must never be harder than acting): the halt is written
    /// first, then recorded as an audit event; a failed record is returned alongside.
    pub fn halt(&self, reason: Option<&str>) -> Result<(Switched, Option<Error>)> {
        let actor = self.ctx.actor().describe();
        let switched = halt::halt(
            self.store.as_ref(),
            &self.config.project,
            reason,
            &actor,
            self.ctx.now_unix(),
        )?;
        let record = GateRecord {
            phase: Phase::Outcome,
            op: crate::policy::Operation::Halt,
            project: self.config.project.clone(),
            env: None,
            target: None,
            grant_id: None,
            kid: None,
            error: None,
            detail: format!(
                "{}: {}",
                if switched.unchanged {
                    "already halted"
                } else {
                    "halted"
                },
                switched.record.reason
            ),
            duration_ms: None,
        };
        let audit_error = self.audit.event(&record).err();
        Ok((switched, audit_error))
    }

    /// Resumes through the gate (`Operation::Resume`: destructive, grant per policy).
    pub fn resume(&self, req: &Privileged<'_>, confirm: &mut dyn Confirm) -> Result<Switched> {
        let actor = self.ctx.actor().describe();
        self.run(req, confirm, |_| {
            halt::resume(
                self.store.as_ref(),
                &self.config.project,
                &actor,
                self.ctx.now_unix(),
            )
        })
    }

    /// The local audit log (the log of record on this machine).
    pub fn local_audit(&self) -> AuditLog {
        AuditLog::open(&self.ctx)
    }

    /// The log shared by every machine on the git state branch, when the git store is used.
    pub fn shared_audit(&self) -> Option<&AuditLog> {
        self.audit.logs.get(1)
    }

    /// Verifies a grant for `policy show` (signature, time, revocation, project scope).
    pub fn verify_grant(&self, flag: Option<&str>) -> Result<Option<VerifiedGrant>> {
        match self.grants.resolve(flag)? {
            Some(token) => self
                .grants
                .verify(&token, self.ctx.now_unix(), &self.config.project, None)
                .map(Some),
            None => Ok(None),
        }
    }
}

pub fn store_config(state: &StateSettings) -> StoreConfig {
    match state {
        StateSettings::Local => StoreConfig::Local,
        StateSettings::Git { remote, branch } => StoreConfig::Git {
            remote: remote.clone(),
            branch: branch.clone(),
        },
    }
}

/// Grants from `--preauth-grant` / `AUTOSD_PREAUTH_GRANT`, judged by the home and repository
/// trust stores (loaded only when a grant is actually presented).
struct LiveGrants {
    ctx: Context,
    repo_root: PathBuf,
    verifier: OnceCell<Verifier>,
}

impl LiveGrants {
    fn verifier(&self) -> Result<&Verifier> {
        if let Some(v) = self.verifier.get() {
            return Ok(v);
        }
        let loaded = Verifier::load(&self.ctx, Some(&self.repo_root))?;
        Ok(self.verifier.get_or_init(|| loaded))
    }
}

impl GrantCheck for LiveGrants {
    fn resolve(&self, flag: Option<&str>) -> Result<Option<Secret<String>>> {
        resolve_grant_value(&self.ctx, flag)
    }

    fn verify(
        &self,
        token: &Secret<String>,
        now: i64,
        project: &str,
        env: Option<&str>,
    ) -> Result<VerifiedGrant> {
        let check = Check {
            project: Some(project),
            env,
            capability: None,
            runtime: RuntimeBindings::from_env(&self.ctx.env),
        };
        Ok(self.verifier()?.verify(token.expose(), now, &check)?)
    }
}

/// The audit log(s) of the session: every record goes to all of them, or the write fails.
struct LiveAudit {
    logs: Vec<AuditLog>,
}

impl LiveAudit {
    fn event(&self, record: &GateRecord) -> Result<()> {
        let event = to_event(record, AuditPhase::Event);
        for log in &self.logs {
            log.append(&event)?;
        }
        Ok(())
    }
}

impl AuditSink for LiveAudit {
    fn record(&self, record: &GateRecord) -> Result<()> {
        let phase = match record.phase {
            Phase::Intent => AuditPhase::Intent,
            Phase::Outcome => AuditPhase::Outcome,
            Phase::Denied => AuditPhase::Denied,
        };
        let event = to_event(record, phase);
        for log in &self.logs {
            log.append(&event)?;
        }
        Ok(())
    }
}

fn to_event(r: &GateRecord, phase: AuditPhase) -> AuditEvent {
    let mut event = AuditEvent::new(r.op.as_str(), phase).project(&r.project);
    if let Some(env) = &r.env {
        event = event.env(env);
    }
    if let Some(target) = &r.target {
        event = event.target(target);
    }
    if let (Some(gid), Some(kid)) = (&r.grant_id, &r.kid) {
        event = event.grant(gid, kid);
    }
    event = match (phase, r.error) {
        (AuditPhase::Denied, Some(code)) => event.decision(Decision::deny(code)),
        (AuditPhase::Outcome, Some(code)) => event.decision(Decision::allow()).outcome(Outcome::failed(code)),
        (AuditPhase::Outcome | AuditPhase::Event, None) => {
            event.decision(Decision::allow()).outcome(Outcome::ok())
        }
        _ => event.decision(Decision::allow()),
    };
    if let Some(ms) = r.duration_ms {
        event = event.duration_ms(ms);
    }
    if !r.detail.is_empty() {
        event = event.detail("reason", &r.detail);
    }
    event
}
