//! `matrix-keys`: `strategy.matrix.exclude` entries name existing matrix axes with values
//! those axes have (otherwise the exclusion silently matches nothing); `include` and
//! `exclude` are lists of mappings.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct MatrixKeys;

static META: RuleMeta = RuleMeta {
    id: "matrix-keys",
    severity: Severity::Error,
    summary: "Checks that matrix `exclude` entries name existing axes and values, and `include`/`exclude` hold mappings.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for MatrixKeys {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for job in wf.jobs() {
            let Some(matrix) = job.matrix() else { continue };
            if matrix.as_map().is_none() {
                continue;
            }
            let axes: Vec<(&str, &Node)> = matrix
                .entries()
                .filter(|(k, _)| !matches!(*k, "include" | "exclude"))
                .map(|(k, e)| (k, &e.value))
                .collect();
            for key in ["include", "exclude"] {
                let Some(list) = matrix.get(key) else { continue };
                if list.is_expression() {
                    continue;
                }
                for item in list.as_seq().unwrap_or_default() {
                    if item.as_map().is_none() && !item.is_expression() {
                        out.push(cx.finding(
                            &META,
                            item.span,
                            format!("each `{key}` entry must be a mapping of matrix keys to values"),
                        ));
                    }
                }
            }
            let Some(exclude) = matrix.get("exclude").and_then(Node::as_seq) else {
                continue;
            };
            for item in exclude {
                for (name, entry) in item.entries() {
                    let Some((_, axis)) = axes.iter().find(|(k, _)| *k == name) else {
                        let names: Vec<&str> = axes.iter().map(|(k, _)| *k).collect();
                        out.push(
                            cx.finding(
                                &META,
                                entry.key.span,
                                format!("`exclude` names `{name}`, which is not a matrix key"),
                            )
                            .help(format!("matrix keys: {}", names.join(", "))),
                        );
                        continue;
                    };
                    let Some(values) = axis.as_seq() else { continue };
                    let Some(wanted) = entry.value.as_str() else {
                        continue;
                    };
                    if entry.value.is_expression()
                        || values.iter().any(|v| v.as_str().is_none() || v.is_expression())
                    {
                        continue;
                    }
                    if !values.iter().any(|v| v.as_str() == Some(wanted)) {
                        let shown: Vec<&str> = values.iter().filter_map(Node::as_str).collect();
                        out.push(
                            cx.finding(
                                &META,
                                entry.value.span,
                                format!("`exclude` value `{wanted}` is not a value of matrix key `{name}`"),
                            )
                            .help(format!("`{name}` is one of: {}", shown.join(", "))),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn exclude_keys_and_values() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: [ubuntu-latest, windows-latest]\n        node: [18, 20]\n        include:\n          - os: macos-latest\n            extra: 1\n        exclude:\n          - os: windows-latest\n            node: 16\n          - platform: x\n    steps: [{run: x}]\n";
        let found = lint("w.yml", src, "matrix-keys");
        let at: Vec<(u32, u32)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(at, vec![(14, 19), (15, 13)], "{found:?}");
    }
}
