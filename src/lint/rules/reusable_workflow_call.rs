//! `reusable-workflow-call`: a job calling a local reusable workflow (`uses:
//! ./.github/workflows/x.yml`) matches the callee's `on.workflow_call`: known and required
//! inputs (with literal values of the declared type), known and required secrets, and
//! `needs.<job>.outputs.<name>` naming outputs the callee declares.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, ScalarValue};

pub struct ReusableWorkflowCall;

static META: RuleMeta = RuleMeta {
    id: "reusable-workflow-call",
    severity: Severity::Error,
    summary: "Checks calls of local reusable workflows against the callee's `workflow_call` inputs, secrets and outputs.",
    applies: Applies::Workflows,
    fixable: false,
};

fn truthy(n: Option<&Node>) -> bool {
    n.and_then(Node::as_scalar)
        .is_some_and(|s| s.value() == ScalarValue::Bool(true) || s.text == "true")
}

impl Rule for ReusableWorkflowCall {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for job in wf.jobs() {
            let Some(uses_node) = job.uses() else { continue };
            let Some(uses) = uses_node.as_str() else { continue };
            let Some(rel) = super::uses_syntax::local_path(uses) else {
                continue;
            };
            if uses.contains("${{") || uses.contains('@') {
                continue;
            }
            // Not found: `uses-syntax` judges the form; the file may come from a checkout.
            let Some(callee) = cx.local.read(rel) else {
                continue;
            };
            let Some(root) = callee.yaml.root() else { continue };
            let Some(callee_wf) = crate::lint::Workflow::new(root) else {
                continue;
            };
            let Some((_, call)) = callee_wf.event("workflow_call") else {
                out.push(
                    cx.finding(
                        &META,
                        uses_node.span,
                        format!("`{uses}` is not a reusable workflow: it has no `on: workflow_call`"),
                    )
                    .help("add `workflow_call:` to the callee's `on:`"),
                );
                continue;
            };
            let empty = Node {
                span: uses_node.span,
                kind: crate::lint::NodeKind::Map(Vec::new()),
            };
            let call = call.unwrap_or(&empty);
            let at_uses = job.field("uses").map_or(uses_node.span, |e| e.key.span);
            // Inputs.
            let inputs = call.get("inputs");
            let given = job.with();
            for (name, entry) in given.map(|w| w.entries().collect::<Vec<_>>()).unwrap_or_default() {
                match inputs.and_then(|i| i.get(name)) {
                    None => out.push(
                        cx.finding(
                            &META,
                            entry.key.span,
                            format!("input `{name}` is not declared by `{uses}`"),
                        )
                        .help(declared("inputs", inputs)),
                    ),
                    Some(spec) => check_type(cx, name, spec, &entry.value, out),
                }
            }
            for (name, entry) in inputs
                .map(|i| i.entries().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let spec = &entry.value;
                let passed = given.and_then(|g| g.get(name)).is_some();
                if truthy(spec.get("required")) && spec.get("default").is_none() && !passed {
                    out.push(
                        cx.finding(
                            &META,
                            at_uses,
                            format!("required input `{name}` of `{uses}` is not given"),
                        )
                        .help(format!("add `{name}:` under `with:`")),
                    );
                }
            }
            // Secrets.
            let secrets = call.get("secrets");
            let passed = job.secrets();
            let inherit = passed.and_then(Node::as_str) == Some("inherit");
            if !inherit {
                for (name, entry) in passed
                    .map(|p| p.entries().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if secrets.and_then(|s| s.get(name)).is_none() {
                        out.push(
                            cx.finding(
                                &META,
                                entry.key.span,
                                format!("secret `{name}` is not declared by `{uses}`"),
                            )
                            .help(declared("secrets", secrets)),
                        );
                    }
                }
                for (name, entry) in secrets
                    .map(|s| s.entries().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if truthy(entry.value.get("required")) && passed.and_then(|p| p.get(name)).is_none() {
                        out.push(
                            cx.finding(&META, at_uses, format!("required secret `{name}` of `{uses}` is not passed"))
                                .help(format!("add `{name}: ${{{{ secrets.{name} }}}}` under `secrets:`, or `secrets: inherit`")),
                        );
                    }
                }
            }
            // Outputs read by dependants.
            let outputs = call.get("outputs");
            check_output_refs(cx, &wf, job.id(), uses, outputs, out);
        }
    }
}

fn declared(what: &str, node: Option<&Node>) -> String {
    let names: Vec<&str> = node
        .map(|n| n.entries().map(|(k, _)| k).collect())
        .unwrap_or_default();
    if names.is_empty() {
        format!("the callee declares no {what}")
    } else {
        format!("declared {what}: {}", names.join(", "))
    }
}

fn check_type(cx: &LintContext<'_>, name: &str, spec: &Node, value: &Node, out: &mut Vec<Finding>) {
    let Some(ty) = spec.get("type").and_then(Node::as_str) else {
        return;
    };
    let Some(scalar) = value.as_scalar() else { return };
    if value.is_expression() {
        return;
    }
    let ok = match ty {
        "boolean" => matches!(scalar.value(), ScalarValue::Bool(_)),
        "number" => matches!(scalar.value(), ScalarValue::Int(_) | ScalarValue::Float(_)),
        "string" => !matches!(scalar.value(), ScalarValue::Null),
        _ => true,
    };
    if !ok {
        out.push(cx.finding(
            &META,
            value.span,
            format!(
                "input `{name}` is declared as {ty}, but `{}` is given",
                scalar.text
            ),
        ));
    }
}

/// Scans the other jobs' text for `needs.<caller>.outputs.<name>` and checks each name.
fn check_output_refs(
    cx: &LintContext<'_>,
    wf: &crate::lint::Workflow<'_>,
    caller: &str,
    uses: &str,
    outputs: Option<&Node>,
    out: &mut Vec<Finding>,
) {
    let names: Vec<&str> = outputs
        .map(|o| o.entries().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let needle = format!("needs.{caller}.outputs.");
    for job in wf.jobs() {
        if !job
            .needs()
            .iter()
            .any(|n| n.as_str().is_some_and(|s| s.eq_ignore_ascii_case(caller)))
        {
            continue;
        }
        let text = cx.text(job.node().span);
        let base = job.node().span.start.offset as usize;
        for (at, _) in text.match_indices(&needle) {
            let rest = &text[at + needle.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if name.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                continue;
            }
            let start = base + at;
            let end = start + needle.len() + name.len();
            let lines = &cx.file.lines;
            let span = crate::lint::Span::new(
                lines.pos_of_offset(cx.source(), start),
                lines.pos_of_offset(cx.source(), end),
            );
            out.push(
                cx.finding(
                    &META,
                    span,
                    format!("`{uses}` declares no output `{name}` (read through `needs.{caller}.outputs`)"),
                )
                .help(declared("outputs", outputs)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint_with;
    use crate::lint::{Config, LocalFiles, ParsedFile};
    use std::sync::Arc;

    struct Callee;
    impl LocalFiles for Callee {
        fn read(&self, rel: &str) -> Option<Arc<ParsedFile>> {
            let text: &[u8] = match rel {
                ".github/workflows/build.yml" => b"on:\n  workflow_call:\n    inputs:\n      target:\n        type: string\n        required: true\n      debug:\n        type: boolean\n    secrets:\n      token:\n        required: true\n    outputs:\n      version:\n        value: ${{ jobs.b.outputs.v }}\njobs:\n  b:\n    runs-on: x\n    steps: [{run: x}]\n",
                ".github/workflows/plain.yml" => b"on: push\njobs: {}\n",
                _ => return None,
            };
            Some(Arc::new(ParsedFile::parse(text)))
        }
    }

    #[test]
    fn inputs_secrets_outputs() {
        let src = "on: push\njobs:\n  call:\n    uses: ./.github/workflows/build.yml\n    with:\n      debug: 'yes'\n      tagret: x\n  use:\n    needs: call\n    runs-on: x\n    steps:\n      - run: echo ${{ needs.call.outputs.version }} ${{ needs.call.outputs.sha }}\n  other:\n    uses: ./.github/workflows/plain.yml\n";
        let found = lint_with(
            "w.yml",
            src,
            "reusable-workflow-call",
            &Config::default(),
            &Callee,
        );
        let msgs: Vec<String> = found.iter().map(|f| format!("{}:{} {}", f.0, f.1, f.2)).collect();
        assert_eq!(found.len(), 6, "{msgs:#?}");
        assert!(msgs.iter().any(|m| m.starts_with("4:5 required input `target`")));
        assert!(msgs.iter().any(|m| m.starts_with("4:5 required secret `token`")));
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("6:14 input `debug` is declared as boolean"))
        );
        assert!(msgs.iter().any(|m| m.starts_with("7:7 input `tagret`")));
        assert!(msgs.iter().any(|m| m.contains("no output `sha`")));
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("14:11 `./.github/workflows/plain.yml` is not a reusable workflow"))
        );
    }
}
