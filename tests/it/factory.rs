//! `autosd generate workflows`, `autosd verify-factory` and `autosd ci mirror`, black-box:
//! determinism, a clean checkout passing, a broken fixture failing the generator gate (named
//! in both reports), the mirror naming a failing stage and never recursing.
use crate::common::autosd;
use crate::github_api::{copy_tree, factory_copy};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("report exists")).expect("report is JSON")
}

/// `autosd ARGS…` with `dir` as the working directory and `env` added to the scrubbed one.
fn run_in(home: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = autosd(home);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs")
}

fn factory_report(repo: &Path) -> Value {
    read_json(&repo.join("verify_factory_report.json"))
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn generate_is_deterministic_and_matches_the_expected_fixture() {
    let repo = factory_copy();
    let home = tempfile::tempdir().expect("home");
    let project = repo.path().join("conformance/fixtures/basic/.autosd/config.yml");
    for out in ["one", "two"] {
        let o = autosd(home.path())
            .args(["generate", "workflows", "--project-file"])
            .arg(&project)
            .arg("--out")
            .arg(repo.path().join(out))
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let one = files_of(&repo.path().join("one"));
    assert_eq!(one.len(), 4);
    assert_eq!(one, files_of(&repo.path().join("two")), "byte-identical re-run");
    assert_eq!(one, files_of(&repo.path().join("conformance/expected/basic")));
    // A re-run into the same directory rewrites nothing.
    let again = autosd(home.path())
        .args(["--output", "json", "generate", "workflows", "--project-file"])
        .arg(&project)
        .arg("--out")
        .arg(repo.path().join("one"))
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&again.stdout).expect("json");
    assert!(
        doc["files"]
            .as_array()
            .expect("files")
            .iter()
            .all(|f| f["changed"] == false),
        "{doc}"
    );
}

#[test]
fn generate_defaults_to_the_project_of_the_current_directory() {
    let repo = factory_copy();
    let home = tempfile::tempdir().expect("home");
    let project = repo.path().join("proj");
    copy_tree(&repo.path().join("conformance/fixtures/single-prod"), &project);
    let sub = project.join("src");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let o = run_in(home.path(), &sub, &["generate", "workflows"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        files_of(&project.join(".github/workflows")),
        files_of(&repo.path().join("conformance/expected/single-prod"))
    );
}

#[test]
fn generate_reports_every_bad_setting() {
    let home = tempfile::tempdir().expect("home");
    let dir = home.path().join("p/.autosd");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("config.yml"), "version: 1\nproject: p\n").expect("write");
    std::fs::write(
        dir.join("workflows.yml"),
        "action: autosd/autosd@v1\nruns_on: \"${{ github.event.issue.title }}\"\n",
    )
    .expect("write");
    let o = run_in(
        home.path(),
        &home.path().join("p"),
        &["generate", "workflows"],
        &[],
    );
    assert_eq!(o.status.code(), Some(82));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("AUTOSD-GENERATOR-INPUT-INVALID"), "{stderr}");
    assert!(
        stderr.contains("action `autosd/autosd@v1`") && stderr.contains("runs_on"),
        "{stderr}"
    );
    assert!(!home.path().join("p/.github").exists(), "nothing written");
}

#[test]
fn verify_factory_passes_on_a_clean_checkout() {
    let repo = factory_copy();
    let home = tempfile::tempdir().expect("home");
    let summary = repo.path().join("summary.md");
    let outputs = repo.path().join("outputs");
    let o = run_in(
        home.path(),
        repo.path(),
        &["verify-factory", "--no-mirror"],
        &[
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8")),
            ("GITHUB_OUTPUT", outputs.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let report = factory_report(repo.path());
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["passed"], true);
    let names: Vec<&str> = report["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .map(|g| g["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["generator", "lint", "ci-mirror"]);
    let conformance = read_json(&repo.path().join("conformance/report.json"));
    assert_eq!(conformance["passed"], true);
    assert_eq!(conformance["cases"].as_array().expect("cases").len(), 3);
    let md = std::fs::read_to_string(&summary).expect("summary written");
    assert!(
        md.contains("| generator | pass |") && md.contains("```mermaid"),
        "{md}"
    );
    let outs = std::fs::read_to_string(&outputs).expect("outputs written");
    assert!(
        outs.starts_with("status<<ghadelimiter_") && outs.contains("\nsuccess\n"),
        "{outs}"
    );
}

#[test]
fn a_broken_fixture_fails_the_generator_gate_in_both_reports() {
    let repo = factory_copy();
    let home = tempfile::tempdir().expect("home");
    let expected = repo.path().join("conformance/expected/basic/autosd-heal.yml");
    let text = std::fs::read_to_string(&expected).expect("read");
    std::fs::write(&expected, text.replace("*/5 * * * *", "*/10 * * * *")).expect("break it");
    let o = run_in(home.path(), repo.path(), &["verify-factory", "--no-mirror"], &[]);
    assert_eq!(o.status.code(), Some(80));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("AUTOSD-FACTORY-GATE-FAILED") && stderr.contains("generator"),
        "{stderr}"
    );
    let report = factory_report(repo.path());
    assert_eq!(report["passed"], false);
    assert_eq!(report["failing_gates"], serde_json::json!(["generator"]));
    let gen_gate = &report["gates"][0];
    assert_eq!(gen_gate["passed"], false);
    assert!(
        gen_gate["failures"][0]
            .as_str()
            .expect("detail")
            .contains("-    - cron: '*/10 * * * *'")
    );
    let conformance = read_json(&repo.path().join("conformance/report.json"));
    let basic = conformance["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["case"] == "basic")
        .expect("basic case");
    assert_eq!(basic["passed"], false);
    let heal = basic["generator"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["file"] == "autosd-heal.yml")
        .expect("heal file");
    assert_eq!(heal["status"], "differs");
    assert!(
        heal["diff"]
            .as_str()
            .expect("diff")
            .contains("+    - cron: '*/5 * * * *'")
    );

    // --update rewrites the expected file deliberately; then the gate passes again.
    let o = run_in(
        home.path(),
        repo.path(),
        &["verify-factory", "--no-mirror", "--update"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&expected).expect("read"), text);
}

#[test]
fn lint_findings_fail_the_lint_gate() {
    let repo = factory_copy();
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        repo.path().join(".github/workflows/bad.yml"),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n",
    )
    .expect("write");
    let o = run_in(home.path(), repo.path(), &["verify-factory", "--no-mirror"], &[]);
    assert_eq!(o.status.code(), Some(80));
    let report = factory_report(repo.path());
    assert_eq!(report["failing_gates"], serde_json::json!(["lint"]));
    assert!(
        report["gates"][1]["failures"]
            .to_string()
            .contains(".github/workflows/bad.yml")
    );
}

const FAKE_CI: &str = "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"${BASH_SOURCE[0]}\")/..\"\nstage() { printf '\\n=== stage: %s ===\\n' \"$1\"; }\n\nstage setup\necho setting up\n\nstage fmt\necho formatting\ntest -z \"${FAIL_FMT:-}\"\n\nstage test\necho nested: \"${AUTOSD_CI_MIRROR:-unset}\"\n";

fn with_fake_ci(dir: &Path) {
    std::fs::create_dir_all(dir.join("ci")).expect("mkdir");
    std::fs::write(dir.join("ci/run_ci.sh"), FAKE_CI).expect("write");
}

#[test]
fn the_mirror_gate_runs_the_declared_stages_and_names_a_failing_one() {
    let repo = factory_copy();
    with_fake_ci(repo.path());
    let home = tempfile::tempdir().expect("home");
    let o = run_in(home.path(), repo.path(), &["verify-factory"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let report = factory_report(repo.path());
    assert_eq!(report["gates"][2]["summary"], "stages fmt passed");

    let o = run_in(
        home.path(),
        repo.path(),
        &["verify-factory", "--mirror-stages", "setup,fmt"],
        &[("FAIL_FMT", "1")],
    );
    assert_eq!(o.status.code(), Some(80));
    let report = factory_report(repo.path());
    assert_eq!(report["failing_gates"], serde_json::json!(["ci-mirror"]));
    assert!(
        report["gates"][2]["summary"]
            .as_str()
            .expect("s")
            .contains("stage `fmt`"),
        "{report}"
    );

    // Inside a mirror (the CI test stage), the gate skips itself instead of recursing.
    let o = run_in(
        home.path(),
        repo.path(),
        &["verify-factory"],
        &[("AUTOSD_CI_MIRROR", "1")],
    );
    assert_eq!(o.status.code(), Some(0));
    let report = factory_report(repo.path());
    assert_eq!(report["gates"][2]["skipped"], true);
}

#[test]
fn ci_mirror_runs_the_script_and_names_the_failing_stage() {
    let repo = factory_copy();
    with_fake_ci(repo.path());
    let home = tempfile::tempdir().expect("home");
    let o = run_in(home.path(), repo.path(), &["ci", "mirror"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("=== stage: test ===") && stdout.contains("nested: 1"),
        "{stdout}"
    );

    let o = run_in(home.path(), repo.path(), &["ci", "mirror"], &[("FAIL_FMT", "1")]);
    assert_eq!(o.status.code(), Some(81));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("AUTOSD-CI-STAGE-FAILED") && stderr.contains("stage `fmt`"),
        "{stderr}"
    );

    let o = run_in(
        home.path(),
        repo.path(),
        &["ci", "mirror"],
        &[("AUTOSD_CI_MIRROR", "1")],
    );
    assert_eq!(o.status.code(), Some(2), "refuses to recurse");
}
