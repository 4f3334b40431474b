//! The `Rule` trait every check implements, and the static metadata each rule declares.
//! A rule only reads the [`LintContext`] and pushes [`Finding`]s; it never prints, reads
//! files itself or decides exit codes.
use super::LintContext;
use super::finding::{Finding, Severity};
use super::model::FileKind;

/// Which files a rule looks at; the driver skips the rule for other kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Workflows,
    Actions,
    Both,
}

impl Applies {
    pub fn includes(self, kind: FileKind) -> bool {
        matches!(
            (self, kind),
            (Applies::Both, _)
                | (Applies::Workflows, FileKind::Workflow)
                | (Applies::Actions, FileKind::Action)
        )
    }
}

/// What every rule declares about itself. The long documentation (what, why, example,
/// fix) lives in `docs/lint-rules.md` under `## <id>`; a test keeps the two in step.
#[derive(Debug)]
pub struct RuleMeta {
    /// Kebab-case id: `template-injection`. Used in output, config, SARIF and ignores.
    pub id: &'static str,
    /// Severity unless the config overrides it.
    pub severity: Severity,
    /// One line: what the rule checks (SARIF `shortDescription`, `--list-rules`).
    pub summary: &'static str,
    pub applies: Applies,
    /// Does the rule attach `--fix` edits to (some of) its findings?
    pub fixable: bool,
}

/// One check. Implementations are unit structs registered once in
/// [`super::registry::RULES`].
///
/// ```ignore
/// pub struct NeedsUnknownJob;
/// static META: RuleMeta = RuleMeta { id: "needs", severity: Severity::Error,
///     summary: "...", applies: Applies::Workflows, fixable: false };
/// impl Rule for NeedsUnknownJob {
///     fn meta(&self) -> &'static RuleMeta { &META }
///     fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
///         let Some(wf) = cx.workflow() else { return };
///         for job in wf.jobs() { /* ... */
///             out.push(cx.finding(&META, job.key().span, "message").help("how to fix"));
///         }
///     }
/// }
/// ```
pub trait Rule: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Pushes this rule's findings for the file in `cx`. Called once per file whose kind
    /// the rule [`Applies`] to, also when the file did not parse: then `cx.root()` is
    /// `None` and only the parse-problem rules (which read `cx.yaml.problems`) report.
    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>);
}
