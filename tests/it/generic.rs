//! The generic_container target with the scripts in tests/fixtures/generic and a local HTTP
//! server whose health follows what the scripts "deployed".
use crate::common::user_request;
use autosd::deploy::execute::{DirLedgers, LedgerIo, Operation, execute};
use autosd::deploy::generic::GenericTarget;
use autosd::deploy::health::GateFailure;
use autosd::deploy::release::{Scope, Verdict};
use autosd::deploy::settings::GenericSettings;
use autosd::deploy::target::{LockHolder, Outcome, Quiet, Target};
use autosd::error::ErrorCode;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/generic")
        .join(name)
        .display()
        .to_string()
}

/// Serves `GET /health`: 200 while `<state>/current` names an image without "bad", else 503.
pub(crate) struct Platform {
    pub(crate) port: u16,
    stop: Arc<AtomicBool>,
}

impl Platform {
    pub(crate) fn start(state: PathBuf) -> Platform {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf);
                        let current = std::fs::read_to_string(state.join("current")).unwrap_or_default();
                        let status = if current.is_empty() || current.contains("bad") {
                            "503 Unavailable"
                        } else {
                            "200 OK"
                        };
                        let _ = write!(
                            s,
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Platform { port, stop }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct World {
    dir: tempfile::TempDir,
    platform: Platform,
    ledgers: DirLedgers,
    n: std::cell::Cell<u32>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
        let platform = Platform::start(dir.path().join("state"));
        let ledgers = DirLedgers {
            root: dir.path().join("home"),
        };
        World {
            dir,
            platform,
            ledgers,
            n: std::cell::Cell::new(0),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn target(&self) -> GenericTarget {
        let t = autosd::config::TargetSettings::from_json(
            json!({"generic_container": {
                "deploy": [fixture("deploy.sh")],
                "status": [fixture("status.sh")],
                "rollback": [fixture("rollback.sh")],
                "timeout": "10s",
                "env": {"STATE_DIR": self.state().display().to_string()},
                "health": {"http": {"url": format!("http://127.0.0.1:{}/health", self.platform.port)},
                           "ready_timeout": "2s", "stability_window": "300ms", "interval": "100ms"}
            }}),
            0,
        );
        GenericTarget {
            settings: GenericSettings::from_target(&t, "staging").expect("settings"),
            workdir: self.dir.path().to_path_buf(),
            lock_dir: self.dir.path().join("home/locks"),
            now: autosd::context::unix_now,
        }
    }

    fn run(
        &self,
        t: &GenericTarget,
        op: Operation,
    ) -> autosd::error::Result<autosd::deploy::execute::Executed> {
        self.n.set(self.n.get() + 1);
        let req = user_request(
            Scope::new("shop", "staging"),
            t,
            format!("r{}", self.n.get()),
            t.settings.gate,
            5,
        );
        execute(
            t,
            &self.ledgers,
            &op,
            &req,
            &holder(std::process::id()),
            Duration::ZERO,
            &mut Quiet,
        )
    }

    fn current(&self) -> String {
        std::fs::read_to_string(self.state().join("current"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

fn holder(pid: u32) -> LockHolder {
    let now = autosd::context::unix_now();
    LockHolder {
        who: "user it".into(),
        host: autosd::deploy::target::this_host(),
        pid,
        operation: "deploy".into(),
        acquired: now,
        expires: now + 600,
    }
}

fn deploy(image: &str) -> Operation {
    Operation::Deploy { image: image.into() }
}

#[test]
fn generic_deploy_status_and_rollback_through_scripts() {
    let w = World::new();
    let t = w.target();
    let v1 = w.run(&t, deploy("shop@sha256:aaa")).expect("v1");
    assert!(matches!(v1.outcome, Outcome::Healthy { .. }), "{:?}", v1.outcome);
    assert_eq!(v1.plan.release.digest, "sha256:aaa");
    let v2 = w.run(&t, deploy("shop@sha256:bbb")).expect("v2");
    assert!(matches!(v2.outcome, Outcome::Healthy { .. }), "{:?}", v2.outcome);
    let running = t
        .current(&Scope::new("shop", "staging"))
        .expect("status")
        .expect("running");
    assert_eq!(running.unit, "shop@sha256:bbb");
    assert!(t.health(&Scope::new("shop", "staging")).expect("health").healthy);

    let back = w.run(&t, Operation::Rollback { to: None }).expect("rollback");
    assert!(
        matches!(back.outcome, Outcome::Healthy { .. }),
        "{:?}",
        back.outcome
    );
    assert_eq!(w.current(), "shop@sha256:aaa");
    let log = std::fs::read_to_string(w.state().join("log")).expect("log");
    assert!(log.contains("rollback-script r3 sha256:aaa"), "{log}");
    let ledger = w.ledgers.read(&Scope::new("shop", "staging")).expect("ledger");
    let verdicts: Vec<_> = ledger.releases.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Healthy, Verdict::RolledBack, Verdict::Healthy]
    );
}

#[test]
fn generic_failed_probe_restores_the_previous_release() {
    let w = World::new();
    let t = w.target();
    w.run(&t, deploy("shop@sha256:good")).expect("good");
    let bad = w.run(&t, deploy("shop-bad@sha256:bad")).expect("ran");
    match &bad.outcome {
        Outcome::GateFailed {
            failure: GateFailure::NotReady(why),
            previous_serving: true,
        } => {
            assert!(why.contains("503"), "{why}")
        }
        other => panic!("expected a not-ready failure, got {other:?}"),
    }
    assert_eq!(bad.gate_error().map(|e| e.code), Some(ErrorCode::DeployFailed));
    assert_eq!(
        w.current(),
        "shop@sha256:good",
        "restored with the deploy command"
    );

    let refused = w.run(&t, deploy("shop-fail-deploy@sha256:x")).expect("ran");
    match &refused.outcome {
        Outcome::GateFailed {
            failure: GateFailure::Failed(why),
            ..
        } => {
            assert!(
                why.contains("exited 1") && why.contains("platform refused"),
                "{why}"
            )
        }
        other => panic!("expected a command failure, got {other:?}"),
    }
}

#[test]
fn generic_values_reach_commands_only_as_data() {
    let w = World::new();
    let t = w.target();
    let pwned = w.dir.path().join("pwned");
    let image = format!("shop:v1$(touch${{IFS}}{0});touch${{IFS}}{0}", pwned.display());
    let done = w.run(&t, deploy(&image)).expect("ran");
    assert!(
        matches!(done.outcome, Outcome::Healthy { .. }),
        "{:?}",
        done.outcome
    );
    assert!(!pwned.exists(), "a value became a command");
    assert_eq!(w.current(), image, "the value arrived byte for byte");
    let err = w.run(&t, deploy("shop v1")).expect_err("whitespace");
    assert_eq!(err.code, ErrorCode::ImageNotFound);
}

#[test]
fn generic_lock_file_names_its_holder_and_breaks_when_stale() {
    let w = World::new();
    let t = w.target();
    let scope = Scope::new("shop", "staging");
    let mut other = holder(std::process::id());
    other.who = "user someone-else".into();
    let (guard, _) = t.lock(&scope, &other, Duration::ZERO).expect("lock");
    let err = w.run(&t, deploy("shop@sha256:a")).expect_err("locked");
    assert_eq!(err.code, ErrorCode::LockHeld);
    assert!(err.message.contains("someone-else"), "{}", err.message);
    guard.release().expect("release");

    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let (_leaked, _) = t.lock(&scope, &holder(dead), Duration::ZERO).expect("lock");
    let done = w.run(&t, deploy("shop@sha256:a")).expect("stale lock broken");
    assert!(done.notes.iter().any(|n| n.contains("stale")), "{:?}", done.notes);
    assert!(t.break_lock(&scope).is_ok());
}
