//! The GitHub REST calls autosd makes, through octocrab: commit statuses (the
//! `autosd/verify-factory` check) and deployments with their statuses. Owns retries (bounded,
//! exponential backoff, 5xx and transport failures only) and the mapping of 401/403/404/422
//! to errors that name what is missing. The token travels as `Secret` and into octocrab's own
//! secret type; it never reaches a message.
use crate::context::Env;
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The public API, used when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// GitHub truncates longer status descriptions with an error (422); stay below.
const MAX_DESCRIPTION: usize = 140;

/// How often and how patiently a failing call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
        }
    }
}

/// `owner/name` of a repository, checked so it can go into a URL path as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl RepoSlug {
    pub fn parse(s: &str) -> Result<RepoSlug> {
        let ok_part = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.split_once('/') {
            Some((owner, name)) if ok_part(owner) && ok_part(name) && name != "." && name != ".." => {
                Ok(RepoSlug {
                    owner: owner.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(Error::new(
                ErrorCode::GithubContextMissing,
                format!("GITHUB_REPOSITORY `{s}` is not of the form owner/name"),
            )),
        }
    }
}

impl std::fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The permission every pull-request call needs.
pub const PULL_REQUESTS_WRITE: &str = "pull-requests: write";

/// A pull request to open: `head` is the pushed branch, `base` the branch it targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    pub title: String,
    pub head: String,
    pub base: String,
    pub body: String,
}

/// A 422 on a pull request is most often the Actions token being refused (the repository
/// does not let GitHub Actions create pull requests) or a pull request that already exists:
/// say so, and name the permission, instead of the generic SHA/ref hint.
fn pull_request_error(mut e: Error) -> Error {
    if e.code == ErrorCode::GithubRejected && e.message.contains("(422") {
        e.message.push_str(&format!(
            "; the token needs `{PULL_REQUESTS_WRITE}`, the repository must allow GitHub Actions \
             to create pull requests, and no open pull request may exist for the branch"
        ));
        e.hints = vec![
            format!("add `permissions: {{ {PULL_REQUESTS_WRITE}, contents: write }}` to the job"),
            "Settings → Actions → General → \"Allow GitHub Actions to create and approve pull requests\""
                .to_string(),
        ];
    }
    e
}

/// States of a commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub state: StatusState,
    pub context: String,
    pub description: String,
    pub target_url: Option<String>,
}

/// States of a deployment status that autosd sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// The commit SHA (or ref) being deployed.
    pub git_ref: String,
    pub environment: String,
    pub description: String,
    pub production: bool,
    /// Shown in the deployment's payload: project, release id, image digest.
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub state: DeploymentState,
    pub description: String,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
}

/// A REST client bound to one API root and token.
pub struct GithubClient {
    octo: octocrab::Octocrab,
    api_url: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("api_url", &self.api_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GithubClient {
    /// A client for `api_url` (GitHub.com or an Enterprise Server `/api/v3` root).
    /// Must be called inside a tokio runtime (see [`super::block_on`]).
    pub fn new(api_url: &str, token: &Secret<String>, retry: RetryPolicy) -> Result<GithubClient> {
        check_token(token)?;
        let api_url = api_url.trim_end_matches('/').to_string();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(Error::new(
                ErrorCode::GithubContextMissing,
                format!("GITHUB_API_URL `{api_url}` is not an http(s) URL"),
            ));
        }
        // octocrab attaches the token only to requests for its base URI's host.
        let octo = octocrab::Octocrab::builder()
            .base_uri(api_url.as_str())
            .map_err(|e| {
                Error::new(
                    ErrorCode::GithubContextMissing,
                    format!("GITHUB_API_URL `{api_url}` is not a valid URL: {e}"),
                )
            })?
            .personal_token(token.expose().clone())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorCode::GithubUnavailable,
                    format!("cannot set up the HTTPS client for the GitHub API: {e}"),
                )
                .hint("check that the machine has CA certificates installed (ca-certificates)")
            })?;
        Ok(GithubClient {
            octo,
            api_url,
            retry: retry.max_one(),
        })
    }

    /// A client from the Actions environment: `GITHUB_TOKEN` and `GITHUB_API_URL`.
    pub fn from_env(env: &Env) -> Result<GithubClient> {
        let token = env.secret("GITHUB_TOKEN").ok_or_else(|| {
            Error::new(ErrorCode::GithubContextMissing, "GITHUB_TOKEN is not set")
                .hint("pass `github-token: ${{ github.token }}` to the action, or export GITHUB_TOKEN")
        })?;
        let api = env.get("GITHUB_API_URL").unwrap_or(DEFAULT_API_URL);
        GithubClient::new(api, token, RetryPolicy::default())
    }

    /// `POST /repos/{repo}/statuses/{sha}`. Needs `statuses: write`.
    pub async fn create_commit_status(
        &self,
        repo: &RepoSlug,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<()> {
        check_sha(sha)?;
        let mut body = json!({
            "state": status.state,
            "context": status.context,
            "description": truncate(&status.description, MAX_DESCRIPTION),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        let what = format!("create the commit status `{}` on {repo}@{sha}", status.context);
        self.post(
            &format!("/repos/{repo}/statuses/{sha}"),
            &body,
            &what,
            "statuses: write",
        )
        .await
        .map(drop)
    }

    /// `POST /repos/{repo}/deployments`; returns the deployment id. Needs `deployments: write`.
    pub async fn create_deployment(&self, repo: &RepoSlug, d: &NewDeployment) -> Result<u64> {
        let body = json!({
            "ref": d.git_ref,
            "environment": d.environment,
            "description": truncate(&d.description, MAX_DESCRIPTION),
            "auto_merge": false,
            // autosd's own gate decides; GitHub must not wait for other checks.
            "required_contexts": [],
            "production_environment": d.production,
            "transient_environment": false,
            "payload": d.payload,
        });
        let what = format!(
            "create a deployment of {repo}@{} to `{}`",
            d.git_ref, d.environment
        );
        let reply = self
            .post(
                &format!("/repos/{repo}/deployments"),
                &body,
                &what,
                "deployments: write",
            )
            .await?;
        reply.get("id").and_then(Value::as_u64).ok_or_else(|| {
            Error::new(
                ErrorCode::GithubUnavailable,
                format!("GitHub answered the request to {what} without a deployment id"),
            )
        })
    }

    /// `POST /repos/{repo}/deployments/{id}/statuses`. Needs `deployments: write`.
    pub async fn create_deployment_status(
        &self,
        repo: &RepoSlug,
        id: u64,
        s: &DeploymentStatus,
    ) -> Result<()> {
        let mut body = json!({
            "state": s.state,
            "description": truncate(&s.description, MAX_DESCRIPTION),
            // An older successful deployment of the same environment stops being "active".
            "auto_inactive": true,
        });
        if let Some(url) = &s.environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = &s.log_url {
            body["log_url"] = json!(url);
        }
        let what = format!("set the status of deployment {id} of {repo}");
        self.post(
            &format!("/repos/{repo}/deployments/{id}/statuses"),
            &body,
            &what,
            "deployments: write",
        )
        .await
        .map(drop)
    }

    /// `POST /repos/{repo}/pulls`; returns the pull request's number and `html_url`.
    /// Needs `pull-requests: write` (and, for the Actions token, the repository setting that
    /// lets GitHub Actions create pull requests).
    pub async fn create_pull_request(&self, repo: &RepoSlug, pr: &NewPullRequest) -> Result<(u64, String)> {
        let body = json!({
            "title": pr.title,
            "head": pr.head,
            "base": pr.base,
            "body": pr.body,
            "maintainer_can_modify": true,
        });
        let what = format!(
            "open a pull request from `{}` into `{}` of {repo}",
            pr.head, pr.base
        );
        let reply = self
            .post(&format!("/repos/{repo}/pulls"), &body, &what, PULL_REQUESTS_WRITE)
            .await
            .map_err(pull_request_error)?;
        let number = reply.get("number").and_then(Value::as_u64);
        let url = reply.get("html_url").and_then(Value::as_str);
        match (number, url) {
            (Some(n), Some(u)) => Ok((n, u.to_string())),
            _ => Err(Error::new(
                ErrorCode::GithubUnavailable,
                format!("GitHub answered the request to {what} without a number and URL"),
            )),
        }
    }

    /// `POST /repos/{repo}/issues/{number}/labels`. Needs `pull-requests: write`.
    pub async fn add_labels(&self, repo: &RepoSlug, number: u64, labels: &[String]) -> Result<()> {
        let what = format!("label pull request #{number} of {repo}");
        self.post(
            &format!("/repos/{repo}/issues/{number}/labels"),
            &json!({ "labels": labels }),
            &what,
            PULL_REQUESTS_WRITE,
        )
        .await
        .map(drop)
        .map_err(pull_request_error)
    }

    /// POSTs `body`, retrying 5xx answers and transport failures; maps the rest to errors.
    async fn post(&self, path: &str, body: &Value, what: &str, permission: &str) -> Result<Value> {
        let url = format!("{}{path}", self.api_url);
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                let delay = self.retry.base_delay.saturating_mul(1 << (attempt - 1).min(10));
                tracing::info!(attempt, ?delay, what, "retrying GitHub API call");
                tokio::time::sleep(delay).await;
            }
            let response = match self.octo._post(url.as_str(), Some(body)).await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("request failed: {}", transport_message(&e));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = self.octo.body_to_string(response).await.unwrap_or_default();
            if (200..300).contains(&status) {
                return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
            }
            let detail = github_message(&text);
            if status >= 500 {
                last = format!("HTTP {status}{}", suffix(&detail));
                continue;
            }
            return Err(client_error(status, &detail, what, permission));
        }
        Err(Error::new(
            ErrorCode::GithubUnavailable,
            format!(
                "could not {what}: {last} (gave up after {} attempts)",
                self.retry.attempts
            ),
        )
        .hint("GitHub may be degraded; the command can be re-run safely"))
    }
}

impl RetryPolicy {
    fn max_one(self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.attempts.max(1),
            ..self
        }
    }
}

fn client_error(status: u16, detail: &str, what: &str, permission: &str) -> Error {
    match status {
        401 => Error::new(
            ErrorCode::GithubUnauthorized,
            format!(
                "could not {what}: GitHub did not accept the token (401{})",
                suffix(detail)
            ),
        )
        .hint("the token is expired or revoked; in a workflow pass `github-token: ${{ github.token }}`"),
        403 if detail.to_ascii_lowercase().contains("rate limit") => Error::new(
            ErrorCode::GithubUnavailable,
            format!("could not {what}: rate limited (403{})", suffix(detail)),
        )
        .hint("wait for the rate limit to reset and re-run"),
        403 => Error::new(
            ErrorCode::GithubForbidden,
            format!(
                "could not {what}: the token lacks the `{permission}` permission (403{})",
                suffix(detail)
            ),
        )
        .hint(format!(
            "add `permissions: {{ {permission} }}` to the job that runs autosd"
        )),
        404 => Error::new(
            ErrorCode::GithubRejected,
            format!("could not {what}: not found (404{})", suffix(detail)),
        )
        .hint(format!(
            "check GITHUB_REPOSITORY, and that the token can see the repository and has `{permission}`"
        )),
        422 => Error::new(
            ErrorCode::GithubRejected,
            format!(
                "could not {what}: GitHub rejected the request (422{})",
                suffix(detail)
            ),
        )
        .hint("check that the commit SHA, ref and environment exist in this repository"),
        other => Error::new(
            ErrorCode::GithubRejected,
            format!("could not {what}: HTTP {other}{}", suffix(detail)),
        ),
    }
}

fn suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// GitHub's `message` plus the `errors[].message`/`code` of a validation failure, bounded.
fn github_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return truncate(body.trim(), 200);
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        parts.push(m.to_string());
    }
    for e in v.get("errors").and_then(Value::as_array).into_iter().flatten() {
        match e {
            Value::String(s) => parts.push(s.clone()),
            other => {
                if let Some(m) = other.get("message").and_then(Value::as_str) {
                    parts.push(m.to_string());
                } else if let Some(c) = other.get("code").and_then(Value::as_str) {
                    let field = other.get("field").and_then(Value::as_str).unwrap_or("?");
                    parts.push(format!("{field} {c}"));
                }
            }
        }
    }
    truncate(&parts.join("; "), 300)
}

/// octocrab's error without its source chain details that could be long.
fn transport_message(e: &octocrab::Error) -> String {
    truncate(&e.to_string(), 200)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A token must be a header-safe single line (octocrab would panic on anything else).
fn check_token(token: &Secret<String>) -> Result<()> {
    let t = token.expose();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorCode::GithubContextMissing,
            "GITHUB_TOKEN is empty or contains characters a token never has",
        )
        .hint("pass the token itself, without quotes, spaces or newlines"));
    }
    Ok(())
}

fn check_sha(sha: &str) -> Result<()> {
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::GithubContextMissing,
            format!("GITHUB_SHA `{}` is not a commit SHA", truncate(sha, 80)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_slug_is_checked() {
        assert_eq!(RepoSlug::parse("o/r.x").expect("ok").to_string(), "o/r.x");
        for bad in ["o", "o/", "/r", "o/r/x", "o/..", "o r/x", "o/r?x"] {
            assert!(RepoSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn github_messages_are_summarised() {
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"No commit found for SHA: abc"},{"field":"ref","code":"invalid"}]}"#;
        assert_eq!(
            github_message(body),
            "Validation Failed; No commit found for SHA: abc; ref invalid"
        );
        assert_eq!(github_message("oops"), "oops");
    }

    #[test]
    fn forbidden_names_the_permission() {
        let e = client_error(
            403,
            "Resource not accessible by integration",
            "x",
            "statuses: write",
        );
        assert_eq!(e.code, ErrorCode::GithubForbidden);
        assert!(e.message.contains("`statuses: write`"), "{}", e.message);
        let e = client_error(403, "API rate limit exceeded", "x", "statuses: write");
        assert_eq!(e.code, ErrorCode::GithubUnavailable);
    }

    #[test]
    fn bad_tokens_and_shas_are_refused_without_echo() {
        let e = check_token(&Secret::new("ab\ncd".to_string())).expect_err("newline");
        assert!(!e.message.contains("ab"));
        assert!(check_token(&Secret::new("ghs_abc".to_string())).is_ok());
        assert!(check_sha(&"a".repeat(40)).is_ok());
        assert!(check_sha("main").is_err());
    }

    #[test]
    fn descriptions_are_bounded() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
    }
}
