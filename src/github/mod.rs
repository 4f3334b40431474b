//! The GitHub adapter: the Actions runtime protocol ([`runtime`]) and the REST calls
//! ([`rest`]), plus the two uses the rest of autosd makes of them — the
//! `autosd/verify-factory` commit status and GitHub Deployments for releases. Nothing here
//! decides whether an operation is allowed; it only reports to GitHub.
pub mod rest;
pub mod runtime;

use crate::context::Env;
use crate::error::{Error, ErrorCode, Result};
use rest::{
    CommitStatus, DeploymentState, DeploymentStatus, GithubClient, NewDeployment, RepoSlug, StatusState,
};
use std::future::Future;

/// The commit-status context branch protection requires.
pub const VERIFY_FACTORY_CONTEXT: &str = "autosd/verify-factory";

/// Runs `fut` on a current-thread runtime: autosd is a one-shot CLI and makes a handful of
/// sequential calls, so a thread pool would only cost start-up time.
/// Clients made inside it live only as long as that call.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(fut))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// The run's page, `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`.
pub fn run_url(env: &Env) -> Option<String> {
    let server = env.get("GITHUB_SERVER_URL").unwrap_or("https://github.com");
    let repo = env.get("GITHUB_REPOSITORY")?;
    let run = env.get("GITHUB_RUN_ID")?;
    Some(format!(
        "{}/{repo}/actions/runs/{run}",
        server.trim_end_matches('/')
    ))
}

fn required<'a>(env: &'a Env, name: &str) -> Result<&'a str> {
    env.get(name).ok_or_else(|| {
        Error::new(ErrorCode::GithubContextMissing, format!("{name} is not set"))
            .hint("commit statuses and deployments are reported from inside GitHub Actions only")
    })
}

/// Posts commit statuses for one commit under the `autosd/verify-factory` context.
#[derive(Debug)]
pub struct StatusReporter {
    client: GithubClient,
    repo: RepoSlug,
    sha: String,
    target_url: Option<String>,
}

impl StatusReporter {
    /// From `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_SHA`, `GITHUB_API_URL`, and the run URL;
    /// Call inside [`block_on`].
    /// `sha` overrides `GITHUB_SHA` (a pull request's head commit).
    pub fn from_env(env: &Env, sha: Option<&str>) -> Result<StatusReporter> {
        let repo = RepoSlug::parse(required(env, "GITHUB_REPOSITORY")?)?;
        let sha = match sha {
            Some(s) => s.to_string(),
            None => required(env, "GITHUB_SHA")?.to_string(),
        };
        Ok(StatusReporter {
            client: GithubClient::from_env(env)?,
            repo,
            sha,
            target_url: run_url(env),
        })
    }

    pub async fn post(&self, state: StatusState, description: &str) -> Result<()> {
        let status = CommitStatus {
            state,
            context: VERIFY_FACTORY_CONTEXT.to_string(),
            description: description.to_string(),
            target_url: self.target_url.clone(),
        };
        self.client
            .create_commit_status(&self.repo, &self.sha, &status)
            .await
    }
}

/// What a release operation tells GitHub about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    pub project: String,
    pub environment: String,
    pub production: bool,
    pub description: String,
    pub environment_url: Option<String>,
    pub payload: serde_json::Value,
}

/// A GitHub deployment opened for a release (`in_progress`), to be finished with its verdict.
#[derive(Debug)]
pub struct DeploymentTracker {
    client: GithubClient,
    repo: RepoSlug,
    id: u64,
    environment_url: Option<String>,
    log_url: Option<String>,
}

impl DeploymentTracker {
    /// Opens a deployment when running in GitHub Actions with a token; `Ok(None)` elsewhere
    /// (a laptop, or `--no-github-deployment`), so callers need no special case.
    /// Call inside [`block_on`].
    pub async fn begin(env: &Env, enabled: bool, release: &ReleaseInfo) -> Result<Option<DeploymentTracker>> {
        if !enabled || !env.in_github_actions() || env.secret("GITHUB_TOKEN").is_none() {
            return Ok(None);
        }
        let repo = RepoSlug::parse(required(env, "GITHUB_REPOSITORY")?)?;
        let git_ref = required(env, "GITHUB_SHA")?.to_string();
        let client = GithubClient::from_env(env)?;
        let id = client
            .create_deployment(
                &repo,
                &NewDeployment {
                    git_ref,
                    environment: release.environment.clone(),
                    description: release.description.clone(),
                    production: release.production,
                    payload: release.payload.clone(),
                },
            )
            .await?;
        let tracker = DeploymentTracker {
            client,
            repo,
            id,
            environment_url: release.environment_url.clone(),
            log_url: run_url(env),
        };
        tracker
            .set(DeploymentState::InProgress, &release.description)
            .await?;
        Ok(Some(tracker))
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// `success` or `failure` with the verdict's description.
    pub async fn finish(&self, success: bool, description: &str) -> Result<()> {
        let state = if success {
            DeploymentState::Success
        } else {
            DeploymentState::Failure
        };
        self.set(state, description).await
    }

    async fn set(&self, state: DeploymentState, description: &str) -> Result<()> {
        let status = DeploymentStatus {
            state,
            description: description.to_string(),
            environment_url: self.environment_url.clone(),
            log_url: self.log_url.clone(),
        };
        self.client
            .create_deployment_status(&self.repo, self.id, &status)
            .await
    }
}

/// Runs the release operation `op` inside a GitHub deployment: opens it (`in_progress`)
/// before, and records the verdict (`success` when `healthy(&value)`, else `failure`) after.
/// Outside GitHub Actions, without a token, or with `enabled == false`
/// (`--no-github-deployment`) it only runs `op`.
///
/// A deployment that cannot be opened stops the command before `op` changes anything (for
/// example a 403 naming `deployments: write`). An error of `op` is recorded as `failure`
/// and returned unchanged; a failure to record the verdict is returned after a successful
/// `op` so the stale Environments page does not go unnoticed.
pub fn track_release<T>(
    env: &Env,
    enabled: bool,
    release: &ReleaseInfo,
    op: impl FnOnce() -> Result<T>,
    healthy: impl Fn(&T) -> bool,
) -> Result<T> {
    let rt = runtime()?;
    // One runtime for the tracker's whole life: octocrab's connection pool runs a worker task
    // on the runtime that created it, so the verdict must be posted on the same one.
    let tracker = rt.block_on(DeploymentTracker::begin(env, enabled, release))?;
    let Some(tracker) = tracker else {
        return op();
    };
    let result = op();
    let (ok, description) = match &result {
        Ok(v) if healthy(v) => (true, format!("{}: healthy", release.description)),
        Ok(_) => (false, format!("{}: failed its health gate", release.description)),
        Err(e) => (false, format!("{}: {}", release.description, e.code.as_str())),
    };
    let recorded = rt.block_on(tracker.finish(ok, &description));
    match (result, recorded) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(v), Ok(())) => Ok(v),
    }
}
