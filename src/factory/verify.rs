//! `autosd verify-factory`: the release gate. Runs every gate (generator, lint, CI mirror)
//! fail-slow, then builds the two versioned reports (`conformance/report.json`,
//! `verify_factory_report.json`) and the markdown summary. I/O here is reading fixtures and
//! the files to lint, and (with `--update`) rewriting expected files; posting the commit
//! status and printing belong to the CLI.
use super::input;
use super::mirror::{self, MirrorOutcome};
use super::render::{self, Rendered};
use crate::error::{Error, Result};
use crate::lint::{self, FileKind, NoLocalFiles, ParsedFile};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Version of both report documents; bump on a breaking change only.
pub const REPORT_SCHEMA_VERSION: u32 = 1;
pub const CONFORMANCE_DIR: &str = "conformance";
pub const CONFORMANCE_REPORT: &str = "conformance/report.json";
pub const FACTORY_REPORT: &str = "verify_factory_report.json";
/// The fixture whose expected output is `workflows-templates/` itself.
pub const TEMPLATES_CASE: &str = "templates";
pub const TEMPLATES_DIR: &str = "workflows-templates";
/// A fixture's optional manifest (`ci_stages: [fmt, …]`).
const CASE_MANIFEST: &str = "case.yml";
const MAX_DIFF_LINES: usize = 60;

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub root: PathBuf,
    pub update: bool,
    /// `None`: the stages the fixtures declare; `Some(vec![])`: skip the mirror.
    pub mirror_stages: Option<Vec<String>>,
    /// Set when already inside `autosd ci mirror`: the mirror gate is skipped.
    pub inside_mirror: bool,
}

/// One file's comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    pub file: String,
    /// `match`, `differs`, `missing` (expected but not rendered), `unexpected`
    /// (rendered but no expected file), `updated` (with `--update`).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LintIssue {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub rule: String,
    pub severity: String,
    pub message: String,
}

/// One fixture's results, as `conformance/report.json` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: String,
    pub passed: bool,
    pub generator: CaseGenerator,
    pub lint: CaseLint,
    pub ci_stages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseGenerator {
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub files: Vec<FileCheck>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseLint {
    pub passed: bool,
    pub findings: Vec<LintIssue>,
}

/// One gate in `verify_factory_report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub name: &'static str,
    pub passed: bool,
    pub skipped: bool,
    pub duration_ms: u64,
    pub summary: String,
    /// What failed, one entry per failing subject (fixture file, linted file, stage).
    pub failures: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub cases: Vec<CaseReport>,
    pub gates: Vec<GateReport>,
    pub mirror: Option<MirrorOutcome>,
    pub duration_ms: u64,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.gates.iter().all(|g| g.passed)
    }

    pub fn failing_gates(&self) -> Vec<&'static str> {
        self.gates.iter().filter(|g| !g.passed).map(|g| g.name).collect()
    }

    pub fn factory_report(&self) -> serde_json::Value {
        serde_json::json!({
            "schema_version": REPORT_SCHEMA_VERSION,
            "tool": "autosd",
            "tool_version": env!("CARGO_PKG_VERSION"),
            "passed": self.passed(),
            "failing_gates": self.failing_gates(),
            "duration_ms": self.duration_ms,
            "gates": self.gates,
        })
    }

    pub fn conformance_report(&self) -> serde_json::Value {
        serde_json::json!({
            "schema_version": REPORT_SCHEMA_VERSION,
            "passed": self.cases.iter().all(|c| c.passed),
            "cases": self.cases,
        })
    }

    /// The job summary: a gate table and a mermaid diagram of the gates.
    pub fn markdown(&self) -> String {
        let verdict = if self.passed() { "passed" } else { "failed" };
        let mut md = format!(
            "## autosd verify-factory: {verdict}\n\n| gate | result | duration | detail |\n|---|---|---|---|\n"
        );
        for g in &self.gates {
            md.push_str(&format!(
                "| {} | {} | {} ms | {} |\n",
                g.name,
                gate_word(g),
                g.duration_ms,
                md_cell(&g.summary)
            ));
        }
        md.push_str("\n```mermaid\nflowchart LR\n");
        let ids: Vec<String> = self
            .gates
            .iter()
            .map(|g| format!("{}[\"{} {}\"]", g.name.replace('-', "_"), g.name, gate_word(g)))
            .collect();
        md.push_str(&format!("  {}\n", ids.join(" --> ")));
        for g in &self.gates {
            let class = if g.skipped {
                "skip"
            } else if g.passed {
                "pass"
            } else {
                "fail"
            };
            md.push_str(&format!("  class {} {class}\n", g.name.replace('-', "_")));
        }
        md.push_str(
            "  classDef pass fill:#d4f7d4\n  classDef fail fill:#f7d4d4\n  classDef skip fill:#eeeeee\n```\n",
        );
        for g in self.gates.iter().filter(|g| !g.passed) {
            md.push_str(&format!(
                "\n<details><summary>{} failures</summary>\n\n```\n",
                g.name
            ));
            for f in g.failures.iter().take(50) {
                md.push_str(&f.replace("```", "'''"));
                md.push('\n');
            }
            md.push_str("```\n</details>\n");
        }
        md
    }

    /// Plain text for the terminal; `verbose` adds every failure's detail.
    pub fn human(&self, verbose: bool) -> String {
        let rows: Vec<Vec<String>> = self
            .gates
            .iter()
            .map(|g| {
                vec![
                    g.name.to_string(),
                    gate_word(g).to_string(),
                    format!("{} ms", g.duration_ms),
                    g.summary.clone(),
                ]
            })
            .collect();
        let mut out = crate::output::table(&["GATE", "RESULT", "TIME", "DETAIL"], &rows);
        for g in self.gates.iter().filter(|g| !g.passed) {
            let shown = if verbose {
                g.failures.len()
            } else {
                g.failures.len().min(5)
            };
            for f in &g.failures[..shown] {
                out.push_str(&format!("\n[{}] {f}\n", g.name));
            }
            if shown < g.failures.len() {
                out.push_str(&format!(
                    "\n[{}] … {} more (see {FACTORY_REPORT})\n",
                    g.name,
                    g.failures.len() - shown
                ));
            }
        }
        out.push_str(&format!(
            "\nverify-factory {} in {} ms; reports: {CONFORMANCE_REPORT}, {FACTORY_REPORT}\n",
            if self.passed() { "passed" } else { "FAILED" },
            self.duration_ms
        ));
        out
    }
}

fn gate_word(g: &GateReport) -> &'static str {
    if g.skipped {
        "skipped"
    } else if g.passed {
        "pass"
    } else {
        "FAIL"
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The fixtures under `conformance/fixtures/`, sorted by name.
pub fn fixture_cases(root: &Path) -> Result<Vec<String>> {
    let dir = root.join(CONFORMANCE_DIR).join("fixtures");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, &e))? {
        let entry = entry.map_err(|e| Error::io("list", &dir, &e))?;
        if entry.path().is_dir() {
            cases.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    cases.sort();
    Ok(cases)
}

fn expected_dir(root: &Path, case: &str) -> PathBuf {
    if case == TEMPLATES_CASE {
        root.join(TEMPLATES_DIR)
    } else {
        root.join(CONFORMANCE_DIR).join("expected").join(case)
    }
}

/// The rendered workflows of one fixture.
pub fn render_case(root: &Path, case: &str) -> Result<Vec<Rendered>> {
    let project = root
        .join(CONFORMANCE_DIR)
        .join("fixtures")
        .join(case)
        .join(crate::config::CONFIG_DIR)
        .join(crate::config::CONFIG_FILE);
    Ok(render::render_all(&input::load(&project)?))
}

fn declared_stages(root: &Path, case: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Manifest {
        #[serde(default)]
        ci_stages: Vec<String>,
    }
    let path = root
        .join(CONFORMANCE_DIR)
        .join("fixtures")
        .join(case)
        .join(CASE_MANIFEST);
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_saphyr::from_str::<Manifest>(&t).ok())
        .map(|m| m.ci_stages)
        .unwrap_or_default()
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis().min(u64::MAX as u128) as u64
}

/// Runs every gate and collects the results; only an unusable repository is an `Err`.
pub fn verify(opts: &VerifyOptions) -> Result<Verification> {
    let started = Instant::now();
    let root = &opts.root;
    let cases = fixture_cases(root)?;
    let lint_config = load_lint_config(root);

    // Gate 1: generator.
    let t = Instant::now();
    let mut reports = Vec::new();
    let mut rendered_all: Vec<(String, Vec<Rendered>)> = Vec::new();
    for case in &cases {
        let (generator, rendered) = match render_case(root, case) {
            Ok(rendered) => (
                compare_case(&expected_dir(root, case), &rendered, opts.update)?,
                rendered,
            ),
            Err(e) => (
                CaseGenerator {
                    passed: false,
                    error: Some(e.message),
                    files: Vec::new(),
                },
                Vec::new(),
            ),
        };
        reports.push(CaseReport {
            case: case.clone(),
            passed: generator.passed,
            generator,
            lint: CaseLint {
                passed: true,
                findings: Vec::new(),
            },
            ci_stages: declared_stages(root, case),
        });
        rendered_all.push((case.clone(), rendered));
    }
    let mut failures = Vec::new();
    for r in &reports {
        if let Some(e) = &r.generator.error {
            failures.push(format!("{}: cannot render: {e}", r.case));
        }
        for f in r
            .generator
            .files
            .iter()
            .filter(|f| f.status != "match" && f.status != "updated")
        {
            let mut line = format!("{}: {} {}", r.case, f.file, f.status);
            if let Some(d) = &f.diff {
                line.push('\n');
                line.push_str(d);
            }
            failures.push(line);
        }
    }
    let failing_cases = reports.iter().filter(|r| !r.generator.passed).count();
    let generator_gate = GateReport {
        name: "generator",
        passed: failures.is_empty(),
        skipped: false,
        duration_ms: millis(t),
        summary: if cases.is_empty() {
            "no fixtures under conformance/fixtures/".to_string()
        } else if opts.update {
            format!("{} fixtures rendered, expected files updated", cases.len())
        } else {
            format!(
                "{} of {} fixtures match",
                cases.len() - failing_cases,
                cases.len()
            )
        },
        failures,
    };

    // Gate 2: lint, on the rendered workflows and the repository's own workflow files.
    let t = Instant::now();
    let mut lint_failures = Vec::new();
    let mut linted = 0usize;
    for ((case, rendered), report) in rendered_all.iter().zip(reports.iter_mut()) {
        for r in rendered {
            linted += 1;
            let display = format!(
                "{}/{} (rendered)",
                expected_dir(root, case)
                    .strip_prefix(root)
                    .unwrap_or(Path::new(case))
                    .display(),
                r.name
            );
            let file = Arc::new(ParsedFile::parse(r.text.as_bytes()));
            let fr = lint::lint_parsed(
                &display,
                file,
                Some(FileKind::Workflow),
                &lint_config,
                &NoLocalFiles,
            );
            for f in fr
                .findings
                .iter()
                .filter(|f| f.severity >= lint::Severity::Warning)
            {
                let issue = issue_of(&display, f);
                lint_failures.push(issue_line(&issue));
                report.lint.findings.push(issue);
            }
        }
        report.lint.passed = report.lint.findings.is_empty();
        report.passed = report.generator.passed && report.lint.passed;
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in [TEMPLATES_DIR, "action.yml", ".github/workflows"] {
        if root.join(p).exists() {
            paths.push(PathBuf::from(p));
        }
    }
    match lint::source::expand_paths(&paths, root) {
        Ok(targets) => {
            let targets: Vec<_> = targets.into_iter().filter(|t| is_yaml_name(&t.display)).collect();
            linted += targets.len();
            match lint::source::lint_targets(&targets, &lint_config, 2) {
                Ok(file_reports) => {
                    for fr in &file_reports {
                        for f in fr
                            .findings
                            .iter()
                            .filter(|f| f.severity >= lint::Severity::Warning)
                        {
                            lint_failures.push(issue_line(&issue_of(&fr.path, f)));
                        }
                    }
                }
                Err(e) => lint_failures.push(format!("{}: {}", e.path.display(), e.message)),
            }
        }
        Err(e) => lint_failures.push(format!("{}: {}", e.path.display(), e.message)),
    }
    let lint_gate = GateReport {
        name: "lint",
        passed: lint_failures.is_empty(),
        skipped: false,
        duration_ms: millis(t),
        summary: format!("{linted} files linted, {} findings", lint_failures.len()),
        failures: lint_failures,
    };

    // Gate 3: the CI mirror.
    let t = Instant::now();
    let stages: Vec<String> = match &opts.mirror_stages {
        Some(s) => s.clone(),
        None => {
            let declared: BTreeSet<String> =
                reports.iter().flat_map(|r| r.ci_stages.iter().cloned()).collect();
            declared.into_iter().collect()
        }
    };
    let (mirror_gate, mirror) = if opts.inside_mirror {
        (
            skipped_gate("skipped: already running inside `autosd ci mirror`"),
            None,
        )
    } else if opts.mirror_stages.as_ref().is_some_and(Vec::is_empty) {
        (skipped_gate("skipped: --no-mirror"), None)
    } else if stages.is_empty() {
        (skipped_gate("skipped: the fixtures declare no ci stages"), None)
    } else if !root.join(mirror::SCRIPT).is_file() {
        (
            GateReport {
                name: "ci-mirror",
                passed: false,
                skipped: false,
                duration_ms: 0,
                summary: format!("{} not found", mirror::SCRIPT),
                failures: vec![format!(
                    "{} is missing but stages {} are declared",
                    mirror::SCRIPT,
                    stages.join(", ")
                )],
            },
            None,
        )
    } else {
        match mirror::run(root, &stages) {
            Ok(outcome) => {
                let gate = GateReport {
                    name: "ci-mirror",
                    passed: outcome.passed,
                    skipped: false,
                    duration_ms: millis(t),
                    summary: if outcome.passed {
                        format!("stages {} passed", stages.join(", "))
                    } else {
                        outcome.failure_message()
                    },
                    failures: if outcome.passed {
                        Vec::new()
                    } else {
                        vec![format!("{}\n{}", outcome.failure_message(), outcome.tail)]
                    },
                };
                (gate, Some(outcome))
            }
            Err(e) => (
                GateReport {
                    name: "ci-mirror",
                    passed: false,
                    skipped: false,
                    duration_ms: millis(t),
                    summary: e.message.clone(),
                    failures: vec![e.message],
                },
                None,
            ),
        }
    };

    let gates = vec![generator_gate, lint_gate, mirror_gate];
    for g in &gates {
        tracing::info!(gate = g.name, passed = g.passed, skipped = g.skipped, duration_ms = g.duration_ms, summary = %g.summary, "verify-factory gate");
        for f in &g.failures {
            tracing::debug!(gate = g.name, failure = %f, "verify-factory failure");
        }
    }
    Ok(Verification {
        cases: reports,
        gates,
        mirror,
        duration_ms: millis(started),
    })
}

fn skipped_gate(summary: &str) -> GateReport {
    GateReport {
        name: "ci-mirror",
        passed: true,
        skipped: true,
        duration_ms: 0,
        summary: summary.to_string(),
        failures: Vec::new(),
    }
}

fn is_yaml_name(p: &str) -> bool {
    p.ends_with(".yml") || p.ends_with(".yaml")
}

fn issue_of(file: &str, f: &lint::Finding) -> LintIssue {
    LintIssue {
        file: file.to_string(),
        line: f.span.start.line,
        col: f.span.start.col,
        rule: f.rule.to_string(),
        severity: f.severity.to_string(),
        message: f.message.clone(),
    }
}

fn issue_line(i: &LintIssue) -> String {
    format!("{}:{}:{}: {} [{}]", i.file, i.line, i.col, i.message, i.rule)
}

fn load_lint_config(root: &Path) -> lint::Config {
    std::fs::read_to_string(root.join(lint::config::DEFAULT_PATH))
        .ok()
        .and_then(|t| lint::Config::parse(&t).ok())
        .unwrap_or_default()
}

/// Compares rendered files with `dir` (only `*.yml` there count); with `update`, rewrites
/// `dir` to match and reports `updated` for what changed.
fn compare_case(dir: &Path, rendered: &[Rendered], update: bool) -> Result<CaseGenerator> {
    let mut existing: BTreeSet<String> = BTreeSet::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, &e))? {
            let entry = entry.map_err(|e| Error::io("list", dir, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yml") && entry.path().is_file() {
                existing.insert(name);
            }
        }
    }
    let mut files = Vec::new();
    for r in rendered {
        let path = dir.join(r.name);
        let expected = existing
            .remove(r.name)
            .then(|| std::fs::read_to_string(&path).unwrap_or_default());
        let status = match &expected {
            Some(e) if e == &r.text => "match",
            Some(_) | None if update => {
                crate::store::fs::ensure_dir(dir, 0o755)?;
                crate::store::fs::write_atomic(&path, r.text.as_bytes(), 0o644)?;
                "updated"
            }
            Some(_) => "differs",
            None => "missing",
        };
        let diff = match (status, &expected) {
            ("differs", Some(e)) => Some(line_diff(e, &r.text)),
            _ => None,
        };
        files.push(FileCheck {
            file: r.name.to_string(),
            status: if status == "missing" { "missing" } else { status },
            diff,
        });
    }
    for stale in existing {
        if update {
            let p = dir.join(&stale);
            std::fs::remove_file(&p).map_err(|e| Error::io("remove", &p, &e))?;
            files.push(FileCheck {
                file: stale,
                status: "updated",
                diff: None,
            });
        } else {
            files.push(FileCheck {
                file: stale,
                status: "unexpected",
                diff: None,
            });
        }
    }
    Ok(CaseGenerator {
        passed: files.iter().all(|f| f.status == "match" || f.status == "updated"),
        error: None,
        files,
    })
}

/// A unified-style hunk of `expected` → `actual`: common head and tail trimmed, the middle
/// shown as removed and added lines (bounded).
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (da, db) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out = format!(
        "--- expected\n+++ rendered\n@@ -{},{} +{},{} @@\n",
        head + 1,
        da.len(),
        head + 1,
        db.len()
    );
    let mut shown = 0;
    for l in da {
        if shown == MAX_DIFF_LINES {
            break;
        }
        out.push_str(&format!("-{l}\n"));
        shown += 1;
    }
    for l in db {
        if shown == MAX_DIFF_LINES {
            break;
        }
        out.push_str(&format!("+{l}\n"));
        shown += 1;
    }
    if da.len() + db.len() > MAX_DIFF_LINES {
        out.push_str("… diff truncated\n");
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("\\ final newline differs\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_only_the_changed_middle() {
        let d = line_diff("a\nb\nc\nd\n", "a\nB\nc\nd\n");
        assert_eq!(d, "--- expected\n+++ rendered\n@@ -2,1 +2,1 @@\n-b\n+B\n");
        let d = line_diff("a\n", "a\nb\n");
        assert!(d.contains("+b\n"));
    }

    #[test]
    fn markdown_has_table_and_mermaid() {
        let v = Verification {
            cases: Vec::new(),
            gates: vec![
                GateReport {
                    name: "generator",
                    passed: false,
                    skipped: false,
                    duration_ms: 3,
                    summary: "0 of 1 | match".into(),
                    failures: vec!["x: a.yml differs".into()],
                },
                skipped_gate("skipped"),
            ],
            mirror: None,
            duration_ms: 5,
        };
        let md = v.markdown();
        assert!(md.contains("| generator | FAIL | 3 ms | 0 of 1 \\| match |"));
        assert!(md.contains(
            "```mermaid\nflowchart LR\n  generator[\"generator FAIL\"] --> ci_mirror[\"ci-mirror skipped\"]"
        ));
        assert!(md.contains("x: a.yml differs"));
        assert_eq!(v.failing_gates(), vec!["generator"]);
        assert_eq!(v.factory_report()["failing_gates"][0], "generator");
    }
}
