//! Black-box tests of `autosd heal` and `autosd incidents` against the real engine
//! (`ci/run_ci.sh` starts one and builds the `autosd-test/*` images; without one these
//! tests print a visible SKIP line and return), plus `heal --watch` stopping on SIGTERM.
use crate::common::{Out, autosd, create_grant_json, spawn_autosd, terminate};
use crate::docker::{docker_cli, docker_host, free_port, http_get};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EXIT_HEAL_FAILED: i32 = 90;
const EXIT_HEAL_HALTED: i32 = 91;

/// One docker heal test at a time: each keeps a container busy for seconds, and the
/// machine has two cores.
static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Site {
    dir: tempfile::TempDir,
    host: String,
    project: String,
    port: u16,
}

impl Drop for Site {
    fn drop(&mut self) {
        let label = format!("label=io.autosd.project={}", self.project);
        for id in docker_cli(&self.host, &["ps", "-aq", "--filter", &label]).lines() {
            docker_cli(&self.host, &["rm", "-f", id]);
        }
    }
}

impl Site {
    fn new(host: String, name: &str, extra_env: &str, heal: &str) -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = format!("heal-{name}-{}", std::process::id());
        let site = Site {
            dir,
            host,
            project,
            port: free_port(),
        };
        fs::create_dir_all(site.path("repo/.autosd")).expect("mkdir");
        fs::create_dir_all(site.path("home")).expect("mkdir");
        site.write_config(extra_env, heal);
        site
    }

    fn write_config(&self, extra_env: &str, heal: &str) {
        let text = format!(
            "version: 1\nproject: {}\nenvironments:\n  staging:\n{heal}    target:\n      kind: docker\n      ports: [\"127.0.0.1:{}:8080\"]\n      init: true\n      stop_timeout: 2s\n      env: {{{extra_env}}}\n      health:\n        http: {{port: 8080, path: /health}}\n        ready_timeout: 5s\n        stability_window: 1s\n        interval: 1s\n",
            self.project, self.port
        );
        fs::write(self.path("repo/.autosd/config.yml"), text).expect("config");
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    #[track_caller]
    fn run(&self, args: &[&str], code: i32) -> (String, String) {
        let out = autosd(&self.path("home"))
            .current_dir(self.path("repo"))
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("run autosd");
        let out = Out::from_output(out).exited(code, args);
        (out.stdout, out.stderr)
    }

    fn deploy(&self, image: &str) {
        self.run(
            &[
                "deploy",
                "--project",
                &self.project,
                "--env",
                "staging",
                "--target",
                "docker",
                "--image",
                image,
            ],
            0,
        );
    }

    fn heal(&self, extra: &[&str], code: i32) -> (String, String) {
        let mut args = vec!["heal", "--project", &self.project, "--target", "docker"];
        args.extend_from_slice(extra);
        self.run(&args, code)
    }

    fn incidents(&self) -> Vec<Value> {
        let (out, _) = self.run(&["incidents", "list", "--status", "all", "--output", "json"], 0);
        let v: Value = serde_json::from_str(out.trim()).expect("json");
        v["incidents"].as_array().expect("list").clone()
    }

    fn releases(&self) -> Vec<Value> {
        let (out, _) = self.run(
            &[
                "releases",
                "--project",
                &self.project,
                "--env",
                "staging",
                "--output",
                "json",
            ],
            0,
        );
        let v: Value = serde_json::from_str(out.trim()).expect("json");
        v["releases"].as_array().expect("list").clone()
    }

    fn serving_container(&self) -> String {
        let label = format!("label=io.autosd.project={}", self.project);
        docker_cli(
            &self.host,
            &[
                "ps",
                "-q",
                "--filter",
                &label,
                "--filter",
                "label=io.autosd.role=release",
            ],
        )
    }

    fn kill(&self) {
        let id = self.serving_container();
        assert!(!id.is_empty(), "nothing running to kill");
        docker_cli(&self.host, &["kill", &id]);
        // `docker kill` counts as a manual stop: the unless-stopped policy does not restart it.
        assert!(http_get(self.port, "/").is_none(), "still serving after the kill");
    }

    fn postmortem(&self, id: &str) -> String {
        fs::read_to_string(self.path(&format!("repo/.autosd/postmortems/{id}.md"))).expect("postmortem")
    }

    fn wait_unhealthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(self.port, "/health").is_some() {
            assert!(Instant::now() < deadline, "never went bad");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn grant(&self, extra: &[&str]) -> String {
        self.run(&["preauth", "init-keys"], 0);
        let (out, _) = self.run(&create_grant_json(&self.project, extra), 0);
        let v: Value = serde_json::from_str(out.trim()).expect("json");
        v["grant_id"].as_str().expect("grant id").to_string()
    }
}

fn steps(incident: &Value) -> String {
    incident["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["what"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_killed_container_is_restarted_and_the_incident_resolved_with_a_postmortem() {
    let Some(host) = docker_host() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, "kill", "", "");
    site.deploy("autosd-test/web:v1");
    site.kill();
    let gh_out = site.path("gh-output");
    let gh_summary = site.path("gh-summary");
    let out = autosd(&site.path("home"))
        .current_dir(site.path("repo"))
        .env("DOCKER_HOST", &site.host)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &gh_out)
        .env("GITHUB_STEP_SUMMARY", &gh_summary)
        .args(["heal", "--project", &site.project, "--target", "docker"])
        .output()
        .expect("heal");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("HEALED: restarted"), "{stdout}");
    assert!(stdout.contains("::error title=autosd incident inc-"), "{stdout}");
    let outputs = fs::read_to_string(&gh_out).expect("outputs");
    assert!(
        outputs.contains("incidents-open<<") && outputs.contains("\n0\n"),
        "{outputs}"
    );
    assert!(
        outputs.contains("healed<<") && outputs.contains("\n1\n"),
        "{outputs}"
    );
    let summary = fs::read_to_string(&gh_summary).expect("summary");
    assert!(summary.contains("### autosd incident `inc-"), "{summary}");
    assert_eq!(http_get(site.port, "/").as_deref(), Some("autosd-test web v1\n"));
    let incidents = site.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let i = &incidents[0];
    assert_eq!(i["status"], "resolved");
    assert_eq!(i["trigger"]["evidence"]["exit_code"], 137);
    for key in [
        "impact_started",
        "detected",
        "acknowledged",
        "mitigated",
        "resolved",
    ] {
        assert!(i[key].is_i64(), "{key} missing: {i}");
    }
    let pm = site.postmortem(i["id"].as_str().expect("id"));
    for word in [
        "detected:",
        "restart: ok",
        "recovered",
        "**Status:** resolved",
        "## Root cause",
    ] {
        assert!(pm.contains(word), "postmortem lacks {word}:\n{pm}");
    }
    // A healthy project: nothing new.
    site.heal(&[], 0);
    assert_eq!(site.incidents().len(), 1);
}

#[test]
fn halted_records_only_dedupes_and_a_human_root_cause_survives_the_later_heal() {
    let Some(host) = docker_host() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, "halt", "", "");
    site.deploy("autosd-test/web:v1");
    site.run(&["halt", "--project", &site.project, "--reason", "freeze"], 0);
    site.kill();
    let stopped = docker_cli(
        &site.host,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.autosd.project={}", site.project),
        ],
    );
    site.heal(&[], EXIT_HEAL_HALTED);
    site.heal(&[], EXIT_HEAL_HALTED);
    assert!(
        site.serving_container().is_empty(),
        "a halted project's container was touched"
    );
    assert!(http_get(site.port, "/").is_none());
    let incidents = site.incidents();
    assert_eq!(
        incidents.len(),
        1,
        "heal twice opened two incidents: {incidents:?}"
    );
    assert_eq!(incidents[0]["status"], "open");
    assert_eq!(incidents[0]["detections"], 2);
    let id = incidents[0]["id"].as_str().expect("id").to_string();
    let pm = site.postmortem(&id);
    let path = site.path(&format!("repo/.autosd/postmortems/{id}.md"));
    let human = "The freeze hid a leaking connection pool (written by a human).";
    fs::write(
        &path,
        pm.replace("_To be written by a human: why did this happen?_", human),
    )
    .expect("edit");
    site.run(&["resume", "--project", &site.project, "--force"], 0);
    site.heal(&[], 0);
    assert_eq!(http_get(site.port, "/").as_deref(), Some("autosd-test web v1\n"));
    assert_eq!(
        docker_cli(
            &site.host,
            &[
                "ps",
                "-aq",
                "--filter",
                &format!("label=io.autosd.project={}", site.project)
            ]
        ),
        stopped,
        "heal restarts the same container"
    );
    let pm = site.postmortem(&id);
    assert!(pm.contains(human), "{pm}");
    assert!(pm.contains("**Status:** resolved"), "{pm}");
    assert_eq!(site.incidents().len(), 1);
    let (out, _) = site.run(&["incidents", "show", &id], 0);
    assert!(out.contains("resolved"), "{out}");
}

/// v1 good, then v2 that passes its gate and goes bad 5 s later (FAIL_AFTER, set only for
/// v2's deploy); a restart keeps it bad (the failure marker survives in the container).
fn v1_then_degrading_v2(site: &Site) {
    site.deploy("autosd-test/web:v1");
    site.write_config("FAIL_AFTER: \"5\"", "");
    site.deploy("autosd-test/web:v2");
    site.write_config("", "");
    site.wait_unhealthy();
}

#[test]
fn a_release_that_goes_bad_is_restarted_then_rolled_back_to_the_known_good_one() {
    let Some(host) = docker_host() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, "degrade", "", "");
    v1_then_degrading_v2(&site);
    let (out, _) = site.heal(&["--force"], 0);
    assert!(out.contains("restart: failed"), "{out}");
    assert!(out.contains("HEALED: rolled back"), "{out}");
    assert_eq!(
        http_get(site.port, "/").as_deref(),
        Some("autosd-test web v1\n"),
        "{out}\n{}",
        docker_cli(
            &site.host,
            &["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Ports}}"]
        )
    );
    let releases = site.releases();
    let last = releases.last().expect("a release");
    assert_eq!(last["origin"]["kind"], "rollback", "{releases:?}");
    assert_eq!(last["verdict"], "healthy");
    assert_eq!(releases[1]["verdict"], "rolled-back", "{releases:?}");
    let incidents = site.incidents();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "resolved");
    let timeline = steps(&incidents[0]);
    assert!(timeline.contains("restart: failed"), "{timeline}");
    assert!(timeline.contains("rollback: ok"), "{timeline}");
}

#[test]
fn without_auto_rollback_heal_restarts_only_then_fails_to_heal() {
    let Some(host) = docker_host() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, "norb", "", "");
    let grant = site.grant(&["--auto-heal", "--env-scope", "staging"]);
    v1_then_degrading_v2(&site);
    let (_, err) = site.heal(&["--force", "--preauth-grant", &grant], EXIT_HEAL_FAILED);
    assert!(err.contains("AUTOSD-HEAL-FAILED"), "{err}");
    assert!(
        err.contains("--auto-rollback"),
        "the hint names what is missing: {err}"
    );
    let releases = site.releases();
    assert_eq!(releases.len(), 2, "a rollback happened: {releases:?}");
    assert_eq!(
        http_get(site.port, "/"),
        Some("autosd-test web v2\n".into()),
        "v2 still runs (degraded)"
    );
    let incidents = site.incidents();
    assert_eq!(incidents[0]["status"], "failed-to-heal");
    let timeline = steps(&incidents[0]);
    assert!(timeline.contains("restart: failed"), "{timeline}");
    assert!(timeline.contains("rollback refused by the gate"), "{timeline}");
}

#[test]
fn a_crash_loop_is_restarted_up_to_the_cap_then_rolled_back() {
    let Some(host) = docker_host() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, "loop", "", "    heal: {max_restarts_per_hour: 2}\n");
    site.deploy("autosd-test/web:v1");
    site.deploy("autosd-test/web:v2");
    for _ in 0..2 {
        site.kill();
        let (out, _) = site.heal(&["--force"], 0);
        assert!(out.contains("HEALED: restarted"), "{out}");
        assert_eq!(http_get(site.port, "/").as_deref(), Some("autosd-test web v2\n"));
    }
    site.kill();
    let (out, _) = site.heal(&["--force"], 0);
    assert!(out.contains("crash loop"), "{out}");
    assert!(out.contains("HEALED: rolled back"), "{out}");
    assert_eq!(http_get(site.port, "/").as_deref(), Some("autosd-test web v1\n"));
    let incidents = site.incidents();
    assert_eq!(incidents.len(), 3);
    assert!(incidents.iter().all(|i| i["status"] == "resolved"));
}

fn write_idle_project(dir: &Path) {
    fs::create_dir_all(dir.join("repo/.autosd")).expect("mkdir");
    fs::create_dir_all(dir.join("home")).expect("mkdir");
    fs::write(
        dir.join("repo/.autosd/config.yml"),
        "version: 1\nproject: idle\nenvironments:\n  dev:\n    target:\n      kind: generic_container\n      deploy: [\"true\"]\n",
    )
    .expect("config");
}

#[test]
fn heal_watch_stops_on_sigterm_within_one_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_idle_project(dir.path());
    let mut child = spawn_autosd(
        &dir.path().join("home"),
        &dir.path().join("repo"),
        &[
            "heal",
            "--project",
            "idle",
            "--target",
            "generic_container",
            "--watch",
            "--interval",
            "2",
        ],
        &[],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "watch exited on its own"
    );
    let (code, err, took) = terminate(child);
    assert!(
        took < Duration::from_secs(2),
        "still running 2 s (one interval) after SIGTERM"
    );
    assert_eq!(code, Some(0));
    assert!(err.contains("stopped by signal"), "{err}");
}

#[test]
fn incidents_commands_on_an_empty_project_and_unknown_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_idle_project(dir.path());
    let run = |args: &[&str], code: i32| {
        let out = autosd(&dir.path().join("home"))
            .current_dir(dir.path().join("repo"))
            .args(args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["incidents", "list"], 0).contains("no incidents"));
    let json: Value =
        serde_json::from_str(run(&["incidents", "list", "--output", "json"], 0).trim()).expect("json");
    assert_eq!(json["incidents"], serde_json::json!([]));
    run(&["incidents", "show", "inc-1-abc"], 92);
    run(&["incidents", "resolve", "inc-1-abc"], 92);
    // Nothing deployed: heal has nothing to do and says so.
    let out = run(&["heal", "--project", "idle", "--target", "generic_container"], 0);
    assert!(out.contains("not deployed"), "{out}");
}
