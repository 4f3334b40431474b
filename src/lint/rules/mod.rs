//! One module per rule; each file's `//!` line says what the rule checks. Register a new
//! rule in `super::registry::RULES`.
pub mod yaml_duplicate_key;
pub mod yaml_limits;
pub mod yaml_syntax;
pub mod schema;

pub mod security;
pub mod shell;
pub mod unpinned_action;
pub mod excessive_permissions;
pub mod missing_permissions;
pub mod expr_sites;
pub mod expression_syntax;
pub mod expression_type;
pub mod context_availability;
pub mod undefined_reference;
pub mod template_injection;

use super::LintContext;
use super::finding::Finding;
use super::rule::RuleMeta;
use super::yaml::ProblemKind;

/// Shared by the three parse-problem rules: turns the parser's problems of one kind into findings.
fn report_problems(cx: &LintContext<'_>, meta: &'static RuleMeta, kind: ProblemKind, out: &mut Vec<Finding>) {
    for p in cx.yaml().problems.iter().filter(|p| p.kind == kind) {
        let mut f = cx.finding(meta, p.span, p.message.clone());
        f.help = p.help.clone();
        out.push(f);
    }
}
