//! `local-action-inputs`: a step using a local action (`uses: ./dir`) passes only inputs
//! the action's `action.yml` declares, and every required input without a default.
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, ScalarValue};
use crate::lint::{LintContext, ParsedFile};
use std::sync::Arc;

pub struct LocalActionInputs;

static META: RuleMeta = RuleMeta {
    id: "local-action-inputs",
    severity: Severity::Error,
    summary: "Checks `with:` of steps using local actions against the inputs their action.yml declares.",
    applies: Applies::Both,
    fixable: false,
};

/// Reads the metadata of local action `./dir` (action.yml, then action.yaml).
pub fn read_local_action(cx: &LintContext<'_>, uses: &str) -> Option<Arc<ParsedFile>> {
    let dir = super::uses_syntax::local_path(uses)
        .unwrap_or(uses)
        .trim_end_matches('/');
    let base = if dir.is_empty() || dir == "." {
        String::new()
    } else {
        format!("{dir}/")
    };
    cx.local
        .read(&format!("{base}action.yml"))
        .or_else(|| cx.local.read(&format!("{base}action.yaml")))
}

impl Rule for LocalActionInputs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        for list in super::security::step_lists(cx) {
            for step in &list.steps {
                let Some(uses_node) = step.uses() else { continue };
                let Some(uses) = uses_node.as_str() else { continue };
                if !(uses == "." || super::uses_syntax::local_path(uses).is_some()) || uses.contains("${{") {
                    continue;
                }
                // A missing file is not reported: the action may be checked out at run time.
                let Some(action) = read_local_action(cx, uses) else {
                    continue;
                };
                let Some(root) = action.yaml.root() else { continue };
                let using = root
                    .get("runs")
                    .and_then(|r| r.get("using"))
                    .and_then(Node::as_str)
                    .unwrap_or_default();
                let inputs = root.get("inputs");
                let declared: Vec<(&str, &Node)> = inputs
                    .map(|i| i.entries().map(|(k, e)| (k, &e.value)).collect())
                    .unwrap_or_default();
                let with = step.with();
                for (name, entry) in with.map(|w| w.entries().collect::<Vec<_>>()).unwrap_or_default() {
                    // Docker actions take `args` and `entrypoint` overrides in `with:` too.
                    if using == "docker" && matches!(name, "args" | "entrypoint") {
                        continue;
                    }
                    if !declared.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                        let names: Vec<&str> = declared.iter().map(|(k, _)| *k).collect();
                        out.push(
                            cx.finding(
                                &META,
                                entry.key.span,
                                format!("input `{name}` is not defined by action `{uses}`"),
                            )
                            .help(if names.is_empty() {
                                "the action declares no inputs".to_string()
                            } else {
                                format!("its inputs: {}", names.join(", "))
                            }),
                        );
                    }
                }
                for (name, spec) in &declared {
                    let required = spec
                        .get("required")
                        .and_then(Node::as_scalar)
                        .is_some_and(|s| s.value() == ScalarValue::Bool(true) || s.text == "true");
                    let has_default = spec.get("default").is_some_and(|d| !d.is_null());
                    let given = with.is_some_and(|w| w.entries().any(|(k, _)| k.eq_ignore_ascii_case(name)));
                    if required && !has_default && !given {
                        let at = step.field("uses").map_or(uses_node.span, |e| e.key.span);
                        out.push(
                            cx.finding(
                                &META,
                                at,
                                format!("required input `{name}` of action `{uses}` is not given"),
                            )
                            .help(format!("add `{name}:` under `with:`")),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint_with;
    use crate::lint::{Config, LocalFiles, ParsedFile};
    use std::sync::Arc;

    struct OneAction;
    impl LocalFiles for OneAction {
        fn read(&self, rel: &str) -> Option<Arc<ParsedFile>> {
            (rel == ".github/actions/setup/action.yml").then(|| {
                Arc::new(ParsedFile::parse(
                    b"name: s\ndescription: d\ninputs:\n  version:\n    required: true\n  cache:\n    default: 'true'\n  token:\n    required: true\n    default: x\nruns:\n  using: composite\n  steps: []\n",
                ))
            })
        }
    }

    #[test]
    fn unknown_and_missing_required_inputs() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./.github/actions/setup\n        with:\n          Cache: false\n          verison: 3\n      - uses: ./.github/actions/other\n";
        let found = lint_with(
            "w.yml",
            src,
            "local-action-inputs",
            &Config::default(),
            &OneAction,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (6, 9));
        assert!(found[0].2.contains("required input `version`"));
        assert_eq!((found[1].0, found[1].1), (9, 11));
    }
}
