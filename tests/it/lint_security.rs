//! Black-box tests of the security rules of `autosd ci lint-workflows`: their `--fix` edits
//! (workflow-level `permissions:`, `persist-credentials: false`) keep comments and untouched
//! lines, and their severities drive the exit code.
use crate::common::autosd;

const WORKFLOW: &str = "# CI for the project\nname: ci\non: [push]\n\n# the jobs\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4 # fetch the code\n      - run: make\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - name: checkout\n        uses: actions/checkout@v4\n        with:\n          fetch-depth: 0\n      - run: make test\n";

fn repo(workflow: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).expect("mkdir");
    std::fs::write(wf.join("ci.yml"), workflow).expect("write");
    dir
}

fn rules_found(dir: &std::path::Path) -> (i32, String) {
    let out = autosd(dir)
        .current_dir(dir)
        .args([
            "ci",
            "lint-workflows",
            "--format",
            "oneline",
            "--min-severity",
            "note",
        ])
        .output()
        .expect("runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
    )
}

#[test]
fn fix_adds_read_only_permissions_and_turns_off_persisted_credentials() {
    let dir = repo(WORKFLOW);
    let (code, before) = rules_found(dir.path());
    assert_eq!(code, 1, "{before}");
    assert_eq!(before.matches("[missing-permissions]").count(), 2, "{before}");
    assert_eq!(before.matches("[persist-credentials]").count(), 2, "{before}");

    autosd(dir.path())
        .current_dir(dir.path())
        .args(["ci", "lint-workflows", "--fix"])
        .assert()
        .code(0);
    let fixed = std::fs::read_to_string(dir.path().join(".github/workflows/ci.yml")).expect("read");
    let expected = "# CI for the project\nname: ci\non: [push]\n\npermissions:\n  contents: read\n\n# the jobs\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4 # fetch the code\n        with:\n          persist-credentials: false\n      - run: make\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - name: checkout\n        uses: actions/checkout@v4\n        with:\n          fetch-depth: 0\n          persist-credentials: false\n      - run: make test\n";
    assert_eq!(fixed, expected);
    let (_, after) = rules_found(dir.path());
    assert!(
        !after.contains("[missing-permissions]") && !after.contains("[persist-credentials]"),
        "{after}"
    );
}

#[test]
fn error_findings_fail_the_run_and_warnings_pass_at_error_level() {
    let pwn = "on: pull_request_target\npermissions:\n  contents: read\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n          persist-credentials: false\n      - run: npm ci && npm test\n";
    let dir = repo(pwn);
    let out = autosd(dir.path())
        .current_dir(dir.path())
        .args([
            "ci",
            "lint-workflows",
            "--format",
            "oneline",
            "--min-severity",
            "error",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(".github/workflows/ci.yml:10:16:") && stdout.contains("[untrusted-checkout]"),
        "{stdout}"
    );

    let warn_only =
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n";
    let dir = repo(warn_only);
    autosd(dir.path())
        .current_dir(dir.path())
        .args(["ci", "lint-workflows", "--min-severity", "error"])
        .assert()
        .code(0);
}
