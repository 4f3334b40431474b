//! The audit trail end to end: logs written through the library's real append path, then
//! checked with the built `autosd audit verify|show`, asserting exit codes.
use crate::common::autosd;
use autosd::audit::checkpoint::sign_current;
use autosd::audit::record::RecordActor;
use autosd::audit::verify::{Finding, verify};
use autosd::audit::{AuditEvent, AuditLog, Decision, Phase};
use autosd::error::ErrorCode;
use std::path::{Path, PathBuf};

const TAMPERED: i32 = 31;
const TORN: i32 = 32;
const CHECKPOINT_MISMATCH: i32 = 33;

fn log_path(home: &Path) -> PathBuf {
    home.join("audit.log.jsonl")
}

fn actor() -> RecordActor {
    RecordActor::User {
        name: "tester".into(),
    }
}

/// A home whose log holds `n` records from the real append path.
fn home_with_records(n: u64) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::at(&log_path(home.path()), actor());
    for i in 0..n {
        let project = if i % 2 == 0 { "alpha" } else { "beta" };
        let ev = AuditEvent::new("halt", Phase::Intent)
            .project(project)
            .env("prod")
            .decision(Decision::allow())
            .detail("i", &i.to_string());
        log.append(&ev).expect("append");
    }
    home
}

fn lines(home: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(log_path(home)).expect("read log");
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(home: &Path, lines: &[Vec<u8>]) {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    std::fs::write(log_path(home), out).expect("write log");
}

fn verify_stderr(home: &Path, code: i32) -> String {
    let out = autosd(home).args(["audit", "verify"]).assert().code(code);
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn intact_log_verifies() {
    let home = home_with_records(4);
    let out = autosd(home.path()).args(["audit", "verify"]).assert().code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("4 record(s)"));
}

#[test]
fn flipping_any_byte_of_any_record_fails_at_that_seq() {
    let home = home_with_records(4);
    let original = std::fs::read(log_path(home.path())).expect("read");
    let mut start = 0;
    for (i, line) in lines(home.path()).iter().enumerate() {
        let seq = i as u64 + 1;
        // every byte of the record, its newline included, flipped two different ways
        for pos in start..start + line.len() + 1 {
            for mask in [0x01u8, 0x20] {
                let mut bytes = original.clone();
                bytes[pos] ^= mask;
                match verify(&bytes, None).finding {
                    Some(Finding::Tampered { seq: s, .. }) => assert_eq!(s, seq, "byte {pos} ^ {mask:#x}"),
                    other => panic!("byte {pos} ^ {mask:#x} of seq {seq}: {other:?}"),
                }
            }
        }
        start += line.len() + 1;
    }
    // and the CLI reports the same seq with the tampering exit code
    let mut bytes = original.clone();
    let second = lines(home.path())[0].len() + 1 + 30;
    bytes[second] ^= 0x01;
    std::fs::write(log_path(home.path()), bytes).expect("write");
    let err = verify_stderr(home.path(), TAMPERED);
    assert!(
        err.contains("AUTOSD-AUDIT-TAMPERED") && err.contains("at seq 2"),
        "{err}"
    );
}

#[test]
fn deleting_a_line_fails() {
    let home = home_with_records(5);
    let mut l = lines(home.path());
    l.remove(2);
    write_lines(home.path(), &l);
    assert!(verify_stderr(home.path(), TAMPERED).contains("at seq 3"));
}

#[test]
fn reordering_lines_fails() {
    let home = home_with_records(5);
    let mut l = lines(home.path());
    l.swap(1, 2);
    write_lines(home.path(), &l);
    assert!(verify_stderr(home.path(), TAMPERED).contains("at seq 2"));
}

#[test]
fn inserting_a_line_fails() {
    let home = home_with_records(5);
    // a well-formed record from another actor's log, with the right seq for its new place
    let other = tempfile::tempdir().expect("tempdir");
    let intruder = AuditLog::at(
        &log_path(other.path()),
        RecordActor::User {
            name: "mallory".into(),
        },
    );
    for _ in 0..4 {
        intruder
            .append(&AuditEvent::new("deploy", Phase::Intent))
            .expect("append");
    }
    let mut l = lines(home.path());
    l.insert(3, lines(other.path())[3].clone());
    write_lines(home.path(), &l);
    assert!(verify_stderr(home.path(), TAMPERED).contains("at seq 4"));
}

#[test]
fn truncating_the_tail_passes_alone_but_fails_against_the_last_checkpoint() {
    let home = home_with_records(6);
    let log = AuditLog::at(&log_path(home.path()), actor());
    let signed = sign_current(home.path(), &log, "local").expect("checkpoint");
    let cp = home.path().join("checkpoint.txt");
    std::fs::write(&cp, signed.human()).expect("write checkpoint");
    autosd(home.path())
        .args(["audit", "verify", "--checkpoint"])
        .arg(&cp)
        .assert()
        .code(0);
    let mut l = lines(home.path());
    l.truncate(4);
    write_lines(home.path(), &l);
    autosd(home.path()).args(["audit", "verify"]).assert().code(0);
    let out = autosd(home.path())
        .args(["audit", "verify", "--checkpoint"])
        .arg(&cp)
        .assert()
        .code(CHECKPOINT_MISMATCH);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("truncated") && err.contains("at seq 5"), "{err}");
}

#[test]
fn half_written_last_line_is_a_torn_tail() {
    let home = home_with_records(3);
    let extra = home_with_records(4);
    let mut bytes = std::fs::read(log_path(home.path())).expect("read");
    let fourth = &lines(extra.path())[3];
    bytes.extend_from_slice(&fourth[..fourth.len() / 2]);
    std::fs::write(log_path(home.path()), bytes).expect("write");
    let err = verify_stderr(home.path(), TORN);
    assert!(
        err.contains("AUTOSD-AUDIT-TORN-TAIL") && err.contains("seq 4"),
        "{err}"
    );
}

#[test]
fn garbage_log_is_reported_as_tampered_not_a_crash() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(log_path(home.path()), b"this is not json\n").expect("write");
    assert!(verify_stderr(home.path(), TAMPERED).contains("at seq 1"));
    let out = autosd(home.path()).args(["audit", "show"]).assert().code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("1 line(s) could not be read"));
}

#[test]
fn checkpoint_from_another_home_is_refused() {
    let home = home_with_records(2);
    let other = home_with_records(2);
    let log = AuditLog::at(&log_path(other.path()), actor());
    let signed = sign_current(other.path(), &log, "local").expect("checkpoint");
    let cp = home.path().join("cp.txt");
    std::fs::write(&cp, &signed.envelope).expect("write");
    autosd(home.path())
        .args(["audit", "verify", "--checkpoint"])
        .arg(&cp)
        .assert()
        .code(CHECKPOINT_MISMATCH);
}

#[test]
fn show_filters_by_project_and_since_and_prints_json() {
    let home = home_with_records(4);
    let out = autosd(home.path())
        .args(["audit", "show", "--project", "beta", "--output", "json"])
        .assert()
        .code(0);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let records = doc["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["project"] == "beta"));
    assert_eq!(records[0]["seq"], 2);
    assert_eq!(doc["schema_version"], 1);
    let out = autosd(home.path())
        .args(["audit", "show", "--since", "2999-01-01T00:00:00Z"])
        .assert()
        .code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("no audit records"));
    let out = autosd(home.path())
        .args(["audit", "show", "--since", "1h"])
        .assert()
        .code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("alpha"));
    autosd(home.path())
        .args(["audit", "show", "--since", "yesterday-ish"])
        .assert()
        .code(i32::from(ErrorCode::Usage.exit_code()));
}

/// Set in the child processes of the concurrency test: the log to append to.
const WORKER_VAR: &str = "AUTOSD_IT_APPEND_WORKER";
const WORKERS: usize = 8;
const APPENDS_PER_WORKER: usize = 200;

/// 8 real processes (this test binary re-run with `WORKER_VAR` set) each append 200 records
/// through the library's append path at the same time; the result must be one contiguous,
/// valid chain.
#[test]
fn eight_processes_appending_at_once_keep_a_contiguous_valid_chain() {
    if let Ok(path) = std::env::var(WORKER_VAR) {
        let log = AuditLog::at(Path::new(&path), actor());
        for i in 0..APPENDS_PER_WORKER {
            let ev = AuditEvent::new("concurrency", Phase::Event).detail("i", &i.to_string());
            log.append(&ev).expect("append");
        }
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let path = log_path(home.path());
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..WORKERS)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "audit::eight_processes_appending_at_once_keep_a_contiguous_valid_chain",
                    "--exact",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(WORKER_VAR, &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a worker failed");
    }
    let bytes = std::fs::read(&path).expect("read");
    let report = verify(&bytes, None);
    assert_eq!(report.finding, None);
    assert_eq!(report.records, (WORKERS * APPENDS_PER_WORKER) as u64);
    autosd(home.path()).args(["audit", "verify"]).assert().code(0);
}

/// A repository with an initialised project `p` (local state), halted; returns (home, repo).
fn halted_project() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().expect("tempdir");
    let repo = home.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    autosd(home.path())
        .current_dir(&repo)
        .args(["init", "--project", "p"])
        .assert()
        .code(0);
    autosd(home.path())
        .current_dir(&repo)
        .args(["halt", "--project", "p", "--reason", "drill"])
        .assert()
        .code(0);
    (home, repo)
}

fn halt_record(home: &Path) -> Vec<u8> {
    std::fs::read(home.join("state/halt/p.json")).expect("halt record")
}

/// `resume` is privileged and audited: with the audit log unwritable it must refuse with
/// `AUTOSD-AUDIT-UNWRITABLE` and leave the project halted and the log untouched.
fn assert_resume_refused(home: &Path, repo: &Path) {
    let halt_before = halt_record(home);
    let out = autosd(home)
        .current_dir(repo)
        .args(["resume", "--project", "p", "--force"])
        .assert()
        .code(i32::from(ErrorCode::AuditUnwritable.exit_code()));
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        err.contains("AUTOSD-AUDIT-UNWRITABLE") && err.contains("not done"),
        "{err}"
    );
    assert_eq!(halt_record(home), halt_before, "the halt must stay as it was");
}

#[test]
fn read_only_log_makes_a_privileged_command_refuse_and_change_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let (home, repo) = halted_project();
    let log = log_path(home.path());
    let before = std::fs::read(&log).expect("log");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    assert_resume_refused(home.path(), &repo);
    assert_eq!(
        std::fs::read(&log).expect("log"),
        before,
        "the log must be untouched"
    );
    // once writable again, the same command goes through and the chain still verifies
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    autosd(home.path())
        .current_dir(&repo)
        .args(["resume", "--project", "p", "--force"])
        .assert()
        .code(0);
    autosd(home.path()).args(["audit", "verify"]).assert().code(0);
}

#[test]
fn full_log_makes_a_privileged_command_refuse_and_change_nothing() {
    let (home, repo) = halted_project();
    let log = log_path(home.path());
    // every write to /dev/full fails with ENOSPC: a log on a full disk
    std::fs::remove_file(&log).expect("rm");
    std::os::unix::fs::symlink("/dev/full", &log).expect("symlink");
    assert_resume_refused(home.path(), &repo);
}

#[test]
fn privileged_command_appends_its_checkpoint_to_the_step_summary_and_it_detects_truncation() {
    let (home, repo) = halted_project();
    let summary = home.path().join("step_summary.md");
    std::fs::write(&summary, "# earlier step\n").expect("write");
    let out = autosd(home.path())
        .current_dir(&repo)
        .args(["resume", "--project", "p", "--force"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("audit checkpoint: size=3"), "{stdout}");
    let text = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        text.starts_with("# earlier step\n"),
        "appended, not replaced: {text}"
    );
    assert!(
        text.contains("### autosd audit checkpoint") && text.contains("autosd.checkpoint."),
        "{text}"
    );
    // the step summary itself serves as the checkpoint file
    autosd(home.path())
        .args(["audit", "verify", "--checkpoint"])
        .arg(&summary)
        .assert()
        .code(0);
    let mut l = lines(home.path());
    l.pop();
    write_lines(home.path(), &l);
    autosd(home.path()).args(["audit", "verify"]).assert().code(0);
    autosd(home.path())
        .args(["audit", "verify", "--checkpoint"])
        .arg(&summary)
        .assert()
        .code(CHECKPOINT_MISMATCH);
}
