//! The docker target against a real engine (`ci/run_ci.sh` starts one and builds the
//! `autosd-test/*` images). Without an engine these tests print a visible SKIP line and
//! return; with `AUTOSD_REQUIRE_DOCKER=1` (set by run_ci.sh) a missing engine fails them.
#![allow(clippy::print_stderr)] // the skip notice must reach the terminal
use crate::common::user_request;
use autosd::deploy::execute::{DirLedgers, Executed, LedgerIo, Operation, execute};
use autosd::deploy::health::GateFailure;
use autosd::deploy::plan::{Request, Step};
use autosd::deploy::release::{Origin, Scope, Verdict};
use autosd::deploy::settings::DockerSettings;
use autosd::deploy::target::{LockHolder, Outcome, Quiet, Target};
use autosd::docker::DockerTarget;
use autosd::error::ErrorCode;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The engine to test against, or None (after a visible notice) when none answers.
pub fn docker_host() -> Option<String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| autosd::docker::DEFAULT_HOST.to_string());
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_HOST", &host)
        .output()
        .is_ok_and(|o| o.status.success());
    if answers {
        return Some(host);
    }
    if std::env::var("AUTOSD_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("AUTOSD_REQUIRE_DOCKER=1 but no Docker engine answers at {host}");
    }
    // Written to the real stderr, past the test harness's capture, so it is always seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED docker test: no Docker engine answers at {host} (run ci/run_ci.sh, or set DOCKER_HOST)"
    );
    None
}

macro_rules! require_docker {
    () => {
        match docker_host() {
            Some(h) => h,
            None => return,
        }
    };
}

pub fn docker_cli(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .output()
        .expect("docker cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A free loopback port for a release, below the kernel's and Docker's ephemeral ranges
/// (32768 and up): a port taken from there could be handed to another test's candidate
/// (published on an engine-chosen port) between a release's stop and its successor's start.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 20_000 + (std::process::id() % 500) * 20;
    loop {
        let port = (base + NEXT.fetch_add(1, Ordering::SeqCst) % 10_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `GET /` on loopback: the body, or None when the request failed.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    if !buf.starts_with("HTTP/1.") || !buf.split_whitespace().nth(1).is_some_and(|c| c.starts_with('2')) {
        return None;
    }
    buf.split("\r\n\r\n").nth(1).map(str::to_string)
}

/// One test's world: a unique project, its ledgers, its port, and cleanup on drop.
pub struct World {
    pub host: String,
    pub project: String,
    pub port: u16,
    pub ledgers: DirLedgers,
    _dir: tempfile::TempDir,
    n: AtomicU32,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl World {
    pub fn new(host: String, name: &str) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = format!(
            "it-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        World {
            host,
            project,
            port: free_port(),
            ledgers: DirLedgers {
                root: dir.path().to_path_buf(),
            },
            _dir: dir,
            n: AtomicU32::new(0),
        }
    }

    pub fn settings(&self, port: u16, extra: serde_json::Value) -> DockerSettings {
        let mut docker = json!({
            "ports": [format!("127.0.0.1:{port}:8080")],
            "init": true,
            "stop_timeout": "5s",
            "health": {"http": {"port": 8080, "path": "/health"}, "ready_timeout": "20s",
                       "stability_window": "1s", "interval": "250ms"}
        });
        if let (Some(d), Some(e)) = (docker.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        let target = autosd::config::TargetSettings::from_json(json!({ "docker": docker }), 0);
        DockerSettings::from_target(&target, "test").expect("settings")
    }

    pub fn target(&self, settings: DockerSettings) -> DockerTarget {
        DockerTarget::connect(Some(&self.host), settings, autosd::context::unix_now).expect("engine answers")
    }

    pub fn scope(&self, env: &str) -> Scope {
        Scope::new(&self.project, env)
    }

    pub fn request(&self, env: &str, t: &DockerTarget) -> Request {
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        user_request(
            self.scope(env),
            t,
            format!("r{n}"),
            t.settings().gate,
            t.settings().keep,
        )
    }

    pub fn run(&self, t: &DockerTarget, env: &str, op: Operation) -> autosd::error::Result<Executed> {
        let req = self.request(env, t);
        execute(
            t,
            &self.ledgers,
            &op,
            &req,
            &holder(),
            Duration::from_secs(30),
            &mut Quiet,
        )
    }

    pub fn deploy(&self, t: &DockerTarget, image: &str) -> Executed {
        self.run(t, "staging", Operation::Deploy { image: image.into() })
            .expect("deploy runs")
    }

    pub fn containers(&self) -> Vec<String> {
        let filter = format!("label=io.autosd.project={}", self.project);
        docker_cli(
            &self.host,
            &[
                "ps",
                "-a",
                "--filter",
                &filter,
                "--format",
                "{{.Names}} {{.State}}",
            ],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let filter = format!("label=io.autosd.project={}", self.project);
        let ids = docker_cli(&self.host, &["ps", "-aq", "--filter", &filter]);
        for id in ids.lines() {
            docker_cli(&self.host, &["rm", "-f", id]);
        }
    }
}

pub fn holder() -> LockHolder {
    let now = autosd::context::unix_now();
    LockHolder {
        who: "user it".into(),
        host: autosd::deploy::target::this_host(),
        pid: std::process::id(),
        operation: "deploy".into(),
        acquired: now,
        expires: now + 600,
    }
}

fn healthy(e: &Executed) -> bool {
    matches!(e.outcome, Outcome::Healthy { .. })
}

#[test]
fn deploy_v1_then_v2_keeps_v1_and_rollback_restarts_it_fast() {
    let host = require_docker!();
    let w = World::new(host, "cycle");
    let t = w.target(w.settings(w.port, json!({})));

    let v1 = w.deploy(&t, "autosd-test/web:v1");
    assert!(healthy(&v1), "{:?}", v1.outcome);
    assert_eq!(http_get(w.port, "/").as_deref(), Some("autosd-test web v1\n"));

    let v2 = w.deploy(&t, "autosd-test/web:v2");
    assert!(healthy(&v2), "{:?}", v2.outcome);
    assert_eq!(http_get(w.port, "/").as_deref(), Some("autosd-test web v2\n"));
    let cs = w.containers();
    let v1_name = format!("autosd-{}-staging-{} exited", w.project, v1.plan.release.id);
    assert!(cs.contains(&v1_name), "v1 is stopped but kept: {cs:?}");
    assert!(
        !cs.iter().any(|c| c.contains("candidate")),
        "no candidate left: {cs:?}"
    );
    let current = t
        .current(&w.scope("staging"))
        .expect("current")
        .expect("something serves");
    assert_eq!(current.release_id.as_deref(), Some(v2.plan.release.id.as_str()));

    let start = Instant::now();
    let back = w
        .run(&t, "staging", Operation::Rollback { to: None })
        .expect("rollback");
    let took = start.elapsed();
    assert!(healthy(&back), "{:?}", back.outcome);
    assert!(
        back.plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::RestartRetained { .. })),
        "fast path"
    );
    assert!(took < Duration::from_secs(5), "rollback took {took:?}");
    assert_eq!(http_get(w.port, "/").as_deref(), Some("autosd-test web v1\n"));

    let ledger = w.ledgers.read(&w.scope("staging")).expect("ledger");
    let verdicts: Vec<_> = ledger.releases.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Healthy, Verdict::RolledBack, Verdict::Healthy]
    );
    assert_eq!(ledger.releases[2].digest, ledger.releases[0].digest);
    assert!(matches!(ledger.releases[2].origin, Origin::Rollback { .. }));
}

#[test]
fn a_bad_image_fails_its_gate_while_the_old_release_serves_without_a_gap() {
    let host = require_docker!();
    let w = World::new(host, "bad");
    let t = w.target(w.settings(w.port, json!({})));
    assert!(healthy(&w.deploy(&t, "autosd-test/web:v2")));

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let poller = {
        let (stop, ok, failed, port) = (stop.clone(), ok.clone(), failed.clone(), w.port);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match http_get(port, "/") {
                    Some(body) if body.contains("v2") => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let bad = w.deploy(&t, "autosd-test/unhealthy:latest");
    stop.store(true, Ordering::SeqCst);
    poller.join().expect("poller");

    assert!(
        matches!(
            bad.outcome,
            Outcome::GateFailed {
                previous_serving: true,
                ..
            }
        ),
        "{:?}",
        bad.outcome
    );
    let err = bad.gate_error().expect("an error to exit with");
    assert_eq!(err.code, ErrorCode::DeployFailed);
    assert!(ok.load(Ordering::SeqCst) > 10, "the poller ran");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "zero failed requests during the bad deploy"
    );
    let ledger = w.ledgers.read(&w.scope("staging")).expect("ledger");
    assert_eq!(ledger.releases[1].verdict, Verdict::Failed);
    assert_eq!(
        ledger.serving().map(|r| r.id.clone()),
        Some(ledger.releases[0].id.clone())
    );
    let cs = w.containers();
    assert_eq!(cs.len(), 1, "only the serving release remains: {cs:?}");
}

#[test]
fn an_image_that_exits_fails_at_once_and_one_that_degrades_fails_in_the_window() {
    let host = require_docker!();
    let w = World::new(host, "exit");
    let t = w.target(w.settings(w.port, json!({})));
    let start = Instant::now();
    let crash = w.deploy(&t, "autosd-test/crash:latest");
    match &crash.outcome {
        Outcome::GateFailed {
            failure: GateFailure::Failed(why),
            previous_serving: false,
        } => {
            assert!(why.contains("exited with 3"), "{why}")
        }
        other => panic!("expected an exit failure, got {other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "no waiting for the deadline"
    );

    let slow = w.target(w.settings(
        w.port,
        json!({"health": {"http": {"port": 8080, "path": "/health"},
        "stability_window": "6s", "interval": "250ms", "ready_timeout": "20s"}}),
    ));
    let degrading = w.deploy(&slow, "autosd-test/web:degrading");
    assert!(
        matches!(
            degrading.outcome,
            Outcome::GateFailed {
                failure: GateFailure::Unstable(_),
                ..
            }
        ),
        "{:?}",
        degrading.outcome
    );
    assert!(w.containers().is_empty(), "{:?}", w.containers());
}

#[test]
fn promote_runs_the_identical_digest_and_refuses_a_failed_source() {
    let host = require_docker!();
    let w = World::new(host, "promote");
    let staging = w.target(w.settings(w.port, json!({})));
    let prod_port = free_port();
    let prod = w.target(w.settings(prod_port, json!({})));
    let s = w.deploy(&staging, "autosd-test/web:v2");
    assert!(healthy(&s));
    let p = w
        .run(
            &prod,
            "prod",
            Operation::Promote {
                from_env: "staging".into(),
            },
        )
        .expect("promote");
    assert!(healthy(&p), "{:?}", p.outcome);
    assert_eq!(p.plan.release.digest, s.plan.release.digest);
    assert_eq!(http_get(prod_port, "/").as_deref(), Some("autosd-test web v2\n"));

    w.deploy(&staging, "autosd-test/unhealthy:latest");
    let err = w
        .run(
            &prod,
            "prod",
            Operation::Promote {
                from_env: "staging".into(),
            },
        )
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::PromoteRefused);
}

#[test]
fn a_held_lock_names_its_holder_and_a_dead_holder_is_broken() {
    let host = require_docker!();
    let w = World::new(host, "lock");
    let t = w.target(w.settings(w.port, json!({})));
    let scope = w.scope("staging");
    let mut other = holder();
    other.who = "user someone-else".into();
    let (guard, _) = t.lock(&scope, &other, Duration::ZERO).expect("first lock");
    let req = w.request("staging", &t);
    let op = Operation::Deploy {
        image: "autosd-test/web:v1".into(),
    };
    let start = Instant::now();
    let err = execute(
        &t,
        &w.ledgers,
        &op,
        &req,
        &holder(),
        Duration::from_secs(1),
        &mut Quiet,
    )
    .expect_err("locked");
    assert_eq!(err.code, ErrorCode::LockHeld);
    assert!(err.message.contains("someone-else"), "{}", err.message);
    assert!(start.elapsed() >= Duration::from_secs(1), "it waited --lock-wait");
    assert_eq!(
        t.lock_holder(&scope).expect("holder").map(|h| h.who),
        Some("user someone-else".into())
    );
    guard.release().expect("release");
    assert_eq!(t.lock_holder(&scope).expect("holder"), None);

    // A holder that died on this host (a SIGKILLed autosd) leaves a stale lock.
    let mut child = Command::new("true").spawn().expect("spawn");
    let dead_pid = child.id();
    child.wait().expect("wait");
    let mut dead = holder();
    dead.pid = dead_pid;
    let (_leaked, _) = t.lock(&scope, &dead, Duration::ZERO).expect("lock");
    let done = w.deploy(&t, "autosd-test/web:v1");
    assert!(healthy(&done));
    assert!(done.notes.iter().any(|n| n.contains("stale")), "{:?}", done.notes);
    assert_eq!(
        t.lock_holder(&scope).expect("holder"),
        None,
        "released after the deploy"
    );
}

#[test]
fn two_concurrent_deploys_serialise_on_the_lock() {
    let host = require_docker!();
    let w = Arc::new(World::new(host, "race"));
    let results: Vec<_> = (0..2)
        .map(|i| {
            let w = w.clone();
            std::thread::spawn(move || {
                let t = w.target(w.settings(w.port, json!({})));
                let image = if i == 0 {
                    "autosd-test/web:v1"
                } else {
                    "autosd-test/web:v2"
                };
                let req = w.request("staging", &t);
                let op = Operation::Deploy { image: image.into() };
                execute(&t, &w.ledgers, &op, &req, &holder(), Duration::ZERO, &mut Quiet).map(|e| healthy(&e))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let locked: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok, 1, "{results:?}");
    assert_eq!(locked.len(), 1, "{results:?}");
    assert_eq!(locked[0].code, ErrorCode::LockHeld);
    assert!(locked[0].message.contains("user it"), "{}", locked[0].message);
}

#[test]
fn an_interrupted_deploy_is_recovered_by_the_next_one() {
    let host = require_docker!();
    let w = World::new(host, "recover");
    let t = w.target(w.settings(w.port, json!({})));
    assert!(healthy(&w.deploy(&t, "autosd-test/web:v1")));
    // What a SIGKILL between "record pending" and the switch leaves: a pending ledger entry
    // and its candidate container.
    let scope = w.scope("staging");
    let mut ledger = w.ledgers.read(&scope).expect("ledger");
    let mut orphan = ledger.releases.remove(0);
    orphan.id = "rkilled".into();
    w.ledgers
        .append(&scope, &autosd::deploy::ledger::LedgerLineV1::started(1, &orphan))
        .expect("append");
    let name = format!("autosd-{}-staging-rkilled-candidate", w.project);
    let labels = [
        "io.autosd.managed=true".to_string(),
        format!("io.autosd.project={}", w.project),
        "io.autosd.env=staging".into(),
        "io.autosd.release=rkilled".into(),
        "io.autosd.role=candidate".into(),
    ];
    let mut args = vec!["run", "-d", "--name", &name];
    for l in &labels {
        args.extend(["--label", l.as_str()]);
    }
    args.push("autosd-test/web:v2");
    docker_cli(&w.host, &args);
    let next = w.deploy(&t, "autosd-test/web:v2");
    assert!(healthy(&next), "{:?}", next.outcome);
    assert!(
        next.notes.iter().any(|n| n.contains("rkilled")),
        "{:?}",
        next.notes
    );
    assert!(
        !w.containers().iter().any(|c| c.contains("rkilled")),
        "{:?}",
        w.containers()
    );
    assert_eq!(
        w.ledgers
            .read(&scope)
            .expect("ledger")
            .find("rkilled")
            .map(|r| r.verdict),
        Some(Verdict::Failed)
    );
}

#[test]
fn clear_errors_and_nothing_left_behind() {
    let host = require_docker!();
    let w = World::new(host, "errors");
    let settings = w.settings(w.port, json!({}));

    let gone = DockerTarget::connect(
        Some("unix:///nonexistent/docker.sock"),
        settings.clone(),
        autosd::context::unix_now,
    );
    assert_eq!(gone.err().map(|e| e.code), Some(ErrorCode::DockerUnreachable));
    let refused = DockerTarget::connect(
        Some(&format!("tcp://127.0.0.1:{}", free_port())),
        settings.clone(),
        autosd::context::unix_now,
    );
    assert_eq!(refused.err().map(|e| e.code), Some(ErrorCode::DockerUnreachable));

    let t = w.target(settings);
    let err = w
        .run(
            &t,
            "staging",
            Operation::Deploy {
                image: "autosd-test/nope:missing".into(),
            },
        )
        .expect_err("missing");
    assert_eq!(err.code, ErrorCode::ImageNotFound, "{}", err.message);

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let t = w.target(w.settings(port, json!({})));
    let err = w
        .run(
            &t,
            "staging",
            Operation::Deploy {
                image: "autosd-test/web:v1".into(),
            },
        )
        .expect_err("port");
    assert_eq!(err.code, ErrorCode::PortInUse, "{}", err.message);
    assert!(err.message.contains(&port.to_string()), "{}", err.message);
    assert!(
        w.containers().is_empty(),
        "nothing left behind: {:?}",
        w.containers()
    );
    assert_eq!(t.lock_holder(&w.scope("staging")).expect("holder"), None);
    let ledger = w.ledgers.read(&w.scope("staging")).expect("ledger");
    assert!(
        ledger.releases.iter().all(|r| r.verdict == Verdict::Failed),
        "{:?}",
        ledger.releases
    );
}
