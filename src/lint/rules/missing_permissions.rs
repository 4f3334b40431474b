//! `missing-permissions`: jobs without a `permissions:` block in a workflow that sets none,
//! so their token gets the repository's default permissions. `--fix` adds
//! `permissions: contents: read` at the workflow level.
use crate::lint::LintContext;
use crate::lint::finding::{Edit, Finding, Severity};
use crate::lint::model::Workflow;
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct MissingPermissions;

static META: RuleMeta = RuleMeta {
    id: "missing-permissions",
    severity: Severity::Warning,
    summary: "Checks that every job's token permissions are declared, at the job or the workflow level.",
    applies: Applies::Workflows,
    fixable: true,
};

impl Rule for MissingPermissions {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        if wf.permissions().is_some() || is_reusable_only(&wf) {
            return;
        }
        let mut fix = insert_read_only_block(cx, &wf);
        for job in wf.jobs().filter(|j| j.permissions().is_none()) {
            let message = format!(
                "job `{}` has no `permissions:` and the workflow sets none, so its token gets the repository's default permissions (read-write on many repositories)",
                job.id()
            );
            let mut finding = cx.finding(&META, job.key().span, message).help(
                "add `permissions: { contents: read }` at the workflow level and grant more only in the jobs that need it",
            );
            // One edit fixes every job of the file: attach it once.
            if let Some(edit) = fix.take() {
                finding = finding.fix(
                    "add `permissions: contents: read` at the workflow level",
                    vec![edit],
                );
            }
            out.push(finding);
        }
    }
}

/// A workflow triggered only by `workflow_call` runs with the caller's permissions.
fn is_reusable_only(wf: &Workflow<'_>) -> bool {
    let events = wf.events();
    !events.is_empty() && events.iter().all(|(k, _)| k.as_str() == Some("workflow_call"))
}

/// An insertion of the block just above the top-level `jobs:` key (and above comment lines
/// directly on top of it), indented like that key. `None` when `jobs:` is not a block key at
/// the start of its line (flow-style mappings are left alone).
fn insert_read_only_block(cx: &LintContext<'_>, wf: &Workflow<'_>) -> Option<Edit> {
    let jobs = wf.jobs_node()?;
    let source = cx.source();
    let key_start = jobs.key.span.start.offset as usize;
    let line_start = source.get(..key_start)?.rfind('\n').map_or(0, |i| i + 1);
    let indent = source.get(line_start..key_start)?;
    if !indent.chars().all(|c| c == ' ') {
        return None;
    }
    let mut at = line_start;
    while at > 0 {
        let prev_start = source[..at - 1].rfind('\n').map_or(0, |i| i + 1);
        if !source[prev_start..at - 1].trim_start().starts_with('#') {
            break;
        }
        at = prev_start;
    }
    let newline = if source.contains("\r\n") { "\r\n" } else { "\n" };
    Some(Edit {
        start: at,
        end: at,
        replacement: format!("{indent}permissions:{newline}{indent}  contents: read{newline}{newline}"),
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, lint};

    fn apply(src: &str) -> String {
        let all = findings("wf.yml", src);
        let fixes: Vec<_> = all
            .iter()
            .filter(|f| f.rule == "missing-permissions")
            .filter_map(|f| f.fix.clone())
            .collect();
        assert_eq!(fixes.len(), 1, "{all:?}");
        let edit = &fixes[0].edits[0];
        format!("{}{}{}", &src[..edit.start], edit.replacement, &src[edit.end..])
    }

    #[test]
    fn reports_each_job_and_fixes_once() {
        let src = "# CI\non: push\n\n# the jobs\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n  b:\n    runs-on: x\n    permissions: {}\n    steps: [{run: b}]\n  c:\n    uses: ./.github/workflows/r.yml\n";
        let got = lint("wf.yml", src, "missing-permissions");
        assert_eq!(
            got.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(6, 3), (13, 3)]
        );
        assert_eq!(
            apply(src),
            "# CI\non: push\n\npermissions:\n  contents: read\n\n# the jobs\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n  b:\n    runs-on: x\n    permissions: {}\n    steps: [{run: b}]\n  c:\n    uses: ./.github/workflows/r.yml\n"
        );
        let fixed = apply(src);
        assert!(lint("wf.yml", &fixed, "missing-permissions").is_empty());
    }

    #[test]
    fn silent_with_workflow_permissions_or_for_reusable_workflows() {
        let with = "on: push\npermissions: read-all\njobs:\n  a: {runs-on: x, steps: [{run: a}]}\n";
        assert!(lint("wf.yml", with, "missing-permissions").is_empty());
        let reusable = "on: workflow_call\njobs:\n  a: {runs-on: x, steps: [{run: a}]}\n";
        assert!(lint("wf.yml", reusable, "missing-permissions").is_empty());
        let both = "on: [workflow_call, push]\njobs:\n  a: {runs-on: x, steps: [{run: a}]}\n";
        assert_eq!(lint("wf.yml", both, "missing-permissions").len(), 1);
    }
}
