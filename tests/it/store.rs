//! The state stores against real backends: the git store against a real bare repository in
//! a temp dir (two "clones" = two autosd homes with their own caches), and the local store.
use autosd::audit::record::RecordActor;
use autosd::audit::verify::verify;
use autosd::audit::{AuditEvent, AuditLog, Phase};
use autosd::error::ErrorCode;
use autosd::store::git::GitStore;
use autosd::store::local::LocalStore;
use autosd::store::{Change, Key, Store};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh bare repository; returns its path as the remote URL.
fn bare_remote(dir: &Path) -> String {
    let remote = dir.join("state.git");
    git(
        dir,
        &["init", "--bare", "--quiet", remote.to_str().expect("utf8 path")],
    );
    remote.to_string_lossy().into_owned()
}

fn key(k: &str) -> Key {
    Key::new(k).expect("key")
}

#[test]
fn two_clones_writing_at_once_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let laptop = GitStore::open(&dir.path().join("laptop"), &remote, "autosd-state").expect("open");
    let runner = GitStore::open(&dir.path().join("runner"), &remote, "autosd-state").expect("open");
    const N: usize = 8;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..N {
                let body = format!("{{\"halted\":true,\"n\":{i}}}");
                laptop
                    .update(&key("halt/p.json"), &mut |_| {
                        Ok(Change::Put(body.clone().into_bytes()))
                    })
                    .expect("halt");
                laptop
                    .append(&key("ledger/p/prod.jsonl"), format!("laptop-{i}").as_bytes())
                    .expect("append");
            }
        });
        s.spawn(|| {
            for i in 0..N {
                runner
                    .append(&key("ledger/p/prod.jsonl"), format!("runner-{i}").as_bytes())
                    .expect("append");
                runner
                    .append(&key("incidents/p.jsonl"), format!("incident-{i}").as_bytes())
                    .expect("append");
            }
        });
    });
    let fresh = GitStore::open(&dir.path().join("fresh"), &remote, "autosd-state").expect("open");
    let ledger = String::from_utf8(
        fresh
            .read(&key("ledger/p/prod.jsonl"))
            .expect("read")
            .expect("exists"),
    )
    .expect("utf8");
    let lines: Vec<&str> = ledger.lines().collect();
    assert_eq!(lines.len(), 2 * N, "{ledger}");
    for i in 0..N {
        assert!(lines.contains(&format!("laptop-{i}").as_str()));
        assert!(lines.contains(&format!("runner-{i}").as_str()));
    }
    // each writer's own lines stay in the order it wrote them
    let laptop_order: Vec<&&str> = lines.iter().filter(|l| l.starts_with("laptop-")).collect();
    assert_eq!(laptop_order.first().map(|s| **s), Some("laptop-0"));
    let incidents = fresh
        .read(&key("incidents/p.jsonl"))
        .expect("read")
        .expect("exists");
    assert_eq!(incidents.iter().filter(|&&b| b == b'\n').count(), N);
    let halt = fresh.read(&key("halt/p.json")).expect("read").expect("exists");
    assert_eq!(halt, format!("{{\"halted\":true,\"n\":{}}}", N - 1).into_bytes());
}

#[test]
fn a_halt_pushed_from_one_clone_is_seen_by_the_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let laptop = GitStore::open(&dir.path().join("laptop"), &remote, "autosd-state").expect("open");
    let runner = GitStore::open(&dir.path().join("runner"), &remote, "autosd-state").expect("open");
    assert_eq!(runner.read(&key("halt/p.json")).expect("read"), None);
    laptop
        .update(&key("halt/p.json"), &mut |_| {
            Ok(Change::Put(b"{\"halted\":true}".to_vec()))
        })
        .expect("halt");
    assert_eq!(
        runner.read(&key("halt/p.json")).expect("read").as_deref(),
        Some(&b"{\"halted\":true}"[..])
    );
}

#[test]
fn update_closure_sees_the_value_another_clone_wrote_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let a = GitStore::open(&dir.path().join("a"), &remote, "autosd-state").expect("open");
    let b = GitStore::open(&dir.path().join("b"), &remote, "autosd-state").expect("open");
    let counter = key("counter");
    let bump = |s: &GitStore| {
        s.update(&counter, &mut |old| {
            let n: u64 = old
                .and_then(|o| std::str::from_utf8(o).ok()?.parse().ok())
                .unwrap_or(0);
            Ok(Change::Put((n + 1).to_string().into_bytes()))
        })
        .expect("bump");
    };
    std::thread::scope(|s| {
        s.spawn(|| (0..8).for_each(|_| bump(&a)));
        s.spawn(|| (0..8).for_each(|_| bump(&b)));
    });
    assert_eq!(a.read(&counter).expect("read").as_deref(), Some(&b"16"[..]));
}

#[test]
fn unreachable_remote_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-repo.git");
    let store = GitStore::open(dir.path(), missing.to_str().expect("utf8"), "autosd-state").expect("open");
    let err = store.read(&key("halt/p.json")).expect_err("unreachable");
    assert_eq!(err.code, ErrorCode::StateUnreachable);
    assert!(
        err.message.contains("cannot reach the git state remote"),
        "{}",
        err.message
    );
    let mut called = false;
    let err = store
        .update(&key("halt/p.json"), &mut |_| {
            called = true;
            Ok(Change::Put(b"x".to_vec()))
        })
        .expect_err("unreachable");
    assert_eq!(err.code, ErrorCode::StateUnreachable);
    assert!(
        !called,
        "the change must not even be computed without the current state"
    );
}

#[test]
fn credentials_in_the_remote_url_never_reach_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = "http://x-access-token:ghs_SECRET123@127.0.0.1:9/o/r.git";
    let store = GitStore::open(dir.path(), url, "autosd-state").expect("open");
    assert!(!store.describe().contains("SECRET123"));
    let err = store
        .read(&key("halt/p.json"))
        .expect_err("nothing listens on port 9");
    assert_eq!(err.code, ErrorCode::StateUnreachable);
    let shown = format!("{} {:?}", err.message, err.hints);
    assert!(!shown.contains("SECRET123"), "{shown}");
}

#[test]
fn a_branch_without_the_marker_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    git(&work, &["init", "--quiet", "-b", "autosd-state"]);
    std::fs::write(work.join("README"), "not autosd state\n").expect("write");
    git(&work, &["add", "README"]);
    git(&work, &["commit", "--quiet", "-m", "unrelated"]);
    git(&work, &["push", "--quiet", &remote, "autosd-state"]);
    let store = GitStore::open(&dir.path().join("home"), &remote, "autosd-state").expect("open");
    let err = store.read(&key("halt/p.json")).expect_err("corrupt");
    assert_eq!(err.code, ErrorCode::StateCorrupt);
    assert!(err.message.contains("marker"), "{}", err.message);
    let err = store
        .append(&key("ledger/p/prod.jsonl"), b"x")
        .expect_err("refuses to write on a foreign branch");
    assert_eq!(err.code, ErrorCode::StateCorrupt);
}

#[test]
fn a_branch_with_non_file_entries_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let home = dir.path().join("home");
    let store = GitStore::open(&home, &remote, "autosd-state").expect("open");
    store.append(&key("ledger/p/prod.jsonl"), b"ok").expect("append");
    // someone pushes a symlink into the state branch
    let work = dir.path().join("work");
    git(
        dir.path(),
        &[
            "clone",
            "--quiet",
            "-b",
            "autosd-state",
            &remote,
            work.to_str().expect("utf8"),
        ],
    );
    std::os::unix::fs::symlink("/etc/passwd", work.join("revocations.json")).expect("symlink");
    git(&work, &["add", "revocations.json"]);
    git(&work, &["commit", "--quiet", "-m", "evil"]);
    git(&work, &["push", "--quiet", "origin", "autosd-state"]);
    let err = store.read(&key("revocations.json")).expect_err("corrupt");
    assert_eq!(err.code, ErrorCode::StateCorrupt);
    assert!(err.message.contains("not a plain file"), "{}", err.message);
}

#[test]
fn shared_audit_log_on_the_git_branch_stays_one_valid_chain_under_concurrency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let open = |name: &str| -> AuditLog {
        let store = GitStore::open(&dir.path().join(name), &remote, "autosd-state").expect("open");
        AuditLog::in_store(Box::new(store), RecordActor::User { name: name.into() }).expect("log")
    };
    let (a, b) = (open("a"), open("b"));
    std::thread::scope(|s| {
        s.spawn(|| {
            (0..6).for_each(|_| drop(a.append(&AuditEvent::new("halt", Phase::Intent)).expect("append")))
        });
        s.spawn(|| {
            (0..6).for_each(|_| {
                drop(
                    b.append(&AuditEvent::new("deploy", Phase::Intent))
                        .expect("append"),
                )
            })
        });
    });
    let report = verify(&a.read_all().expect("read"), None);
    assert_eq!(report.finding, None);
    assert_eq!(report.records, 12);
    assert_eq!(a.head().expect("head"), (12, report.head));
}

#[test]
fn local_store_keeps_appends_from_concurrent_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&dir.path().join("state")).expect("open");
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = &store;
            s.spawn(move || {
                for i in 0..50 {
                    store
                        .append(&key("ledger/p/dev.jsonl"), format!("{t}-{i}").as_bytes())
                        .expect("append");
                }
            });
        }
    });
    let bytes = store
        .read(&key("ledger/p/dev.jsonl"))
        .expect("read")
        .expect("exists");
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 200);
}

/// A project directory with `autosd init --project p` done, under `home`.
fn project(home: &Path) -> std::path::PathBuf {
    let repo = home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    crate::common::autosd(home)
        .current_dir(&repo)
        .args(["init", "--project", "p"])
        .assert()
        .code(0);
    repo
}

#[test]
fn cli_halt_from_a_laptop_is_seen_by_a_fresh_runner_through_the_git_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let laptop = dir.path().join("laptop");
    let runner = dir.path().join("runner");
    let (laptop_repo, runner_repo) = (project(&laptop), project(&runner));
    let state = ["--state", "git", "--state-remote", remote.as_str()];
    crate::common::autosd(&laptop)
        .current_dir(&laptop_repo)
        .args(["halt", "--project", "p", "--reason", "incident 42"])
        .args(state)
        .assert()
        .code(0);
    let out = crate::common::autosd(&runner)
        .current_dir(&runner_repo)
        .args(["status", "--project", "p", "--output", "json"])
        .args(state)
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("incident 42"), "{text}");
    // the runner's own local state knows nothing: the halt came through the branch
    assert!(!runner.join("state/halt/p.json").exists());
}

#[test]
fn cli_unreachable_state_remote_is_a_clear_error_and_nothing_proceeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let repo = project(&home);
    let missing = dir.path().join("missing.git");
    let out = crate::common::autosd(&home)
        .current_dir(&repo)
        .args(["halt", "--project", "p", "--state", "git", "--state-remote"])
        .arg(&missing)
        .assert()
        .code(i32::from(ErrorCode::StateUnreachable.exit_code()));
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("AUTOSD-STATE-UNREACHABLE") && err.contains("cannot reach"),
        "{err}"
    );
    assert!(!home.join("state/halt/p.json").exists());
    crate::common::autosd(&home)
        .current_dir(&repo)
        .args([
            "resume",
            "--project",
            "p",
            "--force",
            "--state",
            "git",
            "--state-remote",
        ])
        .arg(&missing)
        .assert()
        .code(i32::from(ErrorCode::StateUnreachable.exit_code()));
}

#[test]
fn cli_corrupt_state_branch_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    git(&work, &["init", "--quiet", "-b", "autosd-state"]);
    std::fs::create_dir(work.join("halt")).expect("mkdir");
    std::fs::write(work.join("halt/p.json"), "{\"halted\":false}").expect("write");
    git(&work, &["add", "halt/p.json"]);
    git(&work, &["commit", "--quiet", "-m", "hand-made"]);
    git(&work, &["push", "--quiet", &remote, "autosd-state"]);
    let home = dir.path().join("home");
    let repo = project(&home);
    let out = crate::common::autosd(&home)
        .current_dir(&repo)
        .args([
            "status",
            "--project",
            "p",
            "--state",
            "git",
            "--state-remote",
            remote.as_str(),
        ])
        .assert()
        .code(i32::from(ErrorCode::StateCorrupt.exit_code()));
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("AUTOSD-STATE-CORRUPT") && err.contains("autosd-state"),
        "{err}"
    );
}

#[test]
fn cli_audit_verify_and_show_read_the_shared_log_on_the_state_branch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bare_remote(dir.path());
    let home = dir.path().join("home");
    let repo = project(&home);
    for reason in ["one", "two"] {
        crate::common::autosd(&home)
            .current_dir(&repo)
            .args([
                "halt",
                "--project",
                "p",
                "--reason",
                reason,
                "--state",
                "git",
                "--state-remote",
            ])
            .arg(&remote)
            .assert()
            .code(0);
    }
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let out = crate::common::autosd(&elsewhere)
        .args(["audit", "verify", "--output", "json", "--state-remote"])
        .arg(&remote)
        .assert()
        .code(0);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["records"], 2);
    let out = crate::common::autosd(&elsewhere)
        .args(["audit", "show", "--output", "json", "--state-remote"])
        .arg(&remote)
        .assert()
        .code(0);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(doc["records"][1]["op"], "halt");
    crate::common::autosd(&elsewhere)
        .args(["audit", "verify", "--state-remote"])
        .arg(dir.path().join("missing.git"))
        .assert()
        .code(i32::from(ErrorCode::StateUnreachable.exit_code()));
}
