//! One module per rule; each file's `//!` line says what the rule checks. Register a new
//! rule in `super::registry::RULES`.
pub mod action_runs_using;
pub mod composite_output_value;
pub mod composite_shell;
pub mod config_variable;
pub mod cron_schedule;
pub mod deprecated_commands;
pub mod event_filter;
pub mod ids;
pub mod job_id;
pub mod job_needs;
pub mod local_action_inputs;
pub mod matrix_keys;
pub mod permissions_scope;
pub mod reusable_workflow_call;
pub mod runner_label;
pub mod schema;
pub mod step_id;
pub mod trigger_event;
pub mod uses_syntax;
pub mod workflow_inputs;
pub mod yaml_duplicate_key;
pub mod yaml_limits;
pub mod yaml_syntax;

pub mod context_availability;
pub mod dangerous_triggers;
pub mod excessive_permissions;
pub mod expr_sites;
pub mod expression_syntax;
pub mod expression_type;
pub mod hardcoded_credentials;
pub mod missing_permissions;
pub mod persist_credentials;
pub mod secrets_in_logs;
pub mod secrets_inherit;
pub mod security;
pub mod shell;
pub mod template_injection;
pub mod undefined_reference;
pub mod unpinned_action;
pub mod untrusted_checkout;

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
