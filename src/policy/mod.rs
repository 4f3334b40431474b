//! The policy: which privileged operations need a grant and which capability, which need a
//! human's confirmation, and what the kill switch blocks (DESIGN.md §4). Pure: the project
//! file, the request and an already-verified grant's claims in, a decision or the exact
//! refusal out. It never reads a file, the clock or the terminal; `ops::guard` does that.
//! The capability × environment check itself is `Claims::allows` (one implementation).
use crate::config::{Environment, ProjectConfig};
use crate::error::{Error, ErrorCode, Result};
use crate::grant::{Capability, Claims};
use std::fmt;

/// Every operation that goes through the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Deploy,
    /// A promotion, checked against its destination environment.
    Promote,
    Rollback,
    /// Healing that only restarts or repairs in place.
    Heal,
    /// Healing that rolls back to the last known-good release.
    HealWithRollback,
    /// `patch --auto-push`: pushing a fix to the repository.
    Patch,
    /// Lifting the kill switch.
    Resume,
    /// Setting the kill switch. Never needs a grant: stopping must always be possible.
    Halt,
}

/// What the kill switch does to an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltRule {
    /// Refused while halted.
    Blocked,
    /// Allowed while halted only with a break-glass grant.
    BreakGlass,
    /// The kill switch does not apply.
    Unaffected,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::Deploy,
        Operation::Promote,
        Operation::Rollback,
        Operation::Heal,
        Operation::HealWithRollback,
        Operation::Patch,
        Operation::Resume,
        Operation::Halt,
    ];

    /// Stable identifier: audit records, JSON and `policy show`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Deploy => "deploy",
            Operation::Promote => "promote",
            Operation::Rollback => "rollback",
            Operation::Heal => "heal",
            Operation::HealWithRollback => "heal_with_rollback",
            Operation::Patch => "patch",
            Operation::Resume => "resume",
            Operation::Halt => "halt",
        }
    }

    /// Whether the operation acts in one environment (and so must name a known one).
    pub fn takes_env(self) -> bool {
        matches!(
            self,
            Operation::Deploy
                | Operation::Promote
                | Operation::Rollback
                | Operation::Heal
                | Operation::HealWithRollback
        )
    }

    /// The grant capabilities the operation needs, all of them (checked in the operation's
    /// environment). Resume needs break-glass instead, which is not a capability.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            Operation::Deploy | Operation::Promote => &[Capability::Deploy],
            Operation::Rollback => &[Capability::Rollback],
            Operation::Heal => &[Capability::Heal],
            Operation::HealWithRollback => &[Capability::Heal, Capability::Rollback],
            Operation::Patch => &[Capability::Push],
            Operation::Resume | Operation::Halt => &[],
        }
    }

    pub fn halt_rule(self) -> HaltRule {
        match self {
            Operation::Deploy
            | Operation::Promote
            | Operation::Heal
            | Operation::HealWithRollback
            | Operation::Patch => HaltRule::Blocked,
            Operation::Rollback => HaltRule::BreakGlass,
            Operation::Resume | Operation::Halt => HaltRule::Unaffected,
        }
    }

    /// Destructive operations ask `Proceed? [y/N]` (or need `--force`): deploys and
    /// promotions into production, every rollback (also inside heal) and resume.
    pub fn is_destructive(self, env: Option<&Environment>) -> bool {
        match self {
            Operation::Deploy | Operation::Promote => env.is_some_and(|e| e.production),
            Operation::Rollback | Operation::HealWithRollback | Operation::Resume => true,
            Operation::Heal | Operation::Patch | Operation::Halt => false,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is being asked, before any grant is looked at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub op: Operation,
    /// The environment acted in (the destination for a promotion).
    pub env: Option<&'a str>,
    /// `--require-preauth`: demand a grant even where the project file does not.
    pub require_grant: bool,
}

/// What policy requires of a request (independent of any grant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    pub grant_required: bool,
    pub confirmation: bool,
    pub capabilities: &'static [Capability],
    pub break_glass: bool,
    pub halt_rule: HaltRule,
    /// Why a grant is (or is not) required, for `policy show` and messages.
    pub reason: String,
}

/// What a request needs: env checked (`AUTOSD-ENV-INVALID` for unknown names), grant need,
/// confirmation, capabilities.
pub fn requirements(config: &ProjectConfig, req: &Request<'_>) -> Result<Requirements> {
    let env = resolve_env(config, req)?;
    let (grant_required, reason) = match (req.op, env) {
        (Operation::Halt, _) => (false, "halting never needs a grant".to_string()),
        // Pushing to the repository is autonomy by definition: a human pushes with git.
        (Operation::Patch, _) => (
            true,
            "patch --auto-push always needs a grant with auto_push".to_string(),
        ),
        (_, Some(e)) if e.production => (
            true,
            format!("`{}` is production: production always requires a grant", e.name),
        ),
        (_, Some(e)) if e.require_grant => (
            true,
            format!("`{}` has require_grant: true in the project file", e.name),
        ),
        _ if req.require_grant => (true, "--require-preauth was given".to_string()),
        (_, None) if project_requires_grants(config) => (
            true,
            "the project file sets require_grant: true for an environment".to_string(),
        ),
        (_, Some(e)) => (false, format!("`{}` does not require a grant", e.name)),
        (_, None) => (
            false,
            "no environment of the project sets require_grant: true".to_string(),
        ),
    };
    Ok(Requirements {
        grant_required,
        confirmation: req.op.is_destructive(env),
        capabilities: req.op.capabilities(),
        break_glass: req.op == Operation::Resume,
        halt_rule: req.op.halt_rule(),
        reason,
    })
}

/// Whether the project opted into grants beyond production: environment-less operations
/// (patch, resume) then need one too.
pub fn project_requires_grants(config: &ProjectConfig) -> bool {
    config
        .environments
        .iter()
        .any(|e| e.require_grant_explicit && e.require_grant)
}

fn resolve_env<'c>(config: &'c ProjectConfig, req: &Request<'_>) -> Result<Option<&'c Environment>> {
    match (req.op.takes_env(), req.env) {
        (true, Some(name)) => config.environment(name).map(Some),
        (true, None) => Err(Error::new(
            ErrorCode::Usage,
            format!("{} needs an environment (--env)", req.op),
        )),
        // An environment named on an env-less operation must still be a real one.
        (false, Some(name)) => config.environment(name).map(Some),
        (false, None) => Ok(None),
    }
}

/// The policy step of the gate: may this request go ahead with this (verified) grant?
/// Default deny: a grant, when given, must allow the operation even where none is required,
/// and a required grant that is missing is `AUTOSD-PREAUTH-REQUIRED`.
pub fn authorize(config: &ProjectConfig, req: &Request<'_>, grant: Option<&Claims>) -> Result<Requirements> {
    let needs = requirements(config, req)?;
    if req.op == Operation::Halt {
        return Ok(needs);
    }
    let Some(claims) = grant else {
        if needs.grant_required {
            return Err(Error::new(
                ErrorCode::PreauthRequired,
                format!(
                    "{} in project `{}` needs a preauthorization grant: {}",
                    describe(req),
                    config.project,
                    needs.reason
                ),
            )
            .hint("pass --preauth-grant ID|TOKEN or set AUTOSD_PREAUTH_GRANT"));
        }
        return Ok(needs);
    };
    check_claims(config, req, &needs, claims)?;
    Ok(needs)
}

fn check_claims(
    config: &ProjectConfig,
    req: &Request<'_>,
    needs: &Requirements,
    claims: &Claims,
) -> Result<()> {
    if needs.break_glass {
        claims
            .allows_scope(&config.project, None, None)
            .map_err(Error::from)?;
        if !claims.break_glass {
            return Err(Error::new(
                ErrorCode::PreauthInvalid,
                format!("grant rejected: {} needs a break-glass grant", describe(req)),
            )
            .hint("create one with autosd preauth create-grant --break-glass …"));
        }
    }
    for cap in needs.capabilities {
        claims.allows(&config.project, req.env, *cap).map_err(|r| {
            Error::from(r).hint(format!("{} needs {}", describe(req), cap_flag(*cap, req.env)))
        })?;
    }
    Ok(())
}

/// The halt step of the gate, after policy. `grant` is the verified grant, if any.
pub fn check_halt(
    config: &ProjectConfig,
    req: &Request<'_>,
    halted: Option<&str>,
    grant: Option<&Claims>,
) -> Result<()> {
    let Some(reason) = halted else {
        return Ok(());
    };
    let refuse = |extra: &str| {
        Error::new(
            ErrorCode::Halted,
            format!(
                "project `{}` is halted ({reason}): {} refused{extra}",
                config.project,
                describe(req)
            ),
        )
        .hint(format!(
            "lift the kill switch with autosd resume --project {}",
            config.project
        ))
    };
    match req.op.halt_rule() {
        HaltRule::Unaffected => Ok(()),
        HaltRule::Blocked => Err(refuse("")),
        HaltRule::BreakGlass if grant.is_some_and(|g| g.break_glass) => Ok(()),
        HaltRule::BreakGlass => Err(refuse("; while halted it needs a break-glass grant")),
    }
}

/// `deploy to prod`, `patch`, … for messages.
pub fn describe(req: &Request<'_>) -> String {
    match req.env {
        Some(env) if req.op.takes_env() => format!("{} in `{env}`", req.op),
        _ => req.op.to_string(),
    }
}

/// The grant flag that confers `cap` (as `preauth create-grant` spells it).
pub fn cap_flag(cap: Capability, env: Option<&str>) -> String {
    match (cap, env) {
        (Capability::Deploy, Some(env)) => format!("--auto-deploy-{env}"),
        (Capability::Deploy, None) => "--auto-deploy-ENV".to_string(),
        (Capability::Rollback, _) => "--auto-rollback".to_string(),
        (Capability::Heal, _) => "--auto-heal".to_string(),
        (Capability::Push, _) => "--auto-push".to_string(),
    }
}

#[cfg(test)]
mod tests;
