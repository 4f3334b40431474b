//! `config-variable`: when the config lists the repository's configuration variables
//! (`config-variables:`), every `vars.NAME` read in an expression names one of them.
use super::security::expressions;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, NodeKind};

pub struct ConfigVariable;

static META: RuleMeta = RuleMeta {
    id: "config-variable",
    severity: Severity::Error,
    summary: "Checks `vars.NAME` references against the configured list of configuration variables.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for ConfigVariable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(known) = &cx.config.config_variables else {
            return;
        };
        let Some(root) = cx.root() else { return };
        walk(root, false, &mut |node, whole| {
            let Some(text) = node.as_str() else { return };
            let ranges: Vec<(usize, &str)> = if whole {
                vec![(0, text)]
            } else {
                expressions(text)
                    .into_iter()
                    .map(|(r, inner)| (r.start + 3, inner))
                    .collect()
            };
            for (base, expr) in ranges {
                for (at, name) in var_refs(expr) {
                    if known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                        continue;
                    }
                    let span = cx.locate(node, base + at, "vars.".len() + name.len());
                    out.push(
                        cx.finding(
                            &META,
                            span,
                            format!("configuration variable `{name}` is not in `config-variables`"),
                        )
                        .help(format!(
                            "known variables: {}; an unset variable reads as an empty string",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )),
                    );
                }
            }
        });
    }
}

/// Calls `visit` for every scalar value; `whole` is true for `if:` values, which are
/// expressions even without `${{ }}`.
fn walk(node: &Node, whole: bool, visit: &mut dyn FnMut(&Node, bool)) {
    match &node.kind {
        NodeKind::Scalar(_) => visit(node, whole && !node.is_expression()),
        NodeKind::Seq(items) => items.iter().for_each(|n| walk(n, false, visit)),
        NodeKind::Map(entries) => {
            for e in entries {
                walk(&e.value, e.key.as_str() == Some("if"), visit);
            }
        }
    }
}

/// `vars.NAME` occurrences outside string literals: (offset of `vars`, NAME).
fn var_refs(expr: &str) -> Vec<(usize, &str)> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\'' {
            in_string = !in_string;
        } else if !in_string
            && expr[i..].starts_with("vars.")
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.' | b'-')))
        {
            let start = i + 5;
            let len = expr[start..]
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
                .count();
            if len > 0 {
                out.push((i, &expr[start..start + len]));
            }
            i = start + len;
            continue;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{lint, lint_with};
    use crate::lint::{Config, NoLocalFiles};

    const SRC: &str = "on: push\njobs:\n  a:\n    if: vars.ENABLED == 'true'\n    runs-on: ${{ vars.RUNNER }}\n    steps:\n      - run: echo \"${{ vars.DEPLOY_ENV }} ${{ 'vars.NOPE' }}\"\n";

    #[test]
    fn checks_only_when_configured() {
        assert!(lint("w.yml", SRC, "config-variable").is_empty());
        let cfg = Config::parse("config-variables: [deploy_env, RUNNER]\n").expect("config");
        let found = lint_with("w.yml", SRC, "config-variable", &cfg, &NoLocalFiles);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (4, 9));
        assert!(found[0].2.contains("`ENABLED`"));
    }
}
