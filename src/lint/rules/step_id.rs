//! `step-id`: step ids use the allowed characters and are unique within their job (or
//! composite action), ignoring case.
use super::ids::is_valid_id;
use super::security::step_lists;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use std::collections::HashMap;

pub struct StepId;

static META: RuleMeta = RuleMeta {
    id: "step-id",
    severity: Severity::Error,
    summary: "Checks that step ids have a valid syntax and are unique within their job, ignoring case.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for StepId {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        for list in step_lists(cx) {
            let mut seen: HashMap<String, u32> = HashMap::new();
            for step in &list.steps {
                let Some(node) = step.id() else { continue };
                let Some(id) = node.as_str() else { continue };
                if node.is_expression() {
                    continue;
                }
                if !is_valid_id(id) {
                    out.push(
                        cx.finding(&META, node.span, format!("step id `{id}` is not valid"))
                            .help("a step id must start with a letter or `_` and contain only letters, digits, `-` and `_`"),
                    );
                }
                if let Some(line) = seen.get(&id.to_ascii_lowercase()) {
                    out.push(
                        cx.finding(
                            &META,
                            node.span,
                            format!("step id `{id}` is already used by the step at line {line}"),
                        )
                        .help("step ids must be unique within a job (ignoring case): rename one"),
                    );
                } else {
                    seen.insert(id.to_ascii_lowercase(), node.span.start.line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn syntax_and_duplicates_per_job() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: build\n        run: x\n      - id: Build\n        run: x\n      - id: 'bad id'\n        run: x\n  b:\n    runs-on: x\n    steps:\n      - id: build\n        run: x\n";
        let found = lint("w.yml", src, "step-id");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            (
                8,
                13,
                "step id `Build` is already used by the step at line 6".to_string()
            )
        );
        assert_eq!((found[1].0, found[1].1), (10, 13));
    }
}
