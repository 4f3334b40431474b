//! `permissions-scope`: `permissions:` uses scopes and levels GitHub knows (`read-all`,
//! `write-all`, or a mapping of scope to `read`/`write`/`none` as each scope allows).
use super::job_needs::closest;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::github::{Levels, PERMISSION_SCOPES};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Entry, NodeKind};

pub struct PermissionsScope;

static META: RuleMeta = RuleMeta {
    id: "permissions-scope",
    severity: Severity::Error,
    summary: "Checks `permissions:` scopes and levels at workflow and job level.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for PermissionsScope {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        if let Some(p) = wf.permissions() {
            check(cx, p, out);
        }
        for job in wf.jobs() {
            if let Some(p) = job.permissions() {
                check(cx, p, out);
            }
        }
    }
}

fn check(cx: &LintContext<'_>, perms: &Entry, out: &mut Vec<Finding>) {
    let value = &perms.value;
    match &value.kind {
        NodeKind::Scalar(s) => {
            if !matches!(s.text.as_str(), "read-all" | "write-all") && !value.is_expression() {
                out.push(
                    cx.finding(
                        &META,
                        value.span,
                        format!("`{}` is not a permissions value", s.text),
                    )
                    .help("use `read-all`, `write-all`, `{}` or a mapping of scopes"),
                );
            }
        }
        NodeKind::Seq(_) => out.push(cx.finding(
            &META,
            value.span,
            "`permissions` must be `read-all`, `write-all` or a mapping of scopes",
        )),
        NodeKind::Map(entries) => {
            for e in entries {
                let Some(scope) = e.key.as_str() else { continue };
                let Some((_, levels)) = PERMISSION_SCOPES.iter().find(|(s, _)| *s == scope) else {
                    let names: Vec<&str> = PERMISSION_SCOPES.iter().map(|(s, _)| *s).collect();
                    let help = match closest(scope, &names) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("scopes: {}", names.join(", ")),
                    };
                    out.push(
                        cx.finding(&META, e.key.span, format!("unknown permission scope `{scope}`"))
                            .help(help),
                    );
                    continue;
                };
                let Some(level) = e.value.as_str() else {
                    out.push(cx.finding(
                        &META,
                        e.value.span,
                        format!("permission `{scope}` must be read, write or none"),
                    ));
                    continue;
                };
                let allowed: &[&str] = match levels {
                    Levels::Any => &["read", "write", "none"],
                    Levels::WriteOrNone => &["write", "none"],
                    Levels::ReadOrNone => &["read", "none"],
                };
                if !allowed.contains(&level) {
                    out.push(
                        cx.finding(
                            &META,
                            e.value.span,
                            format!("`{level}` is not a valid level for `{scope}`"),
                        )
                        .help(format!("`{scope}` accepts: {}", allowed.join(", "))),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn scopes_and_levels() {
        let src = "on: push\npermissions:\n  contents: read\n  pull-request: write\n  id-token: read\n  models: read\n  copilot-requests: write\njobs:\n  a:\n    runs-on: x\n    permissions: read\n    steps: [{run: x}]\n";
        let found = lint("w.yml", src, "permissions-scope");
        let at: Vec<(u32, u32)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(at, vec![(4, 3), (5, 13), (11, 18)], "{found:?}");
        assert!(found[0].2.contains("`pull-request`"));
    }
}
