//! `yaml-syntax`: the file is valid YAML that GitHub can read: syntax, tab indentation, UTF-8 encoding, a single document, no merge keys.
use super::report_problems;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::ProblemKind;

pub struct YamlSyntax;

static META: RuleMeta = RuleMeta {
    id: "yaml-syntax",
    severity: Severity::Error,
    summary: "Checks that the file is valid YAML that GitHub can read: syntax, tab indentation, UTF-8 encoding, a single document, no merge keys.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for YamlSyntax {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        report_problems(cx, &META, ProblemKind::Syntax, out);
    }
}
