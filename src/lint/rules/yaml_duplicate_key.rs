//! `yaml-duplicate-key`: no mapping defines the same key twice.
use super::report_problems;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::ProblemKind;

pub struct YamlDuplicateKey;

static META: RuleMeta = RuleMeta {
    id: "yaml-duplicate-key",
    severity: Severity::Error,
    summary: "Checks that no mapping defines the same key twice.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for YamlDuplicateKey {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        report_problems(cx, &META, ProblemKind::DuplicateKey, out);
    }
}
