//! `workflow-inputs`: inputs of `workflow_dispatch` and `workflow_call` have valid ids and
//! types, `choice` inputs have `options`, and defaults fit the declared type.
use super::ids::is_valid_id;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Entry, Node, ScalarValue};
use std::collections::HashMap;

pub struct WorkflowInputs;

static META: RuleMeta = RuleMeta {
    id: "workflow-inputs",
    severity: Severity::Error,
    summary: "Checks `workflow_dispatch`/`workflow_call` inputs: ids, types, choice options and defaults matching the type.",
    applies: Applies::Workflows,
    fixable: false,
};

const DISPATCH_TYPES: &[&str] = &["string", "boolean", "choice", "number", "environment"];
const CALL_TYPES: &[&str] = &["string", "boolean", "number"];

impl Rule for WorkflowInputs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for (event, types) in [
            ("workflow_dispatch", DISPATCH_TYPES),
            ("workflow_call", CALL_TYPES),
        ] {
            let Some((_, Some(config))) = wf.event(event) else {
                continue;
            };
            let Some(inputs) = config.get("inputs") else {
                continue;
            };
            let mut seen: HashMap<String, &str> = HashMap::new();
            for (id, entry) in inputs.entries() {
                if !is_valid_id(id) {
                    out.push(
                        cx.finding(&META, entry.key.span, format!("input id `{id}` is not valid"))
                            .help("an input id must start with a letter or `_` and contain only letters, digits, `-` and `_`"),
                    );
                }
                if let Some(first) = seen.insert(id.to_ascii_lowercase(), id)
                    && first != id
                {
                    out.push(cx.finding(
                        &META,
                        entry.key.span,
                        format!("input `{id}` differs from input `{first}` only in case"),
                    ));
                }
                check_input(cx, event, id, entry, types, out);
            }
        }
    }
}

fn check_input(
    cx: &LintContext<'_>,
    event: &str,
    id: &str,
    entry: &Entry,
    types: &[&str],
    out: &mut Vec<Finding>,
) {
    let input = &entry.value;
    let ty_node = input.get("type");
    let ty = ty_node.and_then(Node::as_str).unwrap_or("string");
    if let Some(node) = ty_node
        && !types.contains(&ty)
    {
        out.push(
            cx.finding(
                &META,
                node.span,
                format!("`{ty}` is not an input type of `{event}`"),
            )
            .help(format!("valid types: {}", types.join(", "))),
        );
        return;
    }
    let options = input.get("options");
    if ty == "choice" && options.and_then(Node::as_seq).is_none_or(<[Node]>::is_empty) {
        out.push(
            cx.finding(
                &META,
                entry.key.span,
                format!("choice input `{id}` has no `options`"),
            )
            .help("list the allowed values under `options:`"),
        );
    }
    if ty != "choice"
        && let Some(o) = input.entry("options")
    {
        out.push(
            cx.finding(
                &META,
                o.key.span,
                format!("`options` only applies to `type: choice`, but input `{id}` is `{ty}`"),
            )
            .severity(Severity::Warning),
        );
    }
    let Some(default) = input.get("default") else {
        return;
    };
    if default.is_expression() {
        return;
    }
    let Some(scalar) = default.as_scalar() else { return };
    let text = scalar.text.as_str();
    let problem = match ty {
        "boolean" => match scalar.value() {
            ScalarValue::Bool(_) => None,
            _ if matches!(text, "true" | "false") => None,
            _ => Some(format!(
                "default `{text}` of boolean input `{id}` is not `true` or `false`"
            )),
        },
        "number" => match scalar.value() {
            ScalarValue::Int(_) | ScalarValue::Float(_) => None,
            _ if text.trim().parse::<f64>().is_ok() => None,
            _ => Some(format!("default `{text}` of number input `{id}` is not a number")),
        },
        "choice" => match options.and_then(Node::as_seq) {
            Some(opts) if !opts.iter().any(|o| o.as_str() == Some(text)) => Some(format!(
                "default `{text}` of choice input `{id}` is not one of its options"
            )),
            _ => None,
        },
        _ => None,
    };
    if let Some(msg) = problem {
        out.push(cx.finding(&META, default.span, msg));
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn types_options_defaults() {
        let src = "on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [a, b]\n        default: c\n      dry:\n        type: boolean\n        default: yes\n      n:\n        type: number\n        default: '3'\n      e:\n        type: environment\n  workflow_call:\n    inputs:\n      x:\n        type: choice\n        options: [a]\njobs: {}\n";
        let found = lint("w.yml", src, "workflow-inputs");
        let lines: Vec<u32> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, vec![7, 10, 18], "{found:?}");
    }
}
