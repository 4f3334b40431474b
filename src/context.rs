//! The only reader of the process environment and the clock. Everything else receives
//! a `Context` and asks it, so tests and the gate see one consistent snapshot.
#![allow(clippy::disallowed_methods)] // this module is the sanctioned reader of env and time

use crate::secret::Secret;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Variables autosd reads. Anything else in the environment is ignored.
const WATCHED_VARS: &[&str] = &[
    "AUTOSD_HOME",
    "AUTOSD_CI_MIRROR",
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_ACTOR",
    "GITHUB_API_URL",
    "GITHUB_ENV",
    "GITHUB_JOB",
    "GITHUB_OUTPUT",
    "GITHUB_REF",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_RUN_ID",
    "GITHUB_SERVER_URL",
    "GITHUB_SHA",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKFLOW",
    "AUTOSD_ENVIRONMENT",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    // Where Docker credential helpers (`docker-credential-<name>`) are found.
    "PATH",
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "HOME",
    "USER",
    "USERNAME",
];

/// Variables whose values are secrets: kept apart, never listed with the others.
const SECRET_VARS: &[&str] = &["AUTOSD_PREAUTH_GRANT", "GITHUB_TOKEN"];

/// A snapshot of the process environment taken once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<&'static str, String>,
    secrets: BTreeMap<&'static str, Secret<String>>,
}

impl Env {
    pub fn from_process() -> Self {
        let mut env = Env::default();
        for name in WATCHED_VARS {
            if let Ok(v) = std::env::var(name) {
                env.vars.insert(name, v);
            }
        }
        for name in SECRET_VARS {
            if let Ok(v) = std::env::var(name) {
                env.secrets.insert(name, Secret::new(v));
            }
        }
        env
    }

    /// An environment built from explicit pairs, for tests and embedding.
    pub fn from_pairs(pairs: &[(&'static str, &str)]) -> Self {
        let mut env = Env::default();
        for (k, v) in pairs {
            if SECRET_VARS.contains(k) {
                env.secrets.insert(k, Secret::new(v.to_string()));
            } else {
                env.vars.insert(k, v.to_string());
            }
        }
        env
    }

    /// A non-secret variable; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn secret(&self, name: &str) -> Option<&Secret<String>> {
        self.secrets.get(name).filter(|v| !v.expose().is_empty())
    }

    pub fn in_github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS") == Some("true")
    }
}

/// Who is acting: a person at a terminal or a GitHub Actions run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User {
        name: String,
    },
    GithubRun {
        repository: String,
        run_id: String,
        actor: String,
        workflow: String,
    },
}

impl Actor {
    pub fn describe(&self) -> String {
        match self {
            Actor::User { name } => format!("user {name}"),
            Actor::GithubRun {
                repository,
                run_id,
                actor,
                ..
            } => {
                format!("GitHub run {run_id} of {repository} (by {actor})")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Context {
    pub home: PathBuf,
    pub env: Env,
    pub cwd: PathBuf,
    pub stdin_is_tty: bool,
    pub stderr_is_tty: bool,
}

impl Context {
    /// Reads the process environment once. `home_flag` is `--home`, which wins over `AUTOSD_HOME`.
    pub fn from_process(home_flag: Option<PathBuf>) -> Self {
        let env = Env::from_process();
        let home = home_flag
            .or_else(|| env.get("AUTOSD_HOME").map(PathBuf::from))
            .unwrap_or_else(|| {
                env.get("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join(".autosd")
            });
        Context {
            home,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            env,
            stdin_is_tty: std::io::stdin().is_terminal(),
            stderr_is_tty: std::io::stderr().is_terminal(),
        }
    }

    /// Seconds since the Unix epoch, from the system clock.
    pub fn now_unix(&self) -> i64 {
        unix_now()
    }

    pub fn actor(&self) -> Actor {
        let e = &self.env;
        match (e.get("GITHUB_REPOSITORY"), e.get("GITHUB_RUN_ID")) {
            (Some(repo), Some(run)) if e.in_github_actions() => Actor::GithubRun {
                repository: repo.to_string(),
                run_id: run.to_string(),
                actor: e.get("GITHUB_ACTOR").unwrap_or("unknown").to_string(),
                workflow: e.get("GITHUB_WORKFLOW").unwrap_or("").to_string(),
            },
            _ => Actor::User {
                name: e
                    .get("USER")
                    .or_else(|| e.get("USERNAME"))
                    .unwrap_or("unknown")
                    .to_string(),
            },
        }
    }
}

/// Seconds since the Unix epoch; a clock before 1970 reads as 0.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC rendering of a Unix timestamp, for humans and JSON.
pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
