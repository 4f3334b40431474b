//! THE list of rules: one line per rule. Order here is the order rules run in; output is
//! sorted by position afterwards, so it does not affect what users see.
use super::rule::Rule;
use super::rules;

pub static RULES: &[&dyn Rule] = &[
    &rules::yaml_syntax::YamlSyntax,
    &rules::yaml_duplicate_key::YamlDuplicateKey,
    &rules::yaml_limits::YamlLimits,
    &rules::schema::Schema,
    &rules::job_needs::JobNeeds,
    &rules::job_id::JobId,
    &rules::step_id::StepId,
    &rules::runner_label::RunnerLabel,
    &rules::trigger_event::TriggerEvent,
    &rules::event_filter::EventFilter,
    &rules::cron_schedule::CronSchedule,
    &rules::workflow_inputs::WorkflowInputs,
    &rules::permissions_scope::PermissionsScope,
    &rules::uses_syntax::UsesSyntax,
    &rules::local_action_inputs::LocalActionInputs,
    &rules::reusable_workflow_call::ReusableWorkflowCall,
    &rules::matrix_keys::MatrixKeys,
    &rules::composite_shell::CompositeShell,
    &rules::composite_output_value::CompositeOutputValue,
    &rules::action_runs_using::ActionRunsUsing,
    &rules::deprecated_commands::DeprecatedCommands,
    &rules::config_variable::ConfigVariable,
    &rules::unpinned_action::UnpinnedAction,
    &rules::excessive_permissions::ExcessivePermissions,
    &rules::missing_permissions::MissingPermissions,
    &rules::untrusted_checkout::UntrustedCheckout,
    &rules::dangerous_triggers::DangerousTriggers,
    &rules::secrets_in_logs::SecretsInLogs,
    &rules::persist_credentials::PersistCredentials,
    &rules::secrets_inherit::SecretsInherit,
    &rules::hardcoded_credentials::HardcodedCredentials,
    &rules::expression_syntax::ExpressionSyntax,
    &rules::expression_type::ExpressionType,
    &rules::context_availability::ContextAvailability,
    &rules::undefined_reference::UndefinedReference,
    &rules::template_injection::TemplateInjection,
];

/// The rule with this id, for config validation and `--list-rules`.
pub fn find(id: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.meta().id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_kebab_case_and_match_file_names() {
        let mut seen = HashSet::new();
        for rule in RULES {
            let id = rule.meta().id;
            assert!(seen.insert(id), "duplicate rule id {id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "rule id {id} is not kebab-case"
            );
            let file = format!(
                "{}/src/lint/rules/{}.rs",
                env!("CARGO_MANIFEST_DIR"),
                id.replace('-', "_")
            );
            assert!(
                std::path::Path::new(&file).exists(),
                "rule {id} has no file {file}"
            );
            assert!(!rule.meta().summary.is_empty());
        }
    }

    /// docs/lint-rules.md has exactly one `## <id>` section per registered rule, each with
    /// What, Why, Example and Fix, so the docs cannot drift from the code.
    #[test]
    fn every_rule_is_documented_and_every_section_is_a_rule() {
        let path = format!("{}/docs/lint-rules.md", env!("CARGO_MANIFEST_DIR"));
        let docs = std::fs::read_to_string(&path).expect("docs/lint-rules.md exists");
        let mut sections: Vec<(&str, String)> = Vec::new();
        for chunk in docs.split("\n## ").skip(1) {
            let (title, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
            sections.push((title.trim(), body.to_string()));
        }
        let ids: HashSet<&str> = RULES.iter().map(|r| r.meta().id).collect();
        let mut problems = Vec::new();
        for id in &ids {
            match sections.iter().filter(|(t, _)| t == id).count() {
                1 => {}
                n => problems.push(format!("rule `{id}` has {n} sections in docs/lint-rules.md")),
            }
        }
        for (title, body) in &sections {
            if !ids.contains(title) {
                problems.push(format!("section `## {title}` names no registered rule"));
            }
            for part in ["**What.**", "**Why.**", "**Example.**", "**Fix.**"] {
                if !body.contains(part) {
                    problems.push(format!("section `## {title}` lacks {part}"));
                }
            }
        }
        problems.sort();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
