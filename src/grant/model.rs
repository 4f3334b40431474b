//! The signed grant payload (`Claims`), capabilities, and the closed set of rejection
//! reasons. Pure: no I/O, no clock. `Claims::allows` is THE capability × environment check.
use crate::error::{Error, ErrorCode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the claims schema; anything else is rejected as malformed.
pub const CLAIMS_VERSION: u32 = 1;
/// The audience every grant names; a token for another audience is refused.
pub const AUDIENCE: &str = "autosd";
/// The deploy environments that have `--auto-deploy-ENV` flags.
pub const DEPLOY_ENVS: [&str; 3] = ["dev", "staging", "prod"];

/// Where a grant may be used, checked against the runtime (GitHub) context when present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bindings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Bindings {
    pub fn is_empty(&self) -> bool {
        self.repository.is_none() && self.git_ref.is_none() && self.environment.is_none()
    }
}

/// The signed payload of a grant. Field order here is the byte order of what is signed;
/// verification never re-serialises, it checks the exact bytes and parses them after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub v: u32,
    pub gid: String,
    pub kid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub projects: Vec<String>,
    /// Environments the grant may deploy (and promote) to: the `--auto-deploy-ENV` flags.
    pub deploy_envs: Vec<String>,
    /// Environments where rollback and heal apply: the deploy envs plus `--env-scope`.
    pub envs: Vec<String>,
    pub rollback: bool,
    pub heal: bool,
    pub push: bool,
    pub break_glass: bool,
    pub bind: Bindings,
}

/// What a privileged operation needs from a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Deploy,
    Rollback,
    Heal,
    Push,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::Deploy,
        Capability::Rollback,
        Capability::Heal,
        Capability::Push,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Deploy => "deploy",
            Capability::Rollback => "rollback",
            Capability::Heal => "heal",
            Capability::Push => "push",
        }
    }

    /// Parses the CLI spelling: `deploy|rollback|heal|push`, or the flag-style
    /// `auto_deploy_prod` / `auto-rollback` forms. A flag-style deploy names its env too.
    pub fn parse(text: &str) -> Option<(Capability, Option<String>)> {
        let t = text.trim().to_ascii_lowercase().replace('-', "_");
        let t = t.strip_prefix("auto_").unwrap_or(&t);
        if let Some(env) = t.strip_prefix("deploy_") {
            return is_env_name(env).then(|| (Capability::Deploy, Some(env.to_string())));
        }
        let cap = match t {
            "deploy" => Capability::Deploy,
            "rollback" => Capability::Rollback,
            "heal" => Capability::Heal,
            "push" => Capability::Push,
            _ => return None,
        };
        Some((cap, None))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a grant was refused. A closed set: scripts match on `code()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    Expired,
    NotYetValid,
    Revoked,
    BadSignature,
    UnknownKey,
    RetiredKey,
    ProjectOutOfScope,
    EnvironmentNotAllowed,
    CapabilityNotAllowed,
    BindingMismatch,
    Malformed,
    LifetimeExceeded,
}

impl Rejection {
    pub const ALL: [Rejection; 12] = [
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::Revoked,
        Rejection::BadSignature,
        Rejection::UnknownKey,
        Rejection::RetiredKey,
        Rejection::ProjectOutOfScope,
        Rejection::EnvironmentNotAllowed,
        Rejection::CapabilityNotAllowed,
        Rejection::BindingMismatch,
        Rejection::Malformed,
        Rejection::LifetimeExceeded,
    ];

    /// Stable snake_case identifier (JSON `reason`, logs, audit).
    pub fn code(self) -> &'static str {
        match self {
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::Revoked => "revoked",
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownKey => "unknown_key",
            Rejection::RetiredKey => "retired_key",
            Rejection::ProjectOutOfScope => "project_out_of_scope",
            Rejection::EnvironmentNotAllowed => "environment_not_allowed",
            Rejection::CapabilityNotAllowed => "capability_not_allowed",
            Rejection::BindingMismatch => "binding_mismatch",
            Rejection::Malformed => "malformed",
            Rejection::LifetimeExceeded => "lifetime_exceeded",
        }
    }

    /// The reason in words; starts with the reason's name as the docs list it.
    pub fn description(self) -> &'static str {
        match self {
            Rejection::Expired => "expired: the grant's expiry time has passed",
            Rejection::NotYetValid => "not yet valid: the grant's validity has not started",
            Rejection::Revoked => "revoked: the grant is on the signed revocation list",
            Rejection::BadSignature => "bad signature: the signature does not match the signed bytes",
            Rejection::UnknownKey => "unknown key: the grant was signed by a key not in the trust store",
            Rejection::RetiredKey => {
                "retired key: the signing key is retired or revoked, or was not valid when the grant was issued"
            }
            Rejection::ProjectOutOfScope => "project out of scope: the grant does not cover this project",
            Rejection::EnvironmentNotAllowed => {
                "environment not allowed: the grant does not cover this environment"
            }
            Rejection::CapabilityNotAllowed => "capability not allowed: the grant does not allow this action",
            Rejection::BindingMismatch => {
                "binding mismatch: the grant is bound to another repository, ref, environment or audience"
            }
            Rejection::Malformed => "malformed: the token is not a well-formed autosd grant",
            Rejection::LifetimeExceeded => {
                "lifetime exceeded: the grant lives longer than the verifier allows"
            }
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Rejection::Expired | Rejection::Revoked | Rejection::LifetimeExceeded => {
                "ask the key owner for a new grant: autosd preauth create-grant …"
            }
            Rejection::NotYetValid => "check the clocks of the issuing machine and of this one",
            Rejection::UnknownKey | Rejection::RetiredKey => {
                "refresh the trust store: autosd preauth export-trust .autosd/trust (and commit it), or create a new grant"
            }
            Rejection::ProjectOutOfScope
            | Rejection::EnvironmentNotAllowed
            | Rejection::CapabilityNotAllowed => {
                "create a grant that covers this action (see autosd preauth show ID for what it allows)"
            }
            Rejection::BindingMismatch => {
                "use the grant in the repository, ref and environment it was created for"
            }
            Rejection::BadSignature | Rejection::Malformed => {
                "pass the token exactly as create-grant printed it (one line, no quotes or spaces)"
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for Rejection {}

impl From<Rejection> for Error {
    /// `AUTOSD-PREAUTH-INVALID` naming the reason; the token itself never appears.
    fn from(r: Rejection) -> Error {
        Error::new(
            ErrorCode::PreauthInvalid,
            format!("grant rejected: {}", r.description()),
        )
        .hint(r.hint())
    }
}

/// Names of projects, environments and the like: short, no path or shell metacharacters.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with('.')
}

/// Environment names: lowercase so `Prod` and `prod` cannot be two scopes.
pub fn is_env_name(s: &str) -> bool {
    is_name(s) && !s.chars().any(|c| c.is_ascii_uppercase())
}

impl Claims {
    /// Checks that this grant lets `cap` act on `project` in `env`. With no capability,
    /// only the project and (if given) the environment scope are checked.
    pub fn allows(&self, project: &str, env: Option<&str>, cap: Capability) -> Result<(), Rejection> {
        self.allows_scope(project, env, Some(cap))
    }

    /// [`Claims::allows`] with the capability optional (`preauth verify` without `--capability`).
    pub fn allows_scope(
        &self,
        project: &str,
        env: Option<&str>,
        cap: Option<Capability>,
    ) -> Result<(), Rejection> {
        if !self.projects.iter().any(|p| p == project) {
            return Err(Rejection::ProjectOutOfScope);
        }
        let in_scope = |list: &[String]| env.is_some_and(|e| list.iter().any(|x| x == e));
        match cap {
            None => match env {
                Some(_) if !in_scope(&self.envs) => Err(Rejection::EnvironmentNotAllowed),
                _ => Ok(()),
            },
            Some(Capability::Deploy) => {
                if self.deploy_envs.is_empty() {
                    Err(Rejection::CapabilityNotAllowed)
                } else if !in_scope(&self.deploy_envs) {
                    Err(Rejection::EnvironmentNotAllowed)
                } else {
                    Ok(())
                }
            }
            Some(c @ (Capability::Rollback | Capability::Heal)) => {
                let granted = if c == Capability::Rollback {
                    self.rollback
                } else {
                    self.heal
                };
                if !granted {
                    Err(Rejection::CapabilityNotAllowed)
                } else if (env.is_some() && !in_scope(&self.envs)) || self.envs.is_empty() {
                    Err(Rejection::EnvironmentNotAllowed)
                } else {
                    Ok(())
                }
            }
            // Pushing a fix is not tied to an environment: the push flag alone decides.
            Some(Capability::Push) => {
                if self.push {
                    Ok(())
                } else {
                    Err(Rejection::CapabilityNotAllowed)
                }
            }
        }
    }

    /// The flag-style capability names this grant carries, for listings and JSON.
    pub fn capability_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .deploy_envs
            .iter()
            .map(|e| format!("auto_deploy_{e}"))
            .collect();
        for (on, name) in [
            (self.rollback, "auto_rollback"),
            (self.heal, "auto_heal"),
            (self.push, "auto_push"),
        ] {
            if on {
                out.push(name.to_string());
            }
        }
        out
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.exp.saturating_sub(self.iat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn claims() -> Claims {
        Claims {
            v: 1,
            gid: "g-00".into(),
            kid: "k-00".into(),
            iss: "me".into(),
            aud: AUDIENCE.into(),
            iat: 0,
            nbf: 0,
            exp: 3600,
            projects: vec!["p".into()],
            deploy_envs: vec!["staging".into()],
            envs: vec!["staging".into(), "qa".into()],
            rollback: true,
            heal: false,
            push: false,
            break_glass: false,
            bind: Bindings::default(),
        }
    }

    #[test]
    fn capability_by_environment() {
        let c = claims();
        assert_eq!(c.allows("p", Some("staging"), Capability::Deploy), Ok(()));
        assert_eq!(
            c.allows("p", Some("prod"), Capability::Deploy),
            Err(Rejection::EnvironmentNotAllowed)
        );
        assert_eq!(
            c.allows("p", None, Capability::Deploy),
            Err(Rejection::EnvironmentNotAllowed)
        );
        assert_eq!(
            c.allows("other", Some("staging"), Capability::Deploy),
            Err(Rejection::ProjectOutOfScope)
        );
        assert_eq!(c.allows("p", Some("qa"), Capability::Rollback), Ok(()));
        assert_eq!(
            c.allows("p", Some("qa"), Capability::Deploy),
            Err(Rejection::EnvironmentNotAllowed)
        );
        assert_eq!(
            c.allows("p", Some("staging"), Capability::Heal),
            Err(Rejection::CapabilityNotAllowed)
        );
        assert_eq!(
            c.allows("p", None, Capability::Push),
            Err(Rejection::CapabilityNotAllowed)
        );
        let mut d = claims();
        d.deploy_envs.clear();
        assert_eq!(
            d.allows("p", Some("staging"), Capability::Deploy),
            Err(Rejection::CapabilityNotAllowed)
        );
    }

    #[test]
    fn capability_parse_accepts_both_spellings() {
        assert_eq!(Capability::parse("deploy"), Some((Capability::Deploy, None)));
        assert_eq!(
            Capability::parse("auto_deploy_prod"),
            Some((Capability::Deploy, Some("prod".into())))
        );
        assert_eq!(
            Capability::parse("auto-rollback"),
            Some((Capability::Rollback, None))
        );
        assert_eq!(Capability::parse("fly"), None);
        assert_eq!(Capability::parse("auto_deploy_../x"), None);
    }

    #[test]
    fn rejection_codes_are_unique_and_named_in_descriptions() {
        let codes: HashSet<_> = Rejection::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Rejection::ALL.len());
        for r in Rejection::ALL {
            let spoken = r.code().replace('_', " ");
            assert!(r.description().starts_with(&spoken), "{r:?}");
            let err: Error = r.into();
            assert_eq!(err.code, ErrorCode::PreauthInvalid);
            assert!(err.message.contains(&spoken));
        }
    }
}
