//! Black-box tests of `autosd ci lint-workflows`: the fixture corpus under
//! `tests/fixtures/lint/`, exit codes, output formats, config, ignores, stdin, `--fix`, and
//! (only when present next to the repository) the shared real-world corpus.
//!
//! Fixture conventions (rules add fixtures without touching this file):
//! - `err/<rule-id>/**/*.yml`: each file lists the findings of `<rule-id>` it must produce, as
//!   comment lines `# expect: LINE:COL` (1-based start position). Findings of other rules are
//!   ignored. Files that only support others (a local action, a called workflow) say
//!   `# fixture-support` instead.
//! - `ok/<rule-id>.yml` or `ok/<rule-id>/**/*.yml`: must produce no finding of `<rule-id>`, and
//!   no `yaml-*` or `schema` error (the file is valid).
//! - A rule directory under `err/` holding `autosd-lint.config` is linted with `--config` that
//!   file (for rules that only act on configuration).
use crate::common::autosd;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

/// Runs the linter with JSON output over `args`; returns (exit code, document).
fn lint_json(home: &Path, args: &[&str]) -> (i32, Value) {
    let out = autosd(home)
        .args([
            "ci",
            "lint-workflows",
            "--format",
            "json",
            "--min-severity",
            "note",
        ])
        .args(args)
        .output()
        .expect("autosd runs");
    let code = out.status.code().expect("exit code");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON output ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (code, doc)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// Findings of the JSON document grouped by file: (line, col, rule, severity).
fn by_file(doc: &Value) -> BTreeMap<String, Vec<(u64, u64, String, String)>> {
    let mut map: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for f in doc["findings"].as_array().expect("findings") {
        map.entry(f["file"].as_str().expect("file").to_string())
            .or_default()
            .push((
                f["start"]["line"].as_u64().expect("line"),
                f["start"]["column"].as_u64().expect("column"),
                f["rule"].as_str().expect("rule").to_string(),
                f["severity"].as_str().expect("severity").to_string(),
            ));
    }
    map
}

/// The rule a fixture belongs to: the directory under `err/` or `ok/` (or the file stem).
fn fixture_rule(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).expect("under root");
    let mut parts = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let _kind = parts.next();
    let first = parts.next().expect("rule component");
    first
        .trim_end_matches(".yml")
        .trim_end_matches(".yaml")
        .to_string()
}

#[test]
fn err_fixtures_produce_exactly_the_expected_findings() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = fixtures();
    let err_dir = root.join("err");
    let (code, doc) = lint_json(home.path(), &[err_dir.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "fixtures with findings exit 1");
    let mut found = by_file(&doc);
    for entry in std::fs::read_dir(&err_dir)
        .expect("err dir")
        .filter_map(Result::ok)
    {
        let config = entry.path().join("autosd-lint.config");
        if config.is_file() {
            let dir = entry.path();
            let (_, doc) = lint_json(
                home.path(),
                &[
                    dir.to_str().expect("utf-8 path"),
                    "--config",
                    config.to_str().expect("utf-8 path"),
                ],
            );
            found.retain(|file, _| !Path::new(file).starts_with(&dir));
            found.extend(by_file(&doc));
        }
    }
    let mut files = Vec::new();
    yaml_files(&err_dir, &mut files);
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("fixture readable");
        if text.contains("# fixture-support") {
            continue;
        }
        let rule = fixture_rule(&root, &file);
        let mut expected: Vec<(u64, u64)> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("# expect:"))
            .filter_map(|pos| {
                let (l, c) = pos.trim().split_once(':')?;
                Some((l.parse().ok()?, c.parse().ok()?))
            })
            .collect();
        if expected.is_empty() {
            failures.push(format!("{}: no `# expect: LINE:COL` lines", file.display()));
            continue;
        }
        expected.sort();
        expected.dedup();
        let key = file.to_str().expect("utf-8 path");
        let mut actual: Vec<(u64, u64)> = found
            .get(key)
            .map(|v| v.iter().filter(|f| f.2 == rule).map(|f| (f.0, f.1)).collect())
            .unwrap_or_default();
        actual.sort();
        actual.dedup();
        if actual != expected {
            failures.push(format!(
                "{} [{rule}]: expected {expected:?}, found {actual:?}",
                file.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "fixture mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ok_fixtures_are_clean_for_their_rule() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = fixtures();
    let ok_dir = root.join("ok");
    let (_, doc) = lint_json(home.path(), &[ok_dir.to_str().expect("utf-8 path")]);
    let found = by_file(&doc);
    let mut files = Vec::new();
    yaml_files(&ok_dir, &mut files);
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in files {
        let rule = fixture_rule(&root, &file);
        let key = file.to_str().expect("utf-8 path");
        for f in found.get(key).into_iter().flatten() {
            let invalid = (f.2.starts_with("yaml-") || f.2 == "schema") && f.3 == "error";
            if f.2 == rule || invalid {
                failures.push(format!("{}:{}:{} unexpected [{}]", file.display(), f.0, f.1, f.2));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "ok fixtures with findings:\n{}",
        failures.join("\n")
    );
}

const BROKEN: &str = "on: push\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    needs: tset\n    steps:\n      - run: make\n";
const CLEAN: &str = "on: push\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n";

fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, body) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
    }
    dir
}

#[test]
fn exit_codes_follow_the_contract() {
    let repo = repo_with(&[(".github/workflows/ok.yml", CLEAN)]);
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(0);
    let repo = repo_with(&[(".github/workflows/bad.yml", BROKEN)]);
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(1);
    autosd(repo.path())
        .args(["ci", "lint-workflows", "missing.yml"])
        .assert()
        .code(2);
    autosd(repo.path())
        .args(["ci", "lint-workflows", "--format", "xml"])
        .assert()
        .code(2);
    std::fs::write(
        repo.path().join(".github/autosd-lint.yml"),
        "rules:\n  no-such-rule: off\n",
    )
    .expect("write");
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown rule `no-such-rule`"));
    std::fs::write(
        repo.path().join(".github/autosd-lint.yml"),
        "rules:\n  job-needs: off\n",
    )
    .expect("write");
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(0);
    std::fs::write(
        repo.path().join(".github/autosd-lint.yml"),
        "rules:\n  job-needs: warning\n",
    )
    .expect("write");
    autosd(repo.path())
        .args(["ci", "lint-workflows", "--min-severity", "error"])
        .assert()
        .code(0);
    autosd(repo.path())
        .args(["ci", "lint-workflows", "--min-severity", "warning"])
        .assert()
        .code(1);
}

#[test]
fn formats_render_the_same_finding() {
    let repo = repo_with(&[(".github/workflows/bad.yml", BROKEN)]);
    let run = |format: &str| {
        let out = autosd(repo.path())
            .args(["ci", "lint-workflows", "--format", format])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{format}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(
        run("oneline"),
        ".github/workflows/bad.yml:7:12: job `build` needs unknown job `tset` [job-needs]\n"
    );
    let github = run("github");
    assert!(
        github.starts_with("::error file=.github/workflows/bad.yml,line=7,col=12,endLine=7,endColumn=16,title=job-needs (error)::job `build` needs unknown job `tset`"),
        "{github}"
    );
    let json: Value = serde_json::from_str(&run("json")).expect("json");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["summary"]["errors"], 1);
    assert_eq!(json["findings"][0]["rule"], "job-needs");
    assert_eq!(json["findings"][0]["end"]["column"], 16);
    let sarif: Value = serde_json::from_str(&run("sarif")).expect("sarif");
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "job-needs");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        7
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let index = result["ruleIndex"].as_u64().expect("index") as usize;
    assert_eq!(rules[index]["id"], "job-needs");
    // GitHub Actions gets annotations without asking.
    let out = autosd(repo.path())
        .env("GITHUB_ACTIONS", "true")
        .args(["ci", "lint-workflows"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("::error file="));
}

#[test]
fn human_output_snapshot() {
    let repo = repo_with(&[
        (".github/workflows/bad.yml", BROKEN),
        (
            ".github/actions/setup/action.yml",
            "name: setup\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n",
        ),
    ]);
    let out = autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8(out.stdout).expect("utf-8"));
}

#[test]
fn inline_ignores_silence_one_rule_on_one_line() {
    let ignored = BROKEN.replace(
        "    needs: tset\n",
        "    # autosd-lint: ignore[job-needs]\n    needs: tset\n",
    );
    let repo = repo_with(&[(".github/workflows/bad.yml", &ignored)]);
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(0);
    let other = BROKEN.replace(
        "    needs: tset\n",
        "    needs: tset # autosd-lint: ignore[job-id]\n",
    );
    let repo = repo_with(&[(".github/workflows/bad.yml", &other)]);
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(1);
}

#[test]
fn stdin_is_linted_as_dash() {
    let home = tempfile::tempdir().expect("tempdir");
    autosd(home.path())
        .args(["ci", "lint-workflows", "--format", "oneline", "-"])
        .write_stdin(BROKEN)
        .assert()
        .code(1)
        .stdout("-:7:12: job `build` needs unknown job `tset` [job-needs]\n");
}

#[test]
fn fix_dry_run_shows_a_diff_and_fix_rewrites_in_place() {
    let action =
        "name: setup\ndescription: d\nruns:\n  using: composite\n  steps:\n    # build it\n    - run: make\n";
    let repo = repo_with(&[("action.yml", action)]);
    let out = autosd(repo.path())
        .args(["ci", "lint-workflows", "--fix", "--dry-run", "action.yml"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.contains("--- a/action.yml\n+++ b/action.yml\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-    - run: make\n+    - shell: bash\n+      run: make\n"),
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "nothing remains after the fix");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("action.yml")).expect("read"),
        action,
        "dry run writes nothing"
    );
    autosd(repo.path())
        .args(["ci", "lint-workflows", "--fix", "action.yml"])
        .assert()
        .code(0);
    let fixed = std::fs::read_to_string(repo.path().join("action.yml")).expect("read");
    assert!(
        fixed.contains("    # build it\n    - shell: bash\n      run: make\n"),
        "{fixed}"
    );
    autosd(repo.path())
        .args(["ci", "lint-workflows", "action.yml"])
        .assert()
        .code(0);
}

#[test]
fn list_rules_names_every_rule() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = autosd(home.path())
        .args(["ci", "lint-workflows", "--list-rules"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for id in [
        "yaml-syntax",
        "schema",
        "job-needs",
        "composite-shell",
        "deprecated-commands",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{id} missing from:\n{text}"
        );
    }
}

/// The shared real-world corpus is not part of the repository. When it sits beside the
/// checkout (`../shared/corpus/real`) or `AUTOSD_LINT_CORPUS` points at it, every file must
/// lint without a crash and the framework's own rules must report no error there (each was
/// reviewed as a false positive and fixed). Otherwise the test says it was skipped.
#[test]
#[allow(clippy::print_stderr)] // a skipped test must say that it was skipped
fn real_world_corpus_if_present() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("AUTOSD_LINT_CORPUS").map(PathBuf::from),
        Some(manifest.join("../shared/corpus/real")),
        Some(manifest.join("../../shared/corpus/real")),
    ];
    let Some(corpus) = candidates.into_iter().flatten().find(|p| p.is_dir()) else {
        eprintln!(
            "skipped: real-world corpus not found (set AUTOSD_LINT_CORPUS or place shared/ beside the repository)"
        );
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let (code, doc) = lint_json(home.path(), &[corpus.to_str().expect("utf-8 path")]);
    assert!(code == 0 || code == 1, "exit {code}");
    let files = doc["files"].as_array().expect("files").len();
    assert!(files > 600, "only {files} files linted");
    const FRAMEWORK: &[&str] = &[
        "yaml-syntax",
        "yaml-duplicate-key",
        "yaml-limits",
        "schema",
        "job-needs",
        "job-id",
        "step-id",
        "runner-label",
        "trigger-event",
        "event-filter",
        "cron-schedule",
        "workflow-inputs",
        "permissions-scope",
        "uses-syntax",
        "local-action-inputs",
        "reusable-workflow-call",
        "matrix-keys",
        "composite-shell",
        "composite-output-value",
        "action-runs-using",
    ];
    let errors: Vec<String> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error" && FRAMEWORK.contains(&f["rule"].as_str().unwrap_or_default()))
        .map(|f| format!("{}:{} {}", f["file"], f["start"]["line"], f["message"]))
        .collect();
    assert!(
        errors.is_empty(),
        "unreviewed errors on the real corpus:\n{}",
        errors.join("\n")
    );
}
