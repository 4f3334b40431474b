//! THE gate: the one path every privileged operation takes (DESIGN.md §4), in this order:
//! resolve grant → verify → policy → halt check → confirmation → re-check → audit intent →
//! act → audit outcome. Callers (resume today; deploy, rollback, promote, heal and patch
//! later) only build a `Privileged` request and pass the act as a closure.
//!
//! Its I/O comes in through small traits (`GrantCheck`, `HaltSource`, `AuditSink`,
//! `Confirm`) so the whole sequence is unit-tested with fakes; `ops::live` wires the real
//! trust store, state store, audit log and terminal.
use crate::config::{Environment, ProjectConfig};
use crate::error::{Error, ErrorCode, Result};
use crate::grant::{Claims, VerifiedGrant};
use crate::policy::{self, Operation, Request, Requirements};
use crate::secret::Secret;

/// A privileged request: what the command line asked for. `Debug` never shows
/// `grant_flag`, which may be a token.
#[derive(Clone)]
pub struct Privileged<'a> {
    pub op: Operation,
    /// `--project`; must equal the project file's id when given.
    pub project: Option<&'a str>,
    /// The environment acted in (a promotion's destination).
    pub env: Option<&'a str>,
    /// The target kind or name, for the audit record only.
    pub target: Option<&'a str>,
    /// `--force`: skip the confirmation prompt (never the grant or the halt check).
    pub force: bool,
    /// `--preauth-grant` as typed (an id or a token); `AUTOSD_PREAUTH_GRANT` is the fallback.
    pub grant_flag: Option<&'a str>,
    /// `--require-preauth`.
    pub require_grant: bool,
}

impl std::fmt::Debug for Privileged<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privileged")
            .field("op", &self.op)
            .field("project", &self.project)
            .field("env", &self.env)
            .field("target", &self.target)
            .field("force", &self.force)
            .field("grant_flag", &self.grant_flag.map(|_| "[redacted]"))
            .field("require_grant", &self.require_grant)
            .finish()
    }
}

impl<'a> Privileged<'a> {
    pub fn new(op: Operation) -> Self {
        Privileged {
            op,
            project: None,
            env: None,
            target: None,
            force: false,
            grant_flag: None,
            require_grant: false,
        }
    }
}

/// What the act receives once the gate let it through.
#[derive(Debug, Clone)]
pub struct Granted<'c> {
    pub project: &'c str,
    pub env: Option<&'c Environment>,
    pub grant: Option<VerifiedGrant>,
    pub requirements: Requirements,
}

impl Granted<'_> {
    pub fn grant_id(&self) -> Option<&str> {
        self.grant.as_ref().map(|g| g.gid.as_str())
    }
}

/// Where grants come from and how they are judged.
pub trait GrantCheck {
    /// The token from `--preauth-grant` (id or token) or `AUTOSD_PREAUTH_GRANT`, if any.
    fn resolve(&self, flag: Option<&str>) -> Result<Option<Secret<String>>>;
    /// Signature, key, lifetime, time, revocation, bindings and project/env scope.
    fn verify(
        &self,
        token: &Secret<String>,
        now: i64,
        project: &str,
        env: Option<&str>,
    ) -> Result<VerifiedGrant>;
}

/// The kill switch as the gate sees it: `Some(reason)` while halted. A state that cannot
/// be read is an error, never "not halted" (fail closed).
pub trait HaltSource {
    fn halted(&self, project: &str) -> Result<Option<String>>;
}

/// Asks a human. Only called on a TTY; implemented by the CLI.
pub trait Confirm {
    fn confirm(&mut self, question: &str) -> Result<bool>;
}

/// The phase of an audit record the gate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Written (and fsynced) before acting; if it cannot be written, nothing happens.
    Intent,
    /// Written after the act, with its result.
    Outcome,
    /// A refusal by the gate.
    Denied,
}

/// One record the gate hands to the audit log. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRecord {
    pub phase: Phase,
    pub op: Operation,
    pub project: String,
    pub env: Option<String>,
    pub target: Option<String>,
    pub grant_id: Option<String>,
    pub kid: Option<String>,
    /// `None` = allowed (or an outcome that succeeded); `Some(code)` = refused or failed.
    pub error: Option<ErrorCode>,
    /// A short human text: why a grant was (not) needed, a denial, an act's result.
    pub detail: String,
    pub duration_ms: Option<u64>,
}

pub trait AuditSink {
    /// Appends durably (fsync) or fails; the gate treats failure as "do not act".
    fn record(&self, record: &GateRecord) -> Result<()>;
}

/// The gate with its collaborators.
pub struct Guard<'d> {
    pub config: &'d ProjectConfig,
    pub grants: &'d dyn GrantCheck,
    pub halts: &'d dyn HaltSource,
    pub audit: &'d dyn AuditSink,
    pub confirm: &'d mut dyn Confirm,
    /// Whether a human can answer a prompt (stdin is a TTY).
    pub interactive: bool,
    /// Unix seconds; read again after the prompt.
    pub clock: &'d dyn Fn() -> i64,
    /// Milliseconds from a monotonic clock, for durations.
    pub elapsed_ms: &'d dyn Fn() -> u64,
}

/// A refusal, with the grant it concerned (for the denial record) if one was verified.
type Refusal = Box<(Error, Option<VerifiedGrant>)>;

impl<'d> Guard<'d> {
    /// Runs `act` if and only if every check passes, recording the decision either way.
    pub fn run<T>(&mut self, req: &Privileged<'_>, act: impl FnOnce(&Granted<'d>) -> Result<T>) -> Result<T> {
        self.run_with_detail(req, act, |_| "done".to_string())
    }

    /// As [`Guard::run`], with the outcome record's detail taken from the act's result
    /// (`patch` records the commit it pushed there).
    pub fn run_with_detail<T>(
        &mut self,
        req: &Privileged<'_>,
        act: impl FnOnce(&Granted<'d>) -> Result<T>,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T> {
        let mut rec = GateRecord {
            phase: Phase::Denied,
            op: req.op,
            project: self.config.project.clone(),
            env: req.env.map(str::to_string),
            target: req.target.map(str::to_string),
            grant_id: None,
            kid: None,
            error: None,
            detail: String::new(),
            duration_ms: None,
        };
        let (granted, token) = match self.check(req) {
            Ok(ok) => ok,
            Err(refusal) => {
                let (err, grant) = *refusal;
                return Err(self.deny(&mut rec, err, grant.as_ref()));
            }
        };
        rec.grant_id = granted.grant.as_ref().map(|g| g.gid.clone());
        rec.kid = granted.grant.as_ref().map(|g| g.kid.as_str().to_string());

        if let Err(err) = self.confirm_step(req, &granted, token.as_ref()) {
            return Err(self.deny(&mut rec, err, None));
        }

        rec.phase = Phase::Intent;
        rec.detail = granted.requirements.reason.clone();
        self.audit.record(&rec).map_err(|e| {
            Error::new(
                e.code,
                format!(
                    "{} was not done: its audit intent could not be written: {}",
                    policy::describe(&request(req)),
                    e.message
                ),
            )
            .hint("the audit log must be writable before autosd acts (fail closed)")
        })?;

        let started = (self.elapsed_ms)();
        let result = act(&granted);
        rec.phase = Phase::Outcome;
        rec.duration_ms = Some((self.elapsed_ms)().saturating_sub(started));
        match &result {
            Ok(value) => {
                rec.error = None;
                rec.detail = detail(value);
            }
            Err(e) => {
                rec.error = Some(e.code);
                rec.detail = e.message.clone();
            }
        }
        let recorded = self.audit.record(&rec);
        match (result, recorded) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(Error::new(
                e.code,
                format!(
                    "{} was done, but its outcome could not be written to the audit log: {}",
                    policy::describe(&request(req)),
                    e.message
                ),
            )
            .hint("repair the audit log; `autosd audit show` has the intent without an outcome")),
            (Err(e), _) => Err(e),
        }
    }

    /// Grant, verification, policy and halt: everything decided without a human.
    fn check(
        &self,
        req: &Privileged<'_>,
    ) -> std::result::Result<(Granted<'d>, Option<Secret<String>>), Refusal> {
        let config: &'d ProjectConfig = self.config;
        config
            .check_project(req.project)
            .map_err(|e| Box::new((e, None)))?;
        let request = request(req);
        // Environment and usage first: an unknown environment is refused before any grant
        // is looked at, so it can never be mistaken for a non-production one.
        policy::requirements(config, &request).map_err(|e| Box::new((e, None)))?;

        let (token, grant) = if req.op == Operation::Halt {
            (None, None)
        } else {
            let token = self
                .grants
                .resolve(req.grant_flag)
                .map_err(|e| Box::new((e, None)))?;
            let grant = match &token {
                Some(t) => Some(
                    self.grants
                        .verify(t, (self.clock)(), &config.project, req.env)
                        .map_err(|e| Box::new((e, None)))?,
                ),
                None => None,
            };
            (token, grant)
        };
        let claims: Option<&Claims> = grant.as_ref().map(|g| &g.claims);
        let requirements = match policy::authorize(config, &request, claims) {
            Ok(r) => r,
            Err(e) => return Err(Box::new((e, grant))),
        };
        // Operations the kill switch does not apply to (resume) skip the read, so a corrupt
        // halt record can be repaired by the gated resume.
        let halted = match req.op.halt_rule() {
            policy::HaltRule::Unaffected => None,
            _ => match self.halts.halted(&config.project) {
                Ok(h) => h,
                Err(e) => return Err(Box::new((e, grant))),
            },
        };
        if let Err(e) = policy::check_halt(config, &request, halted.as_deref(), claims) {
            return Err(Box::new((e, grant)));
        }
        let env = match req.env {
            Some(name) if req.op.takes_env() => config.environment(name).ok(),
            _ => None,
        };
        Ok((
            Granted {
                project: &config.project,
                env,
                grant,
                requirements,
            },
            token,
        ))
    }

    /// The human step: `--force`, or a `[y/N]` answer on a TTY; never a read without one.
    /// After a prompt, the grant and the kill switch are checked again, because a human may
    /// have taken longer than the grant lived, or someone halted meanwhile.
    fn confirm_step(
        &mut self,
        req: &Privileged<'_>,
        granted: &Granted<'d>,
        token: Option<&Secret<String>>,
    ) -> Result<()> {
        if !granted.requirements.confirmation || req.force {
            return Ok(());
        }
        let what = policy::describe(&request(req));
        if !self.interactive {
            return Err(Error::new(
                ErrorCode::ConfirmRequired,
                format!(
                    "{what} in project `{}` needs confirmation, and there is no terminal to ask on",
                    self.config.project
                ),
            )
            .hint("pass --force to confirm non-interactively"));
        }
        let question = format!("{what} in project `{}`. Proceed? [y/N] ", self.config.project);
        if !self.confirm.confirm(&question)? {
            return Err(Error::new(
                ErrorCode::ConfirmDeclined,
                format!("{what} was not confirmed; nothing was done"),
            )
            .hint("answer y to proceed, or pass --force"));
        }
        if let Some(token) = token {
            self.grants
                .verify(token, (self.clock)(), &self.config.project, req.env)?;
        }
        let halted = match req.op.halt_rule() {
            policy::HaltRule::Unaffected => None,
            _ => self.halts.halted(&self.config.project)?,
        };
        let claims = granted.grant.as_ref().map(|g| &g.claims);
        policy::check_halt(self.config, &request(req), halted.as_deref(), claims)
    }

    /// Records a refusal (best effort: the refusal stands even if the log is unwritable)
    /// and returns it.
    fn deny(&self, rec: &mut GateRecord, err: Error, grant: Option<&VerifiedGrant>) -> Error {
        if let Some(g) = grant {
            rec.grant_id = Some(g.gid.clone());
            rec.kid = Some(g.kid.as_str().to_string());
        }
        rec.phase = Phase::Denied;
        rec.error = Some(err.code);
        rec.detail = err.message.clone();
        if let Err(audit_err) = self.audit.record(rec) {
            tracing::warn!(code = audit_err.code.as_str(), "the denial could not be audited");
            return err.hint(format!(
                "the refusal could not be written to the audit log either: {}",
                audit_err.message
            ));
        }
        err
    }
}

fn request<'r>(req: &Privileged<'r>) -> Request<'r> {
    Request {
        op: req.op,
        env: req.env,
        require_grant: req.require_grant,
    }
}

#[cfg(test)]
mod tests;
