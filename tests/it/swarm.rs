//! The swarm target on a real single-node swarm: `ci/run_ci.sh` makes its private dockerd a
//! swarm manager and runs a registry (AUTOSD_TEST_REGISTRY) holding the `autosd-test/*`
//! images. Without either these tests print a visible SKIP line and return; with
//! `AUTOSD_REQUIRE_DOCKER=1` they fail. Errors that need no engine (unreachable, not a
//! manager, refused, bad settings) run everywhere, against a fake engine where one must answer.
#![allow(clippy::print_stderr)] // the skip notice must reach the terminal
use crate::common::{DockerConfig, Out, autosd, spawn_autosd, terminate, user_request, wait_until};
use crate::docker::{docker_cli, docker_host, free_port, http_get};
use autosd::deploy::execute::{DirLedgers, Operation, execute};
use autosd::deploy::plan::Request;
use autosd::deploy::release::Scope;
use autosd::deploy::target::{LockHolder, Outcome, Phase, Progress, Quiet, Target};
use autosd::error::ErrorCode;
use autosd::registry::RegistryAuth;
use autosd::swarm::{SwarmSettings, SwarmTarget};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const EXIT_DEPLOY_FAILED: i32 = 40;
const EXIT_DOCKER_UNREACHABLE: i32 = 41;
const EXIT_IMAGE_NOT_FOUND: i32 = 42;
const EXIT_SETTINGS_INVALID: i32 = 44;
const EXIT_CLUSTER_UNREACHABLE: i32 = 51;
const EXIT_FORBIDDEN: i32 = 54;
const EXIT_REGISTRY_AUTH_INVALID: i32 = 56;
const EXIT_INTERRUPTED: i32 = 130;

/// The password of the test registry's entry in every site's Docker config. The loopback
/// registry asks for none, so the engine accepts and ignores it; it must never show.
const REGISTRY_PASSWORD: &str = "pw-never-shown-7f3a";

fn registry_auth() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("autosd-test:{REGISTRY_PASSWORD}"))
}

/// One swarm test at a time: each rolls tasks over for seconds on a two-core machine.
static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The engine (a swarm manager) and the registry, or None after a visible notice.
fn swarm() -> Option<(String, String)> {
    let host = docker_host()?;
    let manager = docker_cli(&host, &["info", "--format", "{{.Swarm.ControlAvailable}}"]) == "true";
    let registry = std::env::var("AUTOSD_TEST_REGISTRY")
        .ok()
        .filter(|r| !r.is_empty());
    match registry {
        Some(registry) if manager => return Some((host, registry)),
        _ => {}
    }
    let why = format!(
        "the engine at {host} is {}a swarm manager and AUTOSD_TEST_REGISTRY is {}",
        if manager { "" } else { "not " },
        if std::env::var("AUTOSD_TEST_REGISTRY").is_ok() {
            "set"
        } else {
            "unset"
        }
    );
    if std::env::var("AUTOSD_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("AUTOSD_REQUIRE_DOCKER=1 but {why} (ci/run_ci.sh sets both up)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED swarm test: {why}");
    None
}

/// A project with a `dev` and a `staging` swarm environment, its services removed on drop.
struct Site {
    dir: tempfile::TempDir,
    host: String,
    registry: String,
    project: String,
    ports: [u16; 2],
}

impl Drop for Site {
    fn drop(&mut self) {
        for env in ["dev", "staging"] {
            docker_cli(&self.host, &["service", "rm", &self.service(env)]);
            docker_cli(
                &self.host,
                &["config", "rm", &format!("autosd-lock-{}-{env}", self.project)],
            );
        }
    }
}

impl Site {
    fn new(host: String, registry: String, name: &str) -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("repo/.autosd")).expect("mkdir");
        fs::create_dir_all(dir.path().join("home")).expect("mkdir");
        let site = Site {
            dir,
            host,
            registry,
            project: format!("sw-{name}-{}", std::process::id()),
            ports: [free_port(), free_port()],
        };
        site.write_config("", "1s");
        site.docker()
            .write(json!({"auths": {&site.registry: {"auth": registry_auth()}}}));
        site
    }

    /// The Docker CLI config (DOCKER_CONFIG) autosd runs with, and its credential helpers.
    fn docker(&self) -> DockerConfig {
        DockerConfig::new(self.path("docker"))
    }

    /// Neither the registry password nor its base64 is in `text`.
    #[track_caller]
    fn assert_no_credential(&self, text: &str) {
        assert!(
            !text.contains(REGISTRY_PASSWORD) && !text.contains(&registry_auth()),
            "a credential leaked: {text}"
        );
    }

    /// `extra_env` goes into the `env:` mapping of both environments; `window` is their
    /// stability window.
    fn write_config(&self, extra_env: &str, window: &str) {
        let mut text = format!("version: 1\nproject: {}\nenvironments:\n", self.project);
        for (env, port) in [("dev", self.ports[0]), ("staging", self.ports[1])] {
            text.push_str(&format!(
                "  {env}:\n    target:\n      kind: swarm\n      ports: [\"{port}:8080\"]\n      init: true\n      stop_timeout: 2s\n      env: {{{extra_env}}}\n      resources: {{memory: 128m, cpus: 0.5, reservations: {{memory: 16m}}}}\n      update: {{parallelism: 1, monitor: 3s}}\n      health: {{ready_timeout: 30s, stability_window: {window}, interval: 1s}}\n",
            ));
        }
        fs::write(self.path("repo/.autosd/config.yml"), text).expect("config");
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn image(&self, name: &str) -> String {
        format!("{}/autosd-test/{name}", self.registry)
    }

    fn service(&self, env: &str) -> String {
        format!("{}-{env}", self.project)
    }

    #[track_caller]
    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], code: i32) -> Out {
        let out = autosd(&self.path("home"))
            .current_dir(self.path("repo"))
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("PATH", self.docker().search_path())
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("run autosd");
        finished(out, code)
    }

    /// `autosd deploy` of the registry's `image` to `env`.
    fn deploy_args(&self, env: &str, image: &str) -> Vec<String> {
        let image = self.image(image);
        [
            "deploy",
            "--project",
            &self.project,
            "--env",
            env,
            "--target",
            "swarm",
            "--image",
            &image,
        ]
        .map(String::from)
        .to_vec()
    }

    /// `autosd deploy` of `image` to `env`, started in the background.
    fn spawn_deploy(&self, env: &str, image: &str) -> std::process::Child {
        let docker = self.docker();
        let search_path = docker.search_path().to_string_lossy().into_owned();
        let config_dir = docker.dir.display().to_string();
        let args = self.deploy_args(env, image);
        spawn_autosd(
            &self.path("home"),
            &self.path("repo"),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &[
                ("DOCKER_HOST", self.host.as_str()),
                ("DOCKER_CONFIG", config_dir.as_str()),
                ("PATH", search_path.as_str()),
            ],
        )
    }

    #[track_caller]
    fn deploy(&self, env: &str, image: &str, code: i32) -> Out {
        self.run(&self.deploy_args(env, image), code)
    }

    /// The image the service's spec runs now.
    fn spec_image(&self, env: &str) -> String {
        let format = "{{.Spec.TaskTemplate.ContainerSpec.Image}}";
        docker_cli(
            &self.host,
            &["service", "inspect", "--format", format, &self.service(env)],
        )
    }

    fn releases(&self, env: &str) -> Vec<Value> {
        let out = self.run(
            &[
                "releases",
                "--project",
                &self.project,
                "--env",
                env,
                "--output",
                "json",
            ],
            0,
        );
        out.json()["releases"].as_array().expect("list").clone()
    }

    fn incidents(&self) -> Vec<Value> {
        let out = self.run(&["incidents", "list", "--status", "all", "--output", "json"], 0);
        out.json()["incidents"].as_array().expect("list").clone()
    }

    /// Every audit record, as written.
    fn audit(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.path("home/audit.log.jsonl")).expect("audit log");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect()
    }

    /// `release id → verdict`, and the digest of each, newest last.
    fn verdicts(&self, env: &str) -> Vec<(String, String)> {
        self.releases(env)
            .iter()
            .map(|r| {
                (
                    r["verdict"].as_str().unwrap_or("").to_string(),
                    r["digest"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// A finished `autosd` run, checked for its exit code and for panics.
#[track_caller]
fn finished(out: std::process::Output, code: i32) -> Out {
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, code, "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    out
}

/// The keys of a JSON object, recursively (`a`, `a.b`): the shape of a record.
fn shape(v: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if let Some(map) = v.as_object() {
        for (k, inner) in map {
            keys.insert(k.clone());
            for sub in shape(inner) {
                keys.insert(format!("{k}.{sub}"));
            }
        }
    }
    keys
}

#[test]
fn deploy_then_a_failed_update_is_rolled_back_by_autosd_then_a_manual_rollback() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "cycle");
    let port = site.ports[0];

    let out = site.deploy("dev", "web:v1", 0);
    assert!(out.stdout.contains("healthy"), "{}", out.stdout);
    let v1 = site.spec_image("dev");
    assert!(
        v1.starts_with(&format!("{}@sha256:", site.image("web"))),
        "pinned by digest: {v1}"
    );
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v1\n"));

    // An image whose HEALTHCHECK never passes: autosd's gate fails it and autosd itself
    // updates the service back to the known-good digest.
    let out = site.deploy("dev", "unhealthy:latest", EXIT_DEPLOY_FAILED);
    assert!(out.stderr.contains("AUTOSD-DEPLOY-FAILED"), "{}", out.stderr);
    assert!(
        out.stdout.contains("previous release serving: yes"),
        "{}",
        out.stdout
    );
    assert_eq!(site.spec_image("dev"), v1, "the known-good digest serves again");
    let failure_action = docker_cli(
        &site.host,
        &[
            "service",
            "inspect",
            "--format",
            "{{.Spec.UpdateConfig.FailureAction}}",
            &site.service("dev"),
        ],
    );
    assert_eq!(failure_action, "pause", "Swarm's own rollback is never asked for");
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v1\n"));
    let verdicts = site.verdicts("dev");
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    assert_eq!(verdicts[0], ("healthy".to_string(), v1.clone()));
    assert_eq!(verdicts[1].0, "failed");

    // v2, then a manual rollback: a new release that rolls v1's digest out again.
    site.deploy("dev", "web:v2", 0);
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v2\n"));
    let out = site.run(
        &[
            "rollback",
            "--project",
            &site.project,
            "--env",
            "dev",
            "--target",
            "swarm",
            "--force",
        ],
        0,
    );
    assert!(out.stdout.contains("healthy"), "{}", out.stdout);
    assert_eq!(site.spec_image("dev"), v1);
    assert_eq!(http_get(port, "/").as_deref(), Some("autosd-test web v1\n"));
    let releases = site.releases("dev");
    let last = releases.last().expect("a release");
    assert_eq!(last["origin"]["kind"], "rollback", "{releases:?}");
    assert_eq!(last["verdict"], "healthy");
    assert_eq!(releases[2]["verdict"], "rolled-back", "{releases:?}");
    assert_eq!(site.incidents().len(), 1, "the failed deploy opened one incident");
    site.run(&["audit", "verify"], 0);
}

#[test]
fn a_release_that_degrades_on_any_of_its_replicas_is_reverted_on_all() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host.clone(), registry, "replicas");
    // Two replicas, so no host port (one node can publish it once); a 4 s window.
    let text = format!(
        "version: 1\nproject: {}\nenvironments:\n  dev:\n    target:\n      kind: swarm\n      replicas: 2\n      init: true\n      stop_timeout: 2s\n      update: {{parallelism: 1, monitor: 1s}}\n      health: {{ready_timeout: 30s, stability_window: 4s, interval: 500ms}}\n",
        site.project
    );
    fs::write(site.path("repo/.autosd/config.yml"), text).expect("config");
    site.deploy("dev", "web:v1", 0);
    let v1 = site.spec_image("dev");
    // Healthy at first, unhealthy 3 s after each task starts: inside the window.
    let out = site.deploy("dev", "web:degrading", EXIT_DEPLOY_FAILED);
    assert!(out.stderr.contains("AUTOSD-DEPLOY-FAILED"), "{}", out.stderr);
    assert_eq!(site.spec_image("dev"), v1);
    let service = site.service("dev");
    let running = docker_cli(
        &host,
        &[
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Image}} {{.CurrentState}}",
            &service,
        ],
    );
    let lines: Vec<&str> = running.lines().collect();
    assert_eq!(lines.len(), 2, "{running}");
    assert!(
        lines.iter().all(|l| l.starts_with(&v1) && l.contains("Running")),
        "{running}"
    );
}

#[test]
fn ledger_audit_and_incident_records_have_the_docker_targets_shape() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "shape");
    // A docker environment beside the swarm ones, failing at once (the image exits).
    let docker_port = free_port();
    let mut config = fs::read_to_string(site.path("repo/.autosd/config.yml")).expect("config");
    config.push_str(&format!(
        "  qa:\n    target:\n      kind: docker\n      ports: [\"127.0.0.1:{docker_port}:8080\"]\n      health: {{ready_timeout: 10s, stability_window: 1s}}\n"
    ));
    fs::write(site.path("repo/.autosd/config.yml"), config).expect("config");
    let run_docker = |image: &str, code| {
        site.run(
            &[
                "deploy",
                "--project",
                &site.project,
                "--env",
                "qa",
                "--target",
                "docker",
                "--image",
                image,
            ],
            code,
        )
    };
    run_docker("autosd-test/web:v1", 0);
    run_docker("autosd-test/crash:latest", EXIT_DEPLOY_FAILED);
    site.deploy("dev", "web:v1", 0);
    site.deploy("dev", "crash:latest", EXIT_DEPLOY_FAILED);
    let label = format!("label=io.autosd.project={}", site.project);
    for id in docker_cli(&site.host, &["ps", "-aq", "--filter", &label]).lines() {
        docker_cli(&site.host, &["rm", "-f", id]);
    }

    let (qa, dev) = (site.releases("qa"), site.releases("dev"));
    for i in 0..2 {
        assert_eq!(
            shape(&qa[i]),
            shape(&dev[i]),
            "ledger records differ:\n{}\n{}",
            qa[i],
            dev[i]
        );
        assert_eq!(qa[i]["verdict"], dev[i]["verdict"]);
    }
    let incidents = site.incidents();
    let by_env = |env: &str| {
        incidents
            .iter()
            .find(|i| i["env"] == env)
            .cloned()
            .expect("incident")
    };
    let (docker_inc, swarm_inc) = (by_env("qa"), by_env("dev"));
    assert_eq!(
        shape(&docker_inc),
        shape(&swarm_inc),
        "incidents differ:\n{docker_inc}\n{swarm_inc}"
    );
    let audit = site.audit();
    let of = |target: &str| -> Vec<BTreeSet<String>> {
        audit
            .iter()
            .filter(|r| r.to_string().contains(&format!("\"{target}\"")))
            .map(shape)
            .collect()
    };
    let (docker_records, swarm_records) = (of("qa"), of("dev"));
    assert!(!swarm_records.is_empty());
    assert_eq!(
        docker_records, swarm_records,
        "audit records of the same operations differ"
    );
    site.run(&["audit", "verify"], 0);
}

#[test]
fn promote_rolls_the_same_digest_into_the_next_environments_service() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "promote");
    site.deploy("dev", "web:v2", 0);
    site.run(
        &[
            "promote",
            "--project",
            &site.project,
            "--from",
            "dev",
            "--to",
            "staging",
            "--target",
            "swarm",
            "--force",
        ],
        0,
    );
    assert_eq!(
        site.spec_image("staging"),
        site.spec_image("dev"),
        "one digest, two services"
    );
    assert_eq!(
        http_get(site.ports[1], "/").as_deref(),
        Some("autosd-test web v2\n")
    );
    let resources = docker_cli(
        &site.host,
        &[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.Resources}}",
            &site.service("staging"),
        ],
    );
    let resources: Value = serde_json::from_str(&resources).expect("resources json");
    assert_eq!(
        resources,
        json!({"Limits": {"MemoryBytes": 128i64 << 20, "NanoCPUs": 500_000_000},
               "Reservations": {"MemoryBytes": 16i64 << 20}}),
        "the project file's resources reach the service"
    );
    // The registry credentials went with every write; nothing shows them.
    site.assert_no_credential(&docker_cli(
        &site.host,
        &["service", "inspect", &site.service("staging")],
    ));
    for entry in crate::preauth::all_files(&site.path("home")) {
        site.assert_no_credential(&String::from_utf8_lossy(&fs::read(&entry).expect("read")));
    }
    let staging = site.releases("staging");
    assert_eq!(staging[0]["origin"]["kind"], "promote", "{staging:?}");
    assert_eq!(staging[0]["digest"], site.releases("dev")[0]["digest"]);
}

#[test]
fn dry_run_prints_the_service_spec_and_creates_nothing() {
    let Some((host, registry)) = swarm() else { return };
    let site = Site::new(host, registry, "dry");
    let mut args = site.deploy_args("dev", "web:v1");
    args.push("--dry-run".into());
    let out = site.run(&args, 0);
    site.assert_no_credential(&format!("{}{}", out.stdout, out.stderr));
    assert!(
        out.stdout.contains("service spec that would be applied:"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\"PublishMode\": \"host\""), "{}", out.stdout);
    let mut json_args = args.clone();
    json_args.extend(["--output".into(), "json".into()]);
    let change = site.run(&json_args, 0).json()["change"].clone();
    assert_eq!(change["Name"], site.service("dev"));
    let pinned = change["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .expect("image");
    assert!(
        pinned.starts_with(&format!("{}@sha256:", site.image("web"))),
        "{pinned}"
    );
    assert_eq!(change["UpdateConfig"]["FailureAction"], "pause");
    assert_eq!(change["UpdateConfig"]["Monitor"], 3_000_000_000i64);
    let services = docker_cli(&site.host, &["service", "ls", "--format", "{{.Name}}"]);
    assert!(!services.lines().any(|s| s == site.service("dev")), "{services}");
}

/// Runs `docker` with `args` when the target reports `phase` for the first time: a second
/// client acting at an exact point of autosd's work.
struct Interleave {
    host: String,
    phase: Phase,
    args: Vec<String>,
    done: bool,
}

impl Progress for Interleave {
    fn phase(&mut self, phase: Phase, _: &str) {
        if phase == self.phase && !self.done {
            self.done = true;
            let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
            docker_cli(&self.host, &args);
        }
    }
}

fn library_target(host: &str, settings: Value) -> SwarmTarget {
    let target = autosd::config::TargetSettings::from_json(json!({ "swarm": settings }), 0);
    let settings = SwarmSettings::from_target(&target, "dev").expect("settings");
    SwarmTarget::connect(
        Some(host),
        settings,
        RegistryAuth::default(),
        autosd::context::unix_now,
    )
    .expect("a swarm manager answers")
}

fn request(scope: &Scope, t: &SwarmTarget, n: u32) -> Request {
    user_request(scope.clone(), t, format!("r{n}"), t.settings().gate, 1)
}

fn holder(expires_in: i64) -> LockHolder {
    let now = autosd::context::unix_now();
    LockHolder {
        who: "user it".into(),
        host: "elsewhere".into(),
        pid: 1,
        operation: "deploy".into(),
        acquired: now,
        expires: now + expires_in,
    }
}

#[test]
fn a_cancelled_deploy_rolls_the_known_good_digest_out_again_and_frees_the_lock() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "cancel");
    site.deploy("dev", "web:v1", 0);
    let v1 = site.spec_image("dev");
    // A window that outlasts the test: only the signal ends the gate.
    site.write_config("", "10m");
    let child = site.spawn_deploy("dev", "web:v2");
    wait_until(60, "the roll-out of v2", || {
        http_get(site.ports[0], "/").as_deref() == Some("autosd-test web v2\n")
    });
    let (code, stderr, _) = terminate(child);
    assert_eq!(code, Some(EXIT_INTERRUPTED), "{stderr}");
    assert!(
        stderr.contains("error[AUTOSD-INTERRUPTED]") && stderr.contains("was put back"),
        "{stderr}"
    );
    // The known-good digest is the spec again, and Swarm finishes rolling it out.
    assert_eq!(site.spec_image("dev"), v1);
    wait_until(60, "v1 serving again", || {
        http_get(site.ports[0], "/").as_deref() == Some("autosd-test web v1\n")
    });
    let configs = docker_cli(&site.host, &["config", "ls", "--format", "{{.Name}}"]);
    assert!(
        !configs.contains(&format!("autosd-lock-{}-dev", site.project)),
        "the lock was released: {configs}"
    );
    let (verdict, _) = site.verdicts("dev").pop().expect("releases");
    assert_eq!(verdict, "failed");
    assert!(site.incidents().is_empty(), "a cancelled run is no incident");
}

#[test]
fn a_concurrent_change_is_detected_by_version_and_never_overwritten() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host.clone(), registry, "conflict");
    let scope = Scope::new(&site.project, "dev");
    let service = site.service("dev");
    let t = library_target(
        &host,
        json!({"init": true, "stop_timeout": "2s", "update": {"monitor": "1s"},
               "health": {"ready_timeout": "30s", "stability_window": "3s", "interval": "500ms"}}),
    );
    let ledgers = DirLedgers {
        root: site.path("ledgers"),
    };
    let deploy = |n: u32, image: &str, progress: &mut dyn Progress| {
        let op = Operation::Deploy {
            image: site.image(image),
        };
        execute(
            &t,
            &ledgers,
            &op,
            &request(&scope, &t, n),
            &holder(60),
            Duration::from_secs(5),
            progress,
        )
    };
    deploy(0, "web:v1", &mut Quiet).expect("v1 deploys");
    let v1 = site.spec_image("dev");

    // Between autosd's read of the service and its write, someone updates it: the engine
    // refuses autosd's write at the stale version.
    let mut between = Interleave {
        host: host.clone(),
        phase: Phase::Start,
        args: [
            "service",
            "update",
            "--detach",
            "--label-add",
            "owner=ops",
            &service,
        ]
        .map(String::from)
        .to_vec(),
        done: false,
    };
    let e = deploy(1, "web:v2", &mut between).expect_err("a stale write is refused");
    assert_eq!(e.code, ErrorCode::TargetConflict, "{}", e.message);
    let labels = docker_cli(
        &host,
        &[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.Labels}}",
            &service,
        ],
    );
    assert!(
        labels.contains("\"owner\":\"ops\""),
        "the other change stays: {labels}"
    );
    assert_eq!(site.spec_image("dev"), v1, "autosd's update was not applied");

    // While autosd gates v2, someone changes the spec: autosd stops and reverts nothing.
    let mut during = Interleave {
        host: host.clone(),
        phase: Phase::Health,
        args: ["service", "update", "--detach", "--env-add", "OTHER=1", &service]
            .map(String::from)
            .to_vec(),
        done: false,
    };
    let e = deploy(2, "web:v2", &mut during).expect_err("a change during the gate is reported");
    assert_eq!(e.code, ErrorCode::TargetConflict, "{}", e.message);
    let env = docker_cli(
        &host,
        &[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
            &service,
        ],
    );
    assert!(env.contains("OTHER=1"), "the other change stays: {env}");
    assert_ne!(site.spec_image("dev"), v1, "not reverted over the other change");
    assert!(
        t.lock_holder(&scope).expect("lock").is_none(),
        "the lock is released on error"
    );

    // A write that bumps the version but leaves the spec as autosd read it (Swarm does that
    // itself when an update pauses or completes) is no one else's change: autosd writes again
    // at the new version.
    let mut bump = Interleave {
        host: host.clone(),
        phase: Phase::Start,
        args: ["service", "update", "--detach", &service]
            .map(String::from)
            .to_vec(),
        done: false,
    };
    let outcome = deploy(3, "web:v1", &mut bump).expect("a version-only bump is not a conflict");
    assert!(bump.done, "the bump ran between autosd's read and write");
    assert!(
        matches!(outcome.outcome, Outcome::Healthy { .. }),
        "{:?}",
        outcome.outcome
    );
    assert_eq!(site.spec_image("dev"), v1, "autosd's update was applied");
}

#[test]
fn the_lock_is_renewed_while_a_rollout_outlasts_its_lease() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "lease");
    site.deploy("dev", "web:v1", 0);
    // dev: a 3 s lease, renewed every second, under a 5 s stability window.
    site.write_config("", "5s");
    let config = site.path("repo/.autosd/config.yml");
    let text = fs::read_to_string(&config).expect("config");
    fs::write(
        &config,
        text.replacen("      health:", "      lease_duration: 3s\n      health:", 1),
    )
    .expect("config");
    let mut child = site.spawn_deploy("dev", "web:v2");
    let lock = format!("autosd-lock-{}-dev", site.project);
    let format = "{{index .Spec.Labels \"io.autosd.lock.holder\"}}";
    let mut expiries = BTreeSet::new();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        let label = docker_cli(&site.host, &["config", "inspect", "--format", format, &lock]);
        if let Ok(holder) = serde_json::from_str::<Value>(&label) {
            assert_eq!(
                holder["expires"]
                    .as_i64()
                    .zip(holder["acquired"].as_i64())
                    .map(|(e, a)| e >= a + 3),
                Some(true),
                "{holder}"
            );
            expiries.extend(holder["expires"].as_i64());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        expiries.len() >= 3,
        "the lease was renewed (expiry moved on) while the gate ran: {expiries:?}"
    );
    let configs = docker_cli(&site.host, &["config", "ls", "--format", "{{.Name}}"]);
    assert!(!configs.contains(&lock), "released: {configs}");
}

#[test]
fn the_lock_is_a_config_object_naming_its_holder_and_a_missing_service_is_named() {
    let Some((host, registry)) = swarm() else { return };
    let site = Site::new(host.clone(), registry, "lock");
    let scope = Scope::new(&site.project, "dev");
    let t = library_target(&host, json!({}));
    let (guard, notes) = t.lock(&scope, &holder(60), Duration::ZERO).expect("free");
    assert!(notes.is_empty());
    let e = t.lock(&scope, &holder(60), Duration::ZERO).err().expect("held");
    assert_eq!(e.code, ErrorCode::LockHeld);
    assert!(
        e.message.contains("user it (deploy on elsewhere, pid 1)"),
        "{}",
        e.message
    );
    assert_eq!(
        t.lock_holder(&scope).expect("look").map(|h| h.who),
        Some("user it".into())
    );
    guard.release().expect("release");
    assert!(t.lock_holder(&scope).expect("look").is_none());
    // A holder whose lease ended is broken and named.
    let stale = t.lock(&scope, &holder(-1), Duration::ZERO).expect("taken").0;
    drop(stale);
    let (guard, notes) = t
        .lock(&scope, &holder(60), Duration::ZERO)
        .expect("stale lock broken");
    assert!(
        notes.iter().any(|n| n.contains("broke the stale deploy lock")),
        "{notes:?}"
    );
    drop(guard);
    assert!(t.break_lock(&scope).expect("break"));
    assert!(!t.break_lock(&scope).expect("break"));

    let e = t.restart(&scope).expect_err("no service");
    assert_eq!(e.code, ErrorCode::TargetObjectMissing);
    assert!(e.message.contains(&site.service("dev")), "{}", e.message);
    let d = t.diagnose(&scope).expect("diagnose");
    assert!(!d.healthy && d.detail.contains("does not exist"), "{}", d.detail);
}

/// v1 good, then v2 that passes its 1 s window and whose tasks turn unhealthy 4 s after
/// they start (FAIL_AFTER, set only for v2's deploy); returns once Swarm saw one fail. Heal
/// then judges with a stability window of `heal_window`.
fn v1_then_degrading_v2(site: &Site, heal_window: &str) {
    site.deploy("dev", "web:v1", 0);
    site.write_config("FAIL_AFTER: \"4\"", "1s");
    site.deploy("dev", "web:v2", 0);
    site.write_config("", heal_window);
    let service = site.service("dev");
    let deadline = Instant::now() + Duration::from_secs(40);
    while !docker_cli(
        &site.host,
        &["service", "ps", "--format", "{{.CurrentState}}", &service],
    )
    .contains("Failed")
    {
        assert!(Instant::now() < deadline, "no task ever failed");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn force_updates(site: &Site) -> String {
    let format = "{{.Spec.TaskTemplate.ForceUpdate}}";
    docker_cli(
        &site.host,
        &["service", "inspect", "--format", format, &site.service("dev")],
    )
}

fn heal(site: &Site) -> Out {
    site.run(
        &[
            "heal",
            "--project",
            &site.project,
            "--target",
            "swarm",
            "--env",
            "dev",
            "--force",
        ],
        0,
    )
}

#[test]
fn heal_force_updates_a_service_whose_tasks_fail() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "heal");
    v1_then_degrading_v2(&site, "1s");
    assert_eq!(force_updates(&site), "0");
    // Fresh tasks pass heal's 1 s window before they go bad again: the restart heals.
    let out = heal(&site);
    assert!(
        out.stdout.contains("HEALED: restarted"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(force_updates(&site), "1", "heal's restart is a force update");
    let incidents = site.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["status"], "resolved");
    let evidence = incidents[0].to_string();
    let task = format!("{}.1", site.service("dev"));
    assert!(evidence.contains(&task), "the failing task is named: {evidence}");
}

#[test]
fn heal_rolls_back_to_the_known_good_digest_when_a_restart_does_not_help() {
    let Some((host, registry)) = swarm() else { return };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, registry, "ladder");
    // Heal's 6 s window outlasts the 4 s a fresh v2 task stays healthy.
    v1_then_degrading_v2(&site, "6s");
    let v2 = site.spec_image("dev");
    let out = heal(&site);
    assert!(
        out.stdout.contains("restart: failed"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("HEALED: rolled back"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let releases = site.releases("dev");
    assert_eq!(releases[1]["verdict"], "rolled-back", "{releases:?}");
    let last = releases.last().expect("a release");
    assert_eq!(last["origin"]["kind"], "rollback");
    assert_eq!(last["verdict"], "healthy");
    assert_eq!(
        site.spec_image("dev"),
        releases[0]["digest"].as_str().unwrap_or_default()
    );
    assert_ne!(site.spec_image("dev"), v2);
    assert_eq!(
        http_get(site.ports[0], "/").as_deref(),
        Some("autosd-test web v1\n")
    );
    let incidents = site.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["status"], "resolved");
}

#[test]
fn an_image_missing_from_the_registry_is_named() {
    let Some((host, registry)) = swarm() else { return };
    let site = Site::new(host, registry, "noimage");
    let out = site.run(&site.deploy_args("dev", "web:nope"), EXIT_IMAGE_NOT_FOUND);
    assert!(
        out.stderr.contains("AUTOSD-IMAGE-NOT-FOUND") && out.stderr.contains("web:nope"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_private_registry_is_pulled_from_with_the_docker_configs_credentials() {
    let Some((host, _)) = swarm() else { return };
    // The node must pull with the password too: the engine forgot the image.
    let Some(private) = crate::common::auth_registry() else {
        return;
    };
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = Site::new(host, private, "private");
    // A credential store that is not installed is named, as the Docker CLI names it.
    site.docker().write(json!({"credsStore": "autosd-absent"}));
    let out = site.deploy("dev", "web:v1", EXIT_REGISTRY_AUTH_INVALID);
    assert!(
        out.stderr.contains("docker-credential-autosd-absent") && out.stderr.contains("PATH"),
        "{}",
        out.stderr
    );
    // A store with no credentials for this registry: an anonymous pull, refused, and the
    // hint names the store.
    site.docker().helper(
        "elsewhere",
        "registry.example.com",
        "autosd-test",
        REGISTRY_PASSWORD,
    );
    site.docker().write(json!({"credsStore": "elsewhere"}));
    let out = site.deploy("dev", "web:v1", EXIT_IMAGE_NOT_FOUND);
    assert!(
        out.stderr.contains("docker-credential-elsewhere") && out.stderr.contains(&site.registry),
        "{}",
        out.stderr
    );
    // The registry's own helper knows the password: the node pulls with it.
    site.docker()
        .helper("knows", &site.registry, "autosd-test", REGISTRY_PASSWORD);
    site.docker()
        .write(json!({"credsStore": "elsewhere", "credHelpers": {&site.registry: "knows"}}));
    let out = site.deploy("dev", "web:v1", 0);
    site.assert_no_credential(&format!("{}{}", out.stdout, out.stderr));
    assert_eq!(
        http_get(site.ports[0], "/").as_deref(),
        Some("autosd-test web v1\n")
    );
    // An `auths` entry works as well: the registry is asked for the digest again.
    site.docker()
        .write(json!({"auths": {format!("http://{}", site.registry): {"auth": registry_auth()}}}));
    let out = site.deploy("dev", "web:v1", 0);
    site.assert_no_credential(&format!("{}{}", out.stdout, out.stderr));
    assert_eq!(
        http_get(site.ports[0], "/").as_deref(),
        Some("autosd-test web v1\n")
    );
    site.assert_no_credential(&docker_cli(
        &site.host,
        &["service", "inspect", &site.service("dev")],
    ));
}

/// A project file with swarm settings but no engine needed before validation fails.
fn offline_site(target: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join(".autosd")).expect("mkdir");
    fs::write(
        repo.join(".autosd/config.yml"),
        format!("version: 1\nproject: shop\nenvironments:\n  dev:\n    target:\n{target}"),
    )
    .expect("config");
    (dir, repo)
}

#[track_caller]
fn offline_run(dir: &tempfile::TempDir, repo: &PathBuf, docker_host: &str, code: i32) -> Out {
    let out = autosd(dir.path())
        .current_dir(repo)
        .env("DOCKER_HOST", docker_host)
        .env("DOCKER_CONFIG", dir.path().join("docker"))
        .args([
            "deploy",
            "--project",
            "shop",
            "--env",
            "dev",
            "--target",
            "swarm",
            "--image",
            "reg/shop:v1",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run autosd");
    finished(out, code)
}

#[test]
fn bad_settings_name_their_lines() {
    let (dir, repo) = offline_site(
        "      kind: swarm\n      replicas: 0\n      update:\n        order: sideways\n      health:\n        interval: soon\n",
    );
    let out = offline_run(
        &dir,
        &repo,
        "unix:///nonexistent/docker.sock",
        EXIT_SETTINGS_INVALID,
    );
    for needle in [
        "AUTOSD-TARGET-SETTINGS-INVALID",
        "line 7: replicas",
        "line 9: update.order",
        "line 11: health.interval",
    ] {
        assert!(out.stderr.contains(needle), "{needle} in {}", out.stderr);
    }
}

#[test]
fn a_malformed_docker_config_is_named_without_its_secret() {
    let (dir, repo) = offline_site("      kind: swarm\n");
    fs::create_dir_all(dir.path().join("docker")).expect("mkdir");
    // A credential where an object belongs: a parser's message would quote it.
    fs::write(
        dir.path().join("docker/config.json"),
        format!(r#"{{"auths": {{"reg": "{}"}}}}"#, registry_auth()),
    )
    .expect("config");
    let out = offline_run(
        &dir,
        &repo,
        "unix:///nonexistent/docker.sock",
        EXIT_REGISTRY_AUTH_INVALID,
    );
    assert!(
        out.stderr.contains("AUTOSD-REGISTRY-AUTH-INVALID") && out.stderr.contains("config.json"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&registry_auth()), "{}", out.stderr);
}

#[test]
fn an_engine_that_does_not_answer_is_unreachable() {
    let (dir, repo) = offline_site("      kind: swarm\n");
    let out = offline_run(
        &dir,
        &repo,
        "unix:///nonexistent/docker.sock",
        EXIT_DOCKER_UNREACHABLE,
    );
    assert!(out.stderr.contains("AUTOSD-DOCKER-UNREACHABLE"), "{}", out.stderr);
}

/// A fake engine on loopback: answers the version handshake like Docker 20.10, and
/// `/swarm` with `status` and `body`.
fn fake_engine(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers; these requests have no body.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let (code, text) = if line.contains("/version") {
                (
                    "200 OK",
                    r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#,
                )
            } else if line.contains("/swarm") {
                (status, body)
            } else {
                ("404 Not Found", r#"{"message":"page not found"}"#)
            };
            let mut w = &stream;
            let _ = write!(
                w,
                "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    format!("tcp://127.0.0.1:{port}")
}

#[test]
fn an_engine_that_manages_no_swarm_or_refuses_is_named() {
    let (dir, repo) = offline_site("      kind: swarm\n");
    let engine = fake_engine(
        "503 Service Unavailable",
        r#"{"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}"#,
    );
    let out = offline_run(&dir, &repo, &engine, EXIT_CLUSTER_UNREACHABLE);
    assert!(
        out.stderr.contains("AUTOSD-CLUSTER-UNREACHABLE"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("docker swarm init"),
        "the hint says what to do: {}",
        out.stderr
    );
    let engine = fake_engine(
        "403 Forbidden",
        r#"{"message":"authorization denied by plugin opa: GET /swarm"}"#,
    );
    let out = offline_run(&dir, &repo, &engine, EXIT_FORBIDDEN);
    assert!(
        out.stderr.contains("AUTOSD-TARGET-FORBIDDEN") && out.stderr.contains("inspect the swarm"),
        "{}",
        out.stderr
    );
}
