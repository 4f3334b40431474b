//! `dangerous-triggers`: `pull_request_target` and `workflow_run` start workflows with the base
//! repository's secrets and a write-capable token on events outsiders can cause; every use
//! deserves a review. Workflows that only label pull requests with `actions/labeler` (the use
//! GitHub documents) and workflows restricted to a read-only token without secrets are quiet.
use super::security::{secret_refs, uses_action};
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::model::Workflow;
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, NodeKind};

pub struct DangerousTriggers;

static META: RuleMeta = RuleMeta {
    id: "dangerous-triggers",
    severity: Severity::Warning,
    summary: "Flags `pull_request_target` and `workflow_run` triggers, which run outsider-started workflows with secrets and a write token.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for DangerousTriggers {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        if only_labeler(&wf) || read_only_without_secrets(&wf) {
            return;
        }
        for (event, _) in wf.events() {
            let message = match event.as_str() {
                Some("pull_request_target") => {
                    "`pull_request_target` runs with the base repository's secrets and a write token for pull requests from any fork"
                }
                Some("workflow_run") => {
                    "`workflow_run` runs with secrets and a write token after workflows that forks can trigger; their artifacts and head refs are untrusted"
                }
                _ => continue,
            };
            out.push(cx.finding(&META, event.span, message).help(
                "prefer `pull_request`; if the privileged trigger is needed, never check out or run the pull request's code, treat artifacts as data, and keep `permissions:` minimal",
            ));
        }
    }
}

/// One job whose steps all use `actions/labeler`: the blessed use of `pull_request_target`.
fn only_labeler(wf: &Workflow<'_>) -> bool {
    let jobs: Vec<_> = wf.jobs().collect();
    jobs.len() == 1 && {
        let steps: Vec<_> = jobs[0].steps().collect();
        !steps.is_empty() && steps.iter().all(|s| uses_action(s, "actions/labeler"))
    }
}

/// Every job's token is explicitly read-only (or has no scopes) and no secret is read:
/// an outsider-started run then has nothing to steal or abuse.
fn read_only_without_secrets(wf: &Workflow<'_>) -> bool {
    let workflow_ro = wf.permissions().is_some_and(|p| read_only(&p.value));
    let jobs_ro = wf.jobs().all(|j| match j.permissions() {
        Some(p) => read_only(&p.value),
        None => workflow_ro,
    });
    jobs_ro && !reads_secrets(wf.root)
}

fn read_only(perms: &Node) -> bool {
    match &perms.kind {
        NodeKind::Scalar(s) => s.text == "read-all",
        NodeKind::Map(entries) => entries.iter().all(|e| e.value.as_str() != Some("write")),
        NodeKind::Seq(_) => false,
    }
}

fn reads_secrets(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Scalar(s) => !secret_refs(&s.text).is_empty(),
        NodeKind::Seq(items) => items.iter().any(reads_secrets),
        NodeKind::Map(entries) => entries.iter().any(|e| {
            (e.key.as_str() == Some("secrets") && e.value.as_str() == Some("inherit"))
                || reads_secrets(&e.value)
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn flags_privileged_triggers_at_their_key() {
        let src = "on:\n  push:\n  pull_request_target:\n    types: [opened]\n  workflow_run:\n    workflows: [ci]\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ secrets.A }}\n";
        let got = lint("wf.yml", src, "dangerous-triggers");
        assert_eq!(
            got.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(3, 3), (5, 3)]
        );
        let list = "on: [pull_request_target]\njobs:\n  a: {runs-on: x, steps: [{run: make}]}\n";
        assert_eq!(lint("wf.yml", list, "dangerous-triggers").len(), 1);
    }

    #[test]
    fn labeler_and_read_only_workflows_are_quiet() {
        let labeler = "on: pull_request_target\njobs:\n  l:\n    runs-on: x\n    steps:\n      - uses: actions/labeler@v5\n";
        assert!(lint("wf.yml", labeler, "dangerous-triggers").is_empty());
        let ro = "on: pull_request_target\npermissions:\n  contents: read\njobs:\n  a: {runs-on: x, steps: [{run: make}]}\n";
        assert!(lint("wf.yml", ro, "dangerous-triggers").is_empty());
        let ro_secret = "on: pull_request_target\npermissions: {}\njobs:\n  a: {runs-on: x, steps: [{run: 'curl -H ${{ secrets.T }}'}]}\n";
        assert_eq!(lint("wf.yml", ro_secret, "dangerous-triggers").len(), 1);
    }
}
