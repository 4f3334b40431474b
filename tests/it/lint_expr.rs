//! Black-box tests of the expression rules through `autosd ci lint-workflows`: positions in
//! the one-line format, the `template-injection` fix end to end, and severities in JSON.
use crate::common::autosd;

const INJECTED: &str = "name: triage
on:
  issues:
    types: [opened]
permissions:
  issues: write
jobs:
  triage:
    runs-on: ubuntu-latest
    steps:
      # keep this comment
      - name: label
        run: |
          echo \"New: ${{ github.event.issue.title }}\"
          gh issue edit \"$NUMBER\" --add-label triage
";

fn repo_with(path: &str, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = dir.path().join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, body).expect("write");
    dir
}

#[test]
fn template_injection_is_reported_and_fixed_in_place() {
    let repo = repo_with(".github/workflows/triage.yml", INJECTED);
    let out = autosd(repo.path())
        .args(["ci", "lint-workflows", "--format", "oneline"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(".github/workflows/triage.yml:14:26: `github.event.issue.title` can be set by"),
        "{stdout}"
    );
    assert!(stdout.contains("[template-injection]"), "{stdout}");

    autosd(repo.path())
        .args(["ci", "lint-workflows", "--fix"])
        .assert()
        .code(0);
    let fixed = std::fs::read_to_string(repo.path().join(".github/workflows/triage.yml")).expect("read");
    let want = INJECTED.replace(
        "      - name: label\n        run: |\n          echo \"New: ${{ github.event.issue.title }}\"\n",
        "      - name: label\n        env:\n          ISSUE_TITLE: ${{ github.event.issue.title }}\n        run: |\n          echo \"New: ${ISSUE_TITLE}\"\n",
    );
    assert_eq!(fixed, want);
    autosd(repo.path())
        .args(["ci", "lint-workflows"])
        .assert()
        .code(0);
}

#[test]
fn expression_findings_carry_exact_positions_and_severities() {
    let workflow = "on: push
permissions:
  contents: read
jobs:
  build:
    if: secrets.TOKEN != ''
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [ubuntu-latest]
    steps:
      - run: echo \"${{ matrix.oss }} ${{ format('{0} {1}', github.sha) }}\"
      - if: github.ref == 'refs/heads/main' &&
        run: echo main
";
    let repo = repo_with(".github/workflows/build.yml", workflow);
    let out = autosd(repo.path())
        .args(["ci", "lint-workflows", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut got: Vec<(String, u64, u64, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["start"]["line"].as_u64().unwrap_or_default(),
                f["start"]["column"].as_u64().unwrap_or_default(),
                f["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .filter(|f| {
            [
                "expression-syntax",
                "expression-type",
                "context-availability",
                "undefined-reference",
            ]
            .contains(&f.0.as_str())
        })
        .collect();
    got.sort();
    let want = vec![
        ("context-availability".to_string(), 6, 9, "error".to_string()),
        ("expression-syntax".to_string(), 13, 47, "error".to_string()),
        ("expression-type".to_string(), 12, 49, "error".to_string()),
        ("undefined-reference".to_string(), 12, 31, "error".to_string()),
    ];
    assert_eq!(got, want);
}
