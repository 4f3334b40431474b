//! Black-box tests of `autosd deploy | rollback | promote | releases | lock` through the gate:
//! generic_container with the fixture scripts (no engine needed), and docker against the
//! real engine (skipped visibly without one).
use crate::common::{Out, autosd, create_grant_json, signal, spawn_autosd, terminate, wait_until};
use crate::docker::{docker_cli, docker_host, free_port, http_get};
use crate::generic::{Platform, fixture};
use assert_cmd::Command;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const EXIT_PREAUTH_REQUIRED: i32 = 10;
const EXIT_PREAUTH_INVALID: i32 = 11;
const EXIT_TARGET_ENV_INVALID: i32 = 21;
const EXIT_CONFIRM_REQUIRED: i32 = 22;
const EXIT_HALTED: i32 = 23;
const EXIT_DEPLOY_FAILED: i32 = 40;
const EXIT_TARGET_SETTINGS_INVALID: i32 = 44;
const EXIT_INTERRUPTED: i32 = 130;

struct Site {
    dir: tempfile::TempDir,
    platforms: Vec<Platform>,
    docker_host: Option<String>,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["repo", "home", "state-staging", "state-prod"] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Site {
            dir,
            platforms: Vec::new(),
            docker_host: None,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn generic_env(&self, name: &str, production: bool, port: u16) -> String {
        format!(
            "  {name}:\n    production: {production}\n    target:\n      kind: generic_container\n      image: shop:default\n      deploy: [\"{}\"]\n      status: [\"{}\"]\n      rollback: [\"{}\"]\n      env: {{STATE_DIR: \"{}\"}}\n      health:\n        http: {{url: \"http://127.0.0.1:{port}/health\"}}\n        ready_timeout: 2s\n        stability_window: 200ms\n        interval: 100ms\n",
            fixture("deploy.sh"),
            fixture("status.sh"),
            fixture("rollback.sh"),
            self.path(&format!("state-{name}")).display()
        )
    }

    /// A project `shop` whose staging and prod run the generic_container fixture scripts.
    fn generic() -> Site {
        let mut site = Site::new();
        let staging = Platform::start(site.path("state-staging"));
        let prod = Platform::start(site.path("state-prod"));
        let text = format!(
            "version: 1\nproject: shop\nenvironments:\n  dev:\n{}{}",
            site.generic_env("staging", false, staging.port),
            site.generic_env("prod", true, prod.port)
        );
        fs::create_dir_all(site.path("repo/.autosd")).expect("mkdir");
        fs::write(site.path("repo/.autosd/config.yml"), text).expect("config");
        site.platforms = vec![staging, prod];
        site
    }

    /// `generic()` with `shop@sha256:good` healthy on staging, and staging's stability
    /// window then made to outlast any test: only a signal ends the next gate there.
    fn generic_gating_forever() -> Site {
        let site = Site::generic();
        site.expect(&deploy_args("staging", "shop@sha256:good"), 0);
        let config = site.path("repo/.autosd/config.yml");
        let text = fs::read_to_string(&config).expect("config");
        fs::write(
            &config,
            text.replacen("stability_window: 200ms", "stability_window: 10m", 1),
        )
        .expect("config");
        site
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = autosd(&self.path("home"));
        cmd.current_dir(self.path("repo"))
            .args(args)
            .timeout(Duration::from_secs(120));
        if let Some(h) = &self.docker_host {
            cmd.env("DOCKER_HOST", h);
        }
        cmd
    }

    #[track_caller]
    fn expect_with(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> Out {
        let mut cmd = self.cmd(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Out::expect(&mut cmd, args, code)
    }

    #[track_caller]
    fn expect(&self, args: &[&str], code: i32) -> Out {
        self.expect_with(args, &[], code)
    }

    fn deployed(&self, env: &str) -> String {
        fs::read_to_string(self.path(&format!("state-{env}/current")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.path("home/audit.log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line"))
            .collect()
    }

    /// The newest audit record of an operation's outcome.
    fn last_outcome(&self) -> Value {
        self.audit()
            .into_iter()
            .rev()
            .find(|r| r["phase"] == "outcome")
            .expect("outcome record")
    }

    /// The `--output json` listing of the environment's releases.
    fn releases(&self, env: &str) -> Value {
        self.expect(
            &["releases", "--project", "shop", "--env", env, "--output", "json"],
            0,
        )
        .json()
    }

    /// `autosd ARGS` started in the background, its stderr captured.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        let docker_host = self.docker_host.as_deref().map(|h| ("DOCKER_HOST", h));
        spawn_autosd(
            &self.path("home"),
            &self.path("repo"),
            args,
            docker_host.as_slice(),
        )
    }

    fn grant(&self, extra: &[&str]) -> String {
        if !self.path("home/trust").exists() {
            self.expect(&["preauth", "init-keys"], 0);
        }
        let flags = [&["--expires-in-hours", "1"], extra].concat();
        self.expect(&create_grant_json("shop", &flags), 0).json()["grant_id"]
            .as_str()
            .expect("grant id")
            .to_string()
    }
}

/// `COMMAND… --project shop --env ENV --target TARGET`, the spelling every release command shares.
fn on_env<'a>(command: &[&'a str], env: &'a str, target: &'a str) -> Vec<&'a str> {
    let mut args = command.to_vec();
    args.extend(["--project", "shop", "--env", env, "--target", target]);
    args
}

fn deploy_args<'a>(env: &'a str, image: &'a str) -> Vec<&'a str> {
    let mut args = on_env(&["deploy"], env, "generic_container");
    args.extend(["--image", image]);
    args
}

fn docker_deploy(image: &str) -> Vec<&str> {
    let mut args = on_env(&["deploy"], "staging", "docker");
    args.extend(["--image", image]);
    args
}

#[test]
fn generic_deploy_records_the_release_outputs_and_audit() {
    let site = Site::generic();
    let gh_out = site.path("gh-output");
    let summary = site.path("gh-summary");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", gh_out.to_str().expect("utf8")),
        ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf8")),
    ];
    let mut args = deploy_args("staging", "shop@sha256:aaa");
    args.extend(["--output", "json"]);
    let out = site.expect_with(&args, &env, 0);
    let doc = out.json();
    assert_eq!(doc["status"], "healthy");
    assert_eq!(doc["release"]["digest"], "sha256:aaa");
    assert_eq!(site.deployed("staging"), "shop@sha256:aaa");
    let outputs = fs::read_to_string(&gh_out).expect("GITHUB_OUTPUT");
    let id = doc["release"]["id"].as_str().expect("id");
    assert!(
        outputs.contains(&format!("release-id={id}"))
            && outputs.contains("digest=sha256:aaa")
            && outputs.contains("status=healthy"),
        "{outputs}"
    );
    assert!(
        fs::read_to_string(&summary)
            .expect("summary")
            .contains("| **healthy** |")
    );

    // The OPERATIONS.md spelling: no --image, the environment's `image:` is used.
    site.expect(&on_env(&["deploy"], "staging", "generic_container"), 0);
    assert_eq!(site.deployed("staging"), "shop:default");

    let list = site.releases("staging");
    let releases = list["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 2);
    assert_eq!(list["serving"], releases[1]["id"]);
    let human = site
        .expect(&["releases", "--project", "shop", "--env", "staging"], 0)
        .stdout;
    assert!(
        human.contains("healthy") && human.contains("* serving"),
        "{human}"
    );

    let mut rollback = on_env(&["rollback"], "staging", "generic_container");
    rollback.push("--force");
    let out = site.expect(&rollback, 0);
    assert!(out.stdout.contains("rollback"), "{}", out.stdout);
    assert_eq!(site.deployed("staging"), "shop@sha256:aaa");

    let ops: Vec<(String, String)> = site
        .audit()
        .iter()
        .map(|r| {
            (
                r["op"].as_str().unwrap_or("").to_string(),
                r["phase"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("deploy", "intent"),
        ("deploy", "outcome"),
        ("rollback", "intent"),
        ("rollback", "outcome"),
    ] {
        assert!(ops.contains(&(want.0.to_string(), want.1.to_string())), "{ops:?}");
    }
}

#[test]
fn generic_failed_gate_exits_40_and_opens_an_incident() {
    let site = Site::generic();
    site.expect(&deploy_args("staging", "shop@sha256:good"), 0);
    let out = site.expect(&deploy_args("staging", "shop-bad@sha256:bad"), EXIT_DEPLOY_FAILED);
    assert!(
        out.stderr.contains("error[AUTOSD-DEPLOY-FAILED]") && out.stderr.contains("still serving"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("FAILED its health gate"), "{}", out.stdout);
    assert_eq!(site.deployed("staging"), "shop@sha256:good");
    let incidents = fs::read_to_string(site.path("home/state/incidents/shop.jsonl")).expect("incident");
    // The previous release kept serving: opened, mitigated and resolved at once, with a postmortem.
    assert!(
        incidents.contains("\"source\":\"deploy_gate\"") && incidents.contains("\"kind\":\"mitigated\""),
        "{incidents}"
    );
    assert_eq!(
        fs::read_dir(site.path("repo/.autosd/postmortems"))
            .expect("postmortems")
            .count(),
        1
    );
    let outcome = site.last_outcome();
    assert!(outcome.to_string().contains("AUTOSD-DEPLOY-FAILED"), "{outcome}");
}

#[test]
fn a_cancelled_deploy_is_taken_back_and_a_cancelled_lock_wait_does_nothing() {
    let site = Site::generic_gating_forever();
    let gating = site.spawn(&deploy_args("staging", "shop@sha256:next"));
    wait_until(20, "the deploy of next", || {
        site.deployed("staging") == "shop@sha256:next"
    });

    // A second deploy waits for the lock, and is cancelled while it waits.
    let mut waiting_args = deploy_args("staging", "shop@sha256:other");
    waiting_args.extend(["--lock-wait", "10m"]);
    let waiting = site.spawn(&waiting_args);
    std::thread::sleep(Duration::from_millis(700));
    let (code, stderr, _) = terminate(waiting);
    assert_eq!(code, Some(EXIT_INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("error[AUTOSD-INTERRUPTED]")
            && stderr.contains("SIGTERM received while waiting for the deploy lock; nothing was done"),
        "{stderr}"
    );
    assert_eq!(
        site.deployed("staging"),
        "shop@sha256:next",
        "the waiter changed nothing"
    );

    // The gating deploy stops at once and puts the release that served before back.
    let (code, stderr, _) = terminate(gating);
    assert_eq!(code, Some(EXIT_INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("error[AUTOSD-INTERRUPTED]") && stderr.contains("was put back"),
        "{stderr}"
    );
    assert_eq!(site.deployed("staging"), "shop@sha256:good");
    let list = site.releases("staging");
    let newest = list["releases"]
        .as_array()
        .and_then(|r| r.last())
        .expect("releases");
    assert_eq!(newest["verdict"], "failed", "{list}");
    assert!(newest.to_string().contains("interrupted by SIGTERM"), "{newest}");
    // No incident: nothing was judged. The outcome is audited, and the lock is free.
    assert!(!site.path("home/state/incidents/shop.jsonl").exists());
    let outcome = site.last_outcome();
    assert!(outcome.to_string().contains("AUTOSD-INTERRUPTED"), "{outcome}");
    let out = site.expect(&on_env(&["lock", "show"], "staging", "generic_container"), 0);
    assert_eq!(out.stdout.trim(), "free");
}

/// The action's "Run autosd" step script, run the way the runner runs a `shell: bash` step
/// (`bash --noprofile --norc -eo pipefail`), cancelled the way the runner cancels it: SIGINT
/// to that shell only. The shell hands autosd a SIGTERM, autosd takes the release back, and
/// the step reports autosd's own exit code and outputs.
#[test]
fn the_actions_run_step_passes_a_cancellation_on_to_autosd() {
    let site = Site::generic_gating_forever();
    let action: Value = serde_saphyr::from_str(
        &fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).expect("action.yml"),
    )
    .expect("action.yml parses");
    let script = action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "run")
        .and_then(|s| s["run"].as_str())
        .expect("the run step's script")
        .to_string();
    fs::write(site.path("run-step.sh"), script).expect("script");
    fs::write(site.path("github-output"), "").expect("output file");
    let bin = assert_cmd::cargo::cargo_bin("autosd");
    let shell = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(site.path("run-step.sh"))
        .current_dir(site.path("repo"))
        .env("AUTOSD_HOME", site.path("home"))
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env("AUTOSD_BIN", &bin)
        .env("GITHUB_OUTPUT", site.path("github-output"))
        .envs([
            ("AUTOSD_INPUT_COMMAND", "deploy"),
            ("AUTOSD_INPUT_PROJECT", "shop"),
            ("AUTOSD_INPUT_ENV", "staging"),
            ("AUTOSD_INPUT_TARGET", "generic_container"),
            ("AUTOSD_INPUT_IMAGE", "shop@sha256:next"),
            ("AUTOSD_INPUT_FROM", ""),
            ("AUTOSD_INPUT_TO", ""),
            ("AUTOSD_INPUT_ARGS", ""),
            ("AUTOSD_INPUT_OUTPUT_FILE", ""),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash");
    wait_until(20, "the deploy of next", || {
        site.deployed("staging") == "shop@sha256:next"
    });
    let (code, stderr, _) = signal(shell, "-INT");
    assert_eq!(code, Some(EXIT_INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("error[AUTOSD-INTERRUPTED]") && stderr.contains("SIGTERM"),
        "{stderr}"
    );
    assert_eq!(site.deployed("staging"), "shop@sha256:good");
    let outputs = fs::read_to_string(site.path("github-output")).expect("outputs");
    assert!(outputs.contains("status=failed"), "{outputs}");
}

#[test]
fn gate_refusals_start_nothing_and_are_audited() {
    let site = Site::generic();
    // Production needs a grant.
    let out = site.expect(&deploy_args("prod", "shop@sha256:a"), EXIT_PREAUTH_REQUIRED);
    assert!(out.stderr.contains("AUTOSD-PREAUTH-REQUIRED"), "{}", out.stderr);
    // A staging-only grant is no good in prod.
    let staging_grant = site.grant(&["--auto-deploy-staging"]);
    let mut args = deploy_args("prod", "shop@sha256:a");
    args.extend(["--preauth-grant", &staging_grant, "--force"]);
    site.expect(&args, EXIT_PREAUTH_INVALID);
    // A prod grant without a TTY and without --force: confirmation required, never a hang.
    let prod_grant = site.grant(&["--auto-deploy-prod"]);
    let mut args = deploy_args("prod", "shop@sha256:a");
    args.extend(["--preauth-grant", &prod_grant]);
    let start = Instant::now();
    let out = site.expect(&args, EXIT_CONFIRM_REQUIRED);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(out.stderr.contains("AUTOSD-CONFIRM-REQUIRED"), "{}", out.stderr);
    // Halted: refused.
    site.expect(&["halt", "--project", "shop", "--reason", "test"], 0);
    let out = site.expect(&deploy_args("staging", "shop@sha256:a"), EXIT_HALTED);
    assert!(out.stderr.contains("AUTOSD-HALTED"), "{}", out.stderr);
    assert_eq!(site.deployed("prod"), "", "nothing started in prod");
    assert_eq!(site.deployed("staging"), "", "nothing started in staging");
    let denied: Vec<String> = site
        .audit()
        .iter()
        .filter(|r| r["phase"] == "denied")
        .map(|r| r.to_string())
        .collect();
    for code in [
        "AUTOSD-PREAUTH-REQUIRED",
        "AUTOSD-PREAUTH-INVALID",
        "AUTOSD-CONFIRM-REQUIRED",
        "AUTOSD-HALTED",
    ] {
        assert!(
            denied.iter().any(|r| r.contains(code)),
            "{code} audited: {denied:?}"
        );
    }
    // With the prod grant and --force (after resume) the same deploy goes through.
    site.expect(&["resume", "--project", "shop", "--force"], 0);
    let mut args = deploy_args("prod", "shop@sha256:a");
    args.extend(["--preauth-grant", &prod_grant, "--force"]);
    site.expect(&args, 0);
    assert_eq!(site.deployed("prod"), "shop@sha256:a");
}

#[test]
fn promote_checks_its_environments_and_dry_run_changes_nothing() {
    let site = Site::generic();
    let promote = |to: &str| {
        vec![
            "promote",
            "--project",
            "shop",
            "--from",
            "staging",
            "--to",
            to,
            "--target",
            "generic_container",
            "--force",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    let args = promote("nowhere");
    let out = site.expect(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        EXIT_TARGET_ENV_INVALID,
    );
    assert!(out.stderr.contains("AUTOSD-TARGET-ENV-INVALID"), "{}", out.stderr);

    let mut dry = deploy_args("staging", "shop@sha256:dry");
    dry.push("--dry-run");
    let out = site.expect(&dry, 0);
    assert!(
        out.stdout.contains("plan: deploy shop/staging") && out.stdout.contains("sha256:dry"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("grant decision: allowed") && out.stdout.contains("lock: free"),
        "{}",
        out.stdout
    );
    assert_eq!(site.deployed("staging"), "");
    assert!(
        !site.path("home/state/ledger").exists(),
        "no ledger written by a dry run"
    );

    site.expect(&deploy_args("staging", "shop@sha256:s1"), 0);
    let grant = site.grant(&["--auto-deploy-prod"]);
    let mut args = promote("prod");
    args.extend([
        "--preauth-grant".to_string(),
        grant,
        "--output".into(),
        "json".into(),
    ]);
    let doc = site
        .expect(&args.iter().map(String::as_str).collect::<Vec<_>>(), 0)
        .json();
    assert_eq!(doc["release"]["digest"], "sha256:s1");
    assert_eq!(doc["release"]["origin"]["kind"], "promote");
    assert_eq!(site.deployed("prod"), "shop@sha256:s1");
}

#[test]
fn malformed_target_settings_are_refused_with_their_line() {
    let site = Site::new();
    fs::create_dir_all(site.path("repo/.autosd")).expect("mkdir");
    fs::write(
        site.path("repo/.autosd/config.yml"),
        "version: 1\nproject: shop\nenvironments:\n  staging:\n    target:\n      kind: docker\n      ports: [\"99999:80\"]\n",
    )
    .expect("config");
    let out = site.expect(&docker_deploy("x"), EXIT_TARGET_SETTINGS_INVALID);
    assert!(
        out.stderr.contains("99999:80") && out.stderr.contains("line"),
        "{}",
        out.stderr
    );
}

fn docker_site(host: String) -> (Site, u16) {
    let mut site = Site::new();
    let port = free_port();
    let text = format!(
        "version: 1\nproject: shop\nenvironments:\n  staging:\n    target:\n      kind: docker\n      ports: [\"127.0.0.1:{port}:8080\"]\n      init: true\n      stop_timeout: 5s\n      health:\n        http: {{port: 8080, path: /health}}\n        ready_timeout: 20s\n        stability_window: 1s\n        interval: 250ms\n"
    );
    fs::create_dir_all(site.path("repo/.autosd")).expect("mkdir");
    fs::write(site.path("repo/.autosd/config.yml"), text).expect("config");
    site.docker_host = Some(host);
    (site, port)
}

/// Removes the `shop` containers a docker CLI test made (the project id is fixed by the file,
/// so these tests run one at a time through this lock).
struct DockerCleanup(String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let ids = docker_cli(
            &self.0,
            &["ps", "-aq", "--filter", "label=io.autosd.project=shop"],
        );
        for id in ids.lines() {
            docker_cli(&self.0, &["rm", "-f", id]);
        }
    }
}

static DOCKER_SHOP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn docker_cli_deploy_rollback_and_recovery_after_sigkill() {
    let Some(host) = docker_host() else { return };
    let _one = DOCKER_SHOP.lock().unwrap_or_else(|e| e.into_inner());
    let _clean = DockerCleanup(host.clone());
    let (site, port) = docker_site(host.clone());
    site.expect(&docker_deploy("autosd-test/web:v1"), 0);
    site.expect(&docker_deploy("autosd-test/web:v2"), 0);
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v2\n"));
    let start = Instant::now();
    let mut rollback = on_env(&["rollback"], "staging", "docker");
    rollback.push("--force");
    site.expect(&rollback, 0);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "rollback took {:?}",
        start.elapsed()
    );
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v1\n"));

    // SIGKILL mid-deploy (during the gate of a candidate with a long stability window).
    let config = site.path("repo/.autosd/config.yml");
    let slow = fs::read_to_string(&config)
        .expect("config")
        .replace("stability_window: 1s", "stability_window: 60s");
    fs::write(&config, slow).expect("config");
    let candidate_up = || docker_cli(&host, &["ps", "--format", "{{.Names}}"]).contains("-candidate");

    // SIGTERM (a cancelled CI job) mid-gate: the candidate goes, v1 never stopped serving,
    // and the lock is free at once.
    let child = site.spawn(&docker_deploy("autosd-test/web:v2"));
    wait_until(30, "the candidate's start", candidate_up);
    let (code, stderr, _) = terminate(child);
    assert_eq!(code, Some(EXIT_INTERRUPTED), "{stderr}");
    assert!(stderr.contains("error[AUTOSD-INTERRUPTED]"), "{stderr}");
    assert!(!docker_cli(&host, &["ps", "-a", "--format", "{{.Names}}"]).contains("-candidate"));
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v1\n"));
    let out = site.expect(&on_env(&["lock", "show"], "staging", "docker"), 0);
    assert_eq!(out.stdout.trim(), "free");

    let mut child = site.spawn(&docker_deploy("autosd-test/web:v2"));
    wait_until(30, "the candidate's start", candidate_up);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(
        http_get(port, "/").as_deref(),
        Some("autosd-test web v1\n"),
        "still serving after the kill"
    );
    let fast = fs::read_to_string(&config)
        .expect("config")
        .replace("stability_window: 60s", "stability_window: 1s");
    fs::write(&config, fast).expect("config");
    let out = site.expect(&docker_deploy("autosd-test/web:v2"), 0);
    assert!(out.stdout.contains("stale deploy lock"), "{}", out.stdout);
    assert!(out.stdout.contains("interrupted"), "{}", out.stdout);
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v2\n"));
    assert!(!docker_cli(&host, &["ps", "-a", "--format", "{{.Names}}"]).contains("-candidate"));
    let list = site.releases("staging");
    let verdicts: Vec<&str> = list["releases"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["verdict"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        verdicts,
        ["healthy", "rolled-back", "healthy", "failed", "failed", "healthy"]
    );
    site.expect(&on_env(&["lock", "show"], "staging", "docker"), 0);
    let mut lock_break = on_env(&["lock", "break"], "staging", "docker");
    lock_break.push("--force");
    let out = site.expect(&lock_break, 0);
    assert!(out.stdout.contains("no deploy lock was held"), "{}", out.stdout);
}

#[test]
fn docker_engine_unreachable_is_a_clear_error() {
    let mut site = docker_site("unix:///nonexistent/docker.sock".into()).0;
    site.docker_host = Some("unix:///nonexistent/docker.sock".into());
    let out = site.expect(&docker_deploy("x"), 41);
    assert!(
        out.stderr.contains("AUTOSD-DOCKER-UNREACHABLE") && out.stderr.contains("/nonexistent/docker.sock"),
        "{}",
        out.stderr
    );
}

#[test]
fn generic_deploy_in_github_actions_opens_a_github_deployment() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(wiremock::MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/deployments"))
            .and(header("authorization", "Bearer ghs_DEPLOYTOKEN0123456789"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 77})))
            .expect(1)
            .mount(&server),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/deployments/77/statuses"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
            .expect(2)
            .mount(&server),
    );
    let site = Site::generic();
    let uri = server.uri();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_TOKEN", "ghs_DEPLOYTOKEN0123456789"),
        ("GITHUB_API_URL", uri.as_str()),
        ("GITHUB_REPOSITORY", "octo/shop"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
    ];
    let out = site.expect_with(&deploy_args("staging", "shop@sha256:aaa"), &env, 0);
    assert!(!out.stdout.contains("DEPLOYTOKEN") && !out.stderr.contains("DEPLOYTOKEN"));
    let requests = rt.block_on(server.received_requests()).unwrap_or_default();
    let bodies: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json body"))
        .collect();
    assert_eq!(bodies[0]["environment"], "staging", "{bodies:?}");
    assert_eq!(
        bodies[0]["ref"], "0123456789abcdef0123456789abcdef01234567",
        "{bodies:?}"
    );
    assert_eq!(bodies[1]["state"], "in_progress", "{bodies:?}");
    assert_eq!(bodies[2]["state"], "success", "{bodies:?}");

    // Opted out: the same deploy sends nothing (the mock's expected counts would fail).
    let mut args = deploy_args("staging", "shop@sha256:bbb");
    args.push("--no-github-deployment");
    site.expect_with(&args, &env, 0);
    assert_eq!(
        rt.block_on(server.received_requests()).unwrap_or_default().len(),
        3
    );
}
