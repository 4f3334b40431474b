//! The GitHub REST calls against a local wiremock server: exact requests (method, path,
//! auth header, body), bounded retries on 5xx, and the 403/422 messages. The CLI's
//! `verify-factory --report-status` is driven end to end against the same mock.
use crate::common::autosd;
use autosd::context::Env;
use autosd::error::ErrorCode;
use autosd::github::rest::{
    CommitStatus, DeploymentState, DeploymentStatus, GithubClient, NewDeployment, RepoSlug, RetryPolicy,
    StatusState,
};
use autosd::github::{DeploymentTracker, ReleaseInfo};
use autosd::secret::Secret;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_TESTTOKEN0123456789";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(5),
    }
}

/// What the mock saw, for failure messages.
async fn received(server: &MockServer) -> String {
    let mut out = String::new();
    for r in server.received_requests().await.unwrap_or_default() {
        out.push_str(&format!(
            "{} {} {:?}\n{}\n",
            r.method,
            r.url.path(),
            r.headers,
            String::from_utf8_lossy(&r.body)
        ));
    }
    out
}

fn client(server: &MockServer) -> GithubClient {
    GithubClient::new(&server.uri(), &Secret::new(TOKEN.into()), fast()).expect("client")
}

/// GitHub's answer to a token that lacks the permission the call needs.
fn forbidden() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible by integration"}))
}

fn repo() -> RepoSlug {
    RepoSlug::parse("octo/shop").expect("slug")
}

fn status(state: StatusState) -> CommitStatus {
    CommitStatus {
        state,
        context: "autosd/verify-factory".into(),
        description: "verify-factory is running".into(),
        target_url: Some("https://github.com/octo/shop/actions/runs/42".into()),
    }
}

/// Posts one commit status in `state` to a server that answers with `mocks`; their expected
/// call counts are checked when the server goes away at the end.
async fn post_status(mocks: Vec<Mock>, state: StatusState) -> autosd::error::Result<()> {
    let server = MockServer::start().await;
    for mock in mocks {
        mock.mount(&server).await;
    }
    client(&server)
        .create_commit_status(&repo(), SHA, &status(state))
        .await
}

#[test]
fn commit_status_request_is_exact() {
    rt().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/octo/shop/statuses/{SHA}")))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(body_json(json!({
                "state": "pending",
                "context": "autosd/verify-factory",
                "description": "verify-factory is running",
                "target_url": "https://github.com/octo/shop/actions/runs/42",
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);
        let result = client
            .create_commit_status(&repo(), SHA, &status(StatusState::Pending))
            .await;
        assert!(result.is_ok(), "{result:?}\n{}", received(&server).await);
    });
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let mocks = vec![
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(502))
            .up_to_n_times(2)
            .expect(2),
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
            .expect(1),
    ];
    rt().block_on(post_status(mocks, StatusState::Success))
        .expect("third attempt succeeds");
}

#[test]
fn retries_are_bounded() {
    let unavailable = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"message": "Service Unavailable"})))
        .expect(3);
    let err = rt()
        .block_on(post_status(vec![unavailable], StatusState::Success))
        .expect_err("keeps failing");
    assert_eq!(err.code, ErrorCode::GithubUnavailable);
    assert!(
        err.message.contains("HTTP 503") && err.message.contains("3 attempts"),
        "{}",
        err.message
    );
}

#[test]
fn forbidden_names_the_missing_permission_and_never_the_token() {
    rt().block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/octo/shop/statuses/{SHA}")))
            .respond_with(forbidden())
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/deployments"))
            .respond_with(forbidden())
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);
        let err = client
            .create_commit_status(&repo(), SHA, &status(StatusState::Pending))
            .await
            .expect_err("403");
        assert_eq!(err.code, ErrorCode::GithubForbidden);
        assert!(err.message.contains("`statuses: write`"), "{}", err.message);
        let err = client
            .create_deployment(
                &repo(),
                &NewDeployment {
                    git_ref: SHA.into(),
                    environment: "prod".into(),
                    description: "d".into(),
                    production: true,
                    payload: json!({}),
                },
            )
            .await
            .expect_err("403");
        assert_eq!(err.code, ErrorCode::GithubForbidden);
        assert!(err.message.contains("`deployments: write`"), "{}", err.message);
        let all = format!("{err} {:?} {:?}", err.hints, client);
        assert!(!all.contains(TOKEN), "the token leaked: {all}");
    });
}

#[test]
fn unprocessable_is_explained() {
    let rejected = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Status", "code": "custom", "message": "No commit found for SHA: 0123"}]
        })))
        .expect(1);
    let err = rt()
        .block_on(post_status(vec![rejected], StatusState::Failure))
        .expect_err("422");
    assert_eq!(err.code, ErrorCode::GithubRejected);
    assert!(
        err.message
            .contains("422: Validation Failed; No commit found for SHA: 0123"),
        "{}",
        err.message
    );
}

#[test]
fn deployment_and_its_statuses_are_exact() {
    rt().block_on(async {
        let server = MockServer::start().await;
        let auth = format!("Bearer {TOKEN}");
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/deployments"))
            .and(header("authorization", auth.as_str()))
            .and(body_json(json!({
                "ref": SHA,
                "environment": "staging",
                "description": "autosd deploy shop to staging",
                "auto_merge": false,
                "required_contexts": [],
                "production_environment": false,
                "transient_environment": false,
                "payload": {"project": "shop", "release_id": "r1"},
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7001})))
            .expect(1)
            .mount(&server)
            .await;
        for state in ["in_progress", "success"] {
            Mock::given(method("POST"))
                .and(path("/repos/octo/shop/deployments/7001/statuses"))
                .and(header("authorization", auth.as_str()))
                .and(body_json(json!({
                    "state": state,
                    "description": if state == "success" { "healthy" } else { "autosd deploy shop to staging" },
                    "auto_inactive": true,
                    "environment_url": "https://staging.shop.example",
                    "log_url": "https://github.com/octo/shop/actions/runs/42",
                })))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
                .expect(1)
                .mount(&server)
                .await;
        }
        let uri = server.uri();
        let env = Env::from_pairs(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_API_URL", &uri),
            ("GITHUB_REPOSITORY", "octo/shop"),
            ("GITHUB_SHA", SHA),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]);
        let release = ReleaseInfo {
            project: "shop".into(),
            environment: "staging".into(),
            production: false,
            description: "autosd deploy shop to staging".into(),
            environment_url: Some("https://staging.shop.example".into()),
            payload: json!({"project": "shop", "release_id": "r1"}),
        };
        let tracker = DeploymentTracker::begin(&env, true, &release)
            .await
            .expect("deployment created")
            .expect("in Actions with a token");
        assert_eq!(tracker.id(), 7001);
        tracker.finish(true, "healthy").await.expect("success status");
        // Off switch and outside Actions: nothing is sent (the mocks' `expect` counts check it).
        assert!(DeploymentTracker::begin(&env, false, &release).await.expect("off").is_none());
        let laptop = Env::from_pairs(&[("GITHUB_TOKEN", TOKEN)]);
        assert!(DeploymentTracker::begin(&laptop, true, &release).await.expect("off").is_none());
        // The state enum spells what GitHub expects.
        assert_eq!(json!(DeploymentState::InProgress), json!("in_progress"));
        let _ = DeploymentStatus {
            state: DeploymentState::Failure,
            description: String::new(),
            environment_url: None,
            log_url: None,
        };
    });
}

/// A repository with the factory's inputs only (no ci/run_ci.sh), in a temp dir.
pub fn factory_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in [
        "conformance/fixtures",
        "conformance/expected",
        "workflows-templates",
        ".github/workflows",
    ] {
        copy_tree(&src.join(p), &dir.path().join(p));
    }
    std::fs::copy(src.join("action.yml"), dir.path().join("action.yml")).expect("copy action.yml");
    dir
}

pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `verify-factory --no-mirror --report-status ARGS…` in a fresh copy of the factory's inputs,
/// with a token for `octo/shop` and `server` as the GitHub API; returns the copy and the run.
fn verify_factory_reporting_to(
    server: &MockServer,
    args: &[&str],
    env: &[(&str, &str)],
) -> (tempfile::TempDir, std::process::Output) {
    let repo = factory_copy();
    let home = tempfile::tempdir().expect("home");
    let mut cmd = autosd(home.path());
    cmd.current_dir(repo.path())
        .args(["verify-factory", "--no-mirror", "--report-status"])
        .args(args)
        .env("GITHUB_API_URL", server.uri())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", "octo/shop");
    for (k, v) in env {
        cmd.env(k, v);
    }
    (repo, cmd.output().expect("runs"))
}

#[test]
fn verify_factory_reports_pending_then_success() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    for (state, description) in [
        ("pending", "verify-factory is running"),
        ("success", "all 3 gates passed"),
    ] {
        rt.block_on(
            Mock::given(method("POST"))
                .and(path(format!("/repos/octo/shop/statuses/{SHA}")))
                .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
                .and(body_json(json!({
                    "state": state,
                    "context": "autosd/verify-factory",
                    "description": description,
                    "target_url": "https://github.example/octo/shop/actions/runs/99",
                })))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
                .expect(1)
                .mount(&server),
        );
    }
    let (_repo, out) = verify_factory_reporting_to(
        &server,
        &[],
        &[
            ("GITHUB_SHA", SHA),
            ("GITHUB_RUN_ID", "99"),
            ("GITHUB_SERVER_URL", "https://github.example"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rt.block_on(server.verify());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(TOKEN));
}

#[test]
fn verify_factory_without_statuses_permission_fails_fast_naming_it() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(forbidden())
            .expect(1)
            .mount(&server),
    );
    let (repo, out) = verify_factory_reporting_to(&server, &["--sha", SHA], &[]);
    assert_eq!(out.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AUTOSD-GITHUB-FORBIDDEN") && stderr.contains("`statuses: write`"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
    // Failed before any gate ran: no reports were written.
    assert!(!repo.path().join("verify_factory_report.json").exists());
}

#[test]
fn track_release_wraps_an_operation_in_a_deployment() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/deployments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 9})))
            .expect(2)
            .mount(&server),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/deployments/9/statuses"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
            .expect(4)
            .mount(&server),
    );
    let uri = server.uri();
    let env = Env::from_pairs(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_API_URL", &uri),
        ("GITHUB_REPOSITORY", "octo/shop"),
        ("GITHUB_SHA", SHA),
    ]);
    let release = ReleaseInfo {
        project: "shop".into(),
        environment: "prod".into(),
        production: true,
        description: "autosd deploy shop to prod".into(),
        environment_url: None,
        payload: json!({}),
    };
    let ok = autosd::github::track_release(&env, true, &release, || Ok("healthy"), |s| *s == "healthy");
    assert_eq!(ok.expect("succeeds"), "healthy");
    let failed: autosd::error::Result<&str> = autosd::github::track_release(
        &env,
        true,
        &release,
        || Err(autosd::error::Error::new(ErrorCode::DeployFailed, "gate failed")),
        |_| true,
    );
    assert_eq!(failed.expect_err("op error kept").code, ErrorCode::DeployFailed);
    let bodies: Vec<String> = rt
        .block_on(server.received_requests())
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("\"state\":\"success\"")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"state\":\"failure\"") && b.contains("AUTOSD-DEPLOY-FAILED")),
        "{bodies:?}"
    );
    // Disabled: nothing is sent (the mock counts above would fail otherwise).
    let off = autosd::github::track_release(&env, false, &release, || Ok(1), |_| true);
    assert_eq!(off.expect("runs"), 1);
    rt.block_on(server.verify());
}
