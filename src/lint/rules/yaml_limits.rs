//! `yaml-limits`: the file stays within the parser's bounds: size, nesting depth and alias expansion.
use super::report_problems;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::ProblemKind;

pub struct YamlLimits;

static META: RuleMeta = RuleMeta {
    id: "yaml-limits",
    severity: Severity::Error,
    summary: "Checks that the file stays within the parser's bounds: size, nesting depth and alias expansion.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for YamlLimits {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        report_problems(cx, &META, ProblemKind::Limit, out);
    }
}
