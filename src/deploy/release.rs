//! A release: one attempt to make an image digest serve an environment, and its health verdict.
//! Pure data; the ledger (`ledger.rs`) stores and folds these, targets run them.
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which project and environment an operation acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub project: String,
    pub env: String,
}

impl Scope {
    pub fn new(project: impl Into<String>, env: impl Into<String>) -> Self {
        Scope {
            project: project.into(),
            env: env.into(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.env)
    }
}

/// The health verdict of a release. `Pending` until its gate decides; `RolledBack` when a
/// later rollback replaced it (it passed its gate once but is no longer trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pending,
    Healthy,
    Failed,
    RolledBack,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Healthy => "healthy",
            Verdict::Failed => "failed",
            Verdict::RolledBack => "rolled-back",
        }
    }
}

/// Why a release exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Origin {
    Deploy,
    /// Back to the known-good `source` (an earlier release of the same environment),
    /// replacing `replaced` (the release serving at the time, if any).
    Rollback {
        source: String,
        replaced: Option<String>,
    },
    /// The digest healthy in `from_env` (release `from_release`).
    Promote {
        from_env: String,
        from_release: String,
    },
}

impl Origin {
    pub fn label(&self) -> &'static str {
        match self {
            Origin::Deploy => "deploy",
            Origin::Rollback { .. } => "rollback",
            Origin::Promote { .. } => "promote",
        }
    }
}

/// Who started a release: a person or a CI run (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Who {
    /// `user` or `github_run`.
    pub kind: String,
    /// The user name, or the GitHub actor of the run.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Who {
    pub fn from_actor(actor: &crate::context::Actor) -> Self {
        match actor {
            crate::context::Actor::User { name } => Who {
                kind: "user".into(),
                name: name.clone(),
                repository: None,
                run_id: None,
            },
            crate::context::Actor::GithubRun {
                repository,
                run_id,
                actor,
                ..
            } => Who {
                kind: "github_run".into(),
                name: actor.clone(),
                repository: Some(repository.clone()),
                run_id: Some(run_id.clone()),
            },
        }
    }

    pub fn describe(&self) -> String {
        match (&self.repository, &self.run_id) {
            (Some(repo), Some(run)) => format!("GitHub run {run} of {repo} (by {})", self.name),
            _ => format!("user {}", self.name),
        }
    }
}

/// One release as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub id: String,
    pub project: String,
    pub env: String,
    /// `docker` or `generic_container`.
    pub target: String,
    /// The reference as given (`repo:tag`, `repo@sha256:…`).
    pub image: String,
    /// The content digest the reference resolved to (`sha256:…`): what actually runs.
    pub digest: String,
    pub origin: Origin,
    pub who: Who,
    /// Unix seconds when the release started.
    pub when: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    pub verdict: Verdict,
    /// Why the verdict is `failed` (gate reason), for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Release {
    pub fn scope(&self) -> Scope {
        Scope::new(&self.project, &self.env)
    }
}

/// A fresh release id: `r<unix seconds>-<6 hex>`; sortable by time, valid in container names.
pub fn new_release_id(now_unix: i64) -> String {
    let mut nonce = [0u8; 3];
    let _ = getrandom::fill(&mut nonce);
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!("r{now_unix}-{hex}")
}

/// Project and environment names become parts of container names and labels: keep them to
/// `[a-z0-9_-]`, starting with an alphanumeric, at most 63 characters.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_are_unique_and_container_safe() {
        let a = new_release_id(1_700_000_000);
        let b = new_release_id(1_700_000_000);
        assert_ne!(a, b);
        assert!(a.starts_with("r1700000000-"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("my-project"));
        assert!(valid_name("prod_2"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("My"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(64)));
    }

    #[test]
    fn verdict_spelling_is_stable() {
        let json = serde_json::to_string(&Verdict::RolledBack).expect("json");
        assert_eq!(json, "\"rolled-back\"");
        assert_eq!(Verdict::RolledBack.as_str(), "rolled-back");
    }
}
