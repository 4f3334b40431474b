//! `autosd ci lint-workflows`: a GitHub Actions linter for workflows and action metadata.
//!
//! The pipeline, one module per stage:
//! 1. [`source`] finds and reads files (the only I/O besides the CLI);
//! 2. [`yaml`] parses them into a spanned tree (positions on every node; problems, not panics);
//! 3. [`model`] gives rules a typed view (jobs, steps, `on`, permissions) over that tree;
//! 4. [`schema`] validates against the vendored SchemaStore schemas; [`rules`] hold the
//!    semantic checks, one [`Rule`] per file, listed once in [`registry::RULES`];
//! 5. [`config`] and [`ignore`] adjust or drop findings; [`fix`] applies their edits;
//! 6. [`format`] renders the finished list (human, JSON, SARIF, GitHub, one-line).
//!
//! ## Adding a rule
//! 1. `src/lint/rules/<rule_id>.rs` (snake_case file, kebab-case id) with a unit struct that
//!    implements [`Rule`], a `static META: RuleMeta`, and unit tests using [`testing::lint`];
//! 2. one line in [`registry::RULES`] and one `pub mod` line in `rules/mod.rs`;
//! 3. a `## <rule-id>` section in `docs/lint-rules.md` with `What`, `Why`, `Example`, `Fix`;
//! 4. fixtures: `tests/fixtures/lint/err/<rule-id>/*.yml` (each with an `# expect:` header,
//!    see `tests/it/lint.rs`) and clean counterparts under `tests/fixtures/lint/ok/`.
//!
//! A rule reads the [`LintContext`] (source, spanned tree, typed views, config, local files)
//! and pushes findings built with [`LintContext::finding`], which resolves the span once.
pub mod config;
pub mod expr;
pub mod finding;
pub mod fix;
pub mod format;
pub mod github;
pub mod ignore;
pub mod model;
pub mod registry;
#[cfg(test)]
mod robustness;
pub mod rule;
pub mod rules;
pub mod schema;
pub mod source;
pub mod yaml;

pub use config::Config;
pub use finding::{Edit, Finding, LineIndex, Pos, Severity, Span};
pub use model::{Action, FileKind, Job, Step, Workflow};
pub use rule::{Applies, Rule, RuleMeta};
pub use yaml::{Node, NodeKind, YamlFile};

use std::sync::Arc;

/// A parsed file: the text, its line index and its spanned YAML. Shared (through `Arc`)
/// between the file being linted and rules that read local actions or reusable workflows.
#[derive(Debug)]
pub struct ParsedFile {
    pub source: String,
    pub lines: LineIndex,
    pub yaml: YamlFile,
    /// `source` is not byte-identical to the file: invalid UTF-8 was replaced, or a
    /// leniency of GitHub's parser was emulated (see [`relax_flow_closers`]). Fixes are
    /// never written from such a text.
    pub altered: bool,
}

impl ParsedFile {
    /// Decodes and parses `bytes`. Invalid UTF-8 becomes a syntax problem at the first bad
    /// byte and the rest is parsed lossily, so positions before it stay exact.
    pub fn parse(bytes: &[u8]) -> ParsedFile {
        let (mut source, bad_utf8) = match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_string(), None),
            Err(e) => (String::from_utf8_lossy(bytes).into_owned(), Some(e.valid_up_to())),
        };
        let mut lines = LineIndex::new(&source);
        let mut yaml = yaml::parse(&source, &lines, yaml::Limits::default());
        let mut altered = bad_utf8.is_some();
        if let Some(relaxed) = relax_flow_closers(&source, &yaml) {
            lines = LineIndex::new(&relaxed);
            yaml = yaml::parse(&relaxed, &lines, yaml::Limits::default());
            source = relaxed;
            altered = true;
        }
        if let Some(at) = bad_utf8 {
            yaml.problems.insert(
                0,
                yaml::YamlProblem {
                    kind: yaml::ProblemKind::Syntax,
                    span: Span::point(lines.pos_of_offset(&source, at)),
                    message: "file is not valid UTF-8".into(),
                    help: Some("GitHub reads workflow files as UTF-8: re-encode the file".into()),
                },
            );
        }
        ParsedFile {
            source,
            lines,
            yaml,
            altered,
        }
    }
}

/// GitHub's YAML parser (like libyaml) accepts a flow collection whose closing `]`/`}`
/// sits at its parent's indentation; the stricter spec parser does not. When that is the
/// only syntax problem, the closers are indented by one space and the text parsed again,
/// so such files (numpy's workflows have them) are linted rather than rejected. Lines and
/// columns elsewhere are unchanged. `None` when this does not apply or does not help.
fn relax_flow_closers(source: &str, first: &YamlFile) -> Option<String> {
    let mut text = source.to_string();
    let mut problems = first.problems.clone();
    for _ in 0..64 {
        let [p] = problems.as_slice() else { return None };
        if p.kind != yaml::ProblemKind::Syntax || !p.message.contains("indentation") {
            return None;
        }
        let range = LineIndex::new(&text).line_range(&text, p.span.start.line);
        if !text[range.clone()].trim_start().starts_with([']', '}']) {
            return None;
        }
        text.insert(range.start, ' ');
        let again = yaml::parse(&text, &LineIndex::new(&text), yaml::Limits::default());
        if again.problems.is_empty() {
            return Some(text);
        }
        problems = again.problems;
    }
    None
}

/// Access to other files of the repository, for rules that follow `uses: ./local` to an
/// action or reusable workflow. Paths are relative to the repository root, without `./`.
pub trait LocalFiles: Sync {
    fn read(&self, rel: &str) -> Option<Arc<ParsedFile>>;
}

/// A [`LocalFiles`] that knows no files (stdin, unit tests).
#[derive(Debug, Default)]
pub struct NoLocalFiles;

impl LocalFiles for NoLocalFiles {
    fn read(&self, _rel: &str) -> Option<Arc<ParsedFile>> {
        None
    }
}

/// Everything a rule may look at for one file.
pub struct LintContext<'a> {
    /// The path as shown in findings (relative to the working directory when possible).
    pub path: &'a str,
    pub file: &'a ParsedFile,
    pub kind: FileKind,
    pub config: &'a Config,
    pub local: &'a dyn LocalFiles,
    /// The file's expressions, computed by the first expression rule that asks.
    exprs: std::cell::OnceCell<rules::expr_sites::FileExprs<'a>>,
}

impl<'a> LintContext<'a> {
    /// A context for linting `file` as `kind`.
    pub fn new(
        path: &'a str,
        file: &'a ParsedFile,
        kind: FileKind,
        config: &'a Config,
        local: &'a dyn LocalFiles,
    ) -> LintContext<'a> {
        LintContext {
            path,
            file,
            kind,
            config,
            local,
            exprs: std::cell::OnceCell::new(),
        }
    }

    /// Every `${{ }}` and `if:` condition of the file, parsed and checked once and shared
    /// by the expression rules.
    pub fn exprs(&self) -> &rules::expr_sites::FileExprs<'a> {
        self.exprs.get_or_init(|| rules::expr_sites::compute(self))
    }

    pub fn source(&self) -> &'a str {
        &self.file.source
    }

    pub fn yaml(&self) -> &'a YamlFile {
        &self.file.yaml
    }

    /// The root node of the first document, when the file parsed.
    pub fn root(&self) -> Option<&'a Node> {
        if self
            .file
            .yaml
            .problems
            .iter()
            .any(|p| p.kind != yaml::ProblemKind::DuplicateKey)
        {
            // A partially understood file would produce misleading findings.
            return None;
        }
        self.file.yaml.root()
    }

    pub fn workflow(&self) -> Option<Workflow<'a>> {
        match self.kind {
            FileKind::Workflow => Workflow::new(self.root()?),
            FileKind::Action => None,
        }
    }

    pub fn action(&self) -> Option<Action<'a>> {
        match self.kind {
            FileKind::Action => Action::new(self.root()?),
            FileKind::Workflow => None,
        }
    }

    /// A finding of rule `meta` at `span`, with the rule's default severity (the driver
    /// applies config overrides later).
    pub fn finding(&self, meta: &'static RuleMeta, span: Span, message: impl Into<String>) -> Finding {
        Finding {
            rule: meta.id,
            severity: meta.severity,
            message: message.into(),
            file: self.path.to_string(),
            span,
            help: None,
            fix: None,
        }
    }

    /// The source text under `span`.
    pub fn text(&self, span: Span) -> &'a str {
        self.file.source.get(span.bytes()).unwrap_or_default()
    }

    /// The span of `len` bytes starting at byte `offset` of scalar `node`'s *value*.
    ///
    /// Values of quoted and block scalars differ from their source text, so the value slice
    /// is searched for in the node's source text (matching the same occurrence); when it is
    /// not found verbatim (escapes, folding), the node's own span is returned.
    pub fn locate(&self, node: &Node, offset: usize, len: usize) -> Span {
        let Some(value) = node.as_str() else {
            return node.span;
        };
        let Some(needle) = value.get(offset..offset + len) else {
            return node.span;
        };
        if needle.is_empty() {
            return node.span;
        }
        let nth = value[..offset].matches(needle).count();
        let raw = self.text(node.span);
        let Some((at, _)) = raw.match_indices(needle).nth(nth) else {
            return node.span;
        };
        let start = node.span.start.offset as usize + at;
        let src = &self.file.source;
        Span::new(
            self.file.lines.pos_of_offset(src, start),
            self.file.lines.pos_of_offset(src, start + len),
        )
    }
}

/// The result of linting one file: its findings (after config and ignores) and the parsed
/// file, kept for rendering source lines and applying fixes. Its `yaml` tree is emptied once
/// the rules ran (unless another holder shares the file), to bound memory on large runs.
#[derive(Debug)]
pub struct FileReport {
    pub path: String,
    pub kind: FileKind,
    pub file: Arc<ParsedFile>,
    pub findings: Vec<Finding>,
}

/// Lints one parsed file: runs every enabled rule that applies to its kind, applies config
/// severities and inline ignores, and sorts the findings.
pub fn lint_parsed(
    path: &str,
    mut file: Arc<ParsedFile>,
    kind: Option<FileKind>,
    config: &Config,
    local: &dyn LocalFiles,
) -> FileReport {
    let kind = kind.unwrap_or_else(|| FileKind::detect(path, file.yaml.root()));
    let cx = LintContext::new(path, &file, kind, config, local);
    let mut findings = Vec::new();
    for rule in registry::RULES {
        let meta = rule.meta();
        if !meta.applies.includes(kind) || !config.is_enabled(meta.id) {
            continue;
        }
        let before = findings.len();
        rule.check(&cx, &mut findings);
        if let Some(sev) = config.severity_of(meta.id) {
            for f in &mut findings[before..] {
                f.severity = sev;
            }
        }
    }
    // A dedicated rule explains a problem better than the generic schema message at the
    // same place: keep only the former.
    let specific: std::collections::HashSet<Pos> = findings
        .iter()
        .filter(|f| f.rule != "schema")
        .map(|f| f.span.start)
        .collect();
    findings.retain(|f| f.rule != "schema" || !specific.contains(&f.span.start));
    let ignores = ignore::Ignores::scan(&file.source, &file.lines);
    findings.retain(|f| !ignores.suppresses(f.rule, f.span.start.line));
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup_by(|a, b| a.rule == b.rule && a.span == b.span && a.message == b.message);
    // Renderers and fixes need only the text: free the tree now, so a run over many files
    // holds one tree per thread rather than one per file.
    if let Some(parsed) = Arc::get_mut(&mut file) {
        parsed.yaml = YamlFile::default();
    }
    FileReport {
        path: path.to_string(),
        kind,
        file,
        findings,
    }
}

/// Test helpers shared by rule unit tests.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// Lints `src` as a workflow (or as an action when `path` ends in `action.yml`) with the
    /// default config and returns `(rule, line, col, message)` for findings of `rule`.
    pub fn lint(path: &str, src: &str, rule: &str) -> Vec<(u32, u32, String)> {
        lint_with(path, src, rule, &Config::default(), &NoLocalFiles)
    }

    pub fn lint_with(
        path: &str,
        src: &str,
        rule: &str,
        config: &Config,
        local: &dyn LocalFiles,
    ) -> Vec<(u32, u32, String)> {
        let file = Arc::new(ParsedFile::parse(src.as_bytes()));
        lint_parsed(path, file, None, config, local)
            .findings
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| (f.span.start.line, f.span.start.col, f.message))
            .collect()
    }

    /// All findings, for fix tests.
    pub fn findings(path: &str, src: &str) -> Vec<Finding> {
        let file = Arc::new(ParsedFile::parse(src.as_bytes()));
        lint_parsed(path, file, None, &Config::default(), &NoLocalFiles).findings
    }
}
