//! `excessive-permissions`: `permissions: write-all` (workflow or job), and write scopes set at
//! the workflow level where several jobs inherit them although usually one needs them.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Entry;

pub struct ExcessivePermissions;

static META: RuleMeta = RuleMeta {
    id: "excessive-permissions",
    severity: Severity::Error,
    summary: "Checks for `write-all` permissions and write scopes granted to every job at the workflow level.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for ExcessivePermissions {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        let inheriting: Vec<&str> = wf
            .jobs()
            .filter(|j| j.permissions().is_none())
            .map(|j| j.id())
            .collect();
        if let Some(perms) = wf.permissions() {
            check_workflow_level(cx, perms, &inheriting, out);
        }
        for job in wf.jobs() {
            if let Some(perms) = job.permissions()
                && perms.value.as_str() == Some("write-all")
            {
                let message = format!(
                    "job `{}` has `permissions: write-all`: its token can write to every scope of the repository",
                    job.id()
                );
                out.push(cx.finding(&META, perms.value.span, message).help(HELP));
            }
        }
    }
}

const HELP: &str =
    "list only the scopes the job uses, e.g. `permissions: { contents: read, pull-requests: write }`";

fn check_workflow_level(cx: &LintContext<'_>, perms: &Entry, inheriting: &[&str], out: &mut Vec<Finding>) {
    if perms.value.as_str() == Some("write-all") {
        let message = if inheriting.is_empty() {
            "workflow-level `permissions: write-all` grants write access to every scope".to_string()
        } else {
            format!(
                "workflow-level `permissions: write-all` gives {} write access to every scope of the repository",
                jobs_phrase(inheriting)
            )
        };
        out.push(cx.finding(&META, perms.value.span, message).help(HELP));
        return;
    }
    // A broad grant matters only where more than one job inherits it; with one job it is
    // the same as a job-level grant.
    if inheriting.len() < 2 {
        return;
    }
    for (scope, entry) in perms.value.entries() {
        if entry.value.as_str() != Some("write") {
            continue;
        }
        let message = format!(
            "`{scope}: write` at the workflow level is inherited by {}; grant it only to the job that needs it",
            jobs_phrase(inheriting)
        );
        let help = format!(
            "set `permissions: {{ contents: read }}` at the workflow level and `{scope}: write` in the one job that writes"
        );
        out.push(
            cx.finding(&META, entry.key.span, message)
                .severity(Severity::Warning)
                .help(help),
        );
    }
}

fn jobs_phrase(jobs: &[&str]) -> String {
    let shown: Vec<String> = jobs.iter().take(4).map(|j| format!("`{j}`")).collect();
    let more = jobs.len().saturating_sub(4);
    let list = if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    };
    if jobs.len() == 1 {
        format!("job {list}")
    } else {
        format!("jobs {list}")
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::finding::Severity;
    use crate::lint::testing::{findings, lint};

    #[test]
    fn write_all_is_an_error_at_both_levels() {
        let src = "on: push\npermissions: write-all\njobs:\n  a:\n    runs-on: x\n    steps: [{run: make}]\n  b:\n    runs-on: x\n    permissions: write-all\n    steps: [{run: make}]\n";
        let got = lint("wf.yml", src, "excessive-permissions");
        assert_eq!(
            got.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(2, 14), (9, 18)],
            "{got:?}"
        );
        assert!(got[0].2.contains("job `a`"));
    }

    #[test]
    fn workflow_write_scopes_warn_only_when_shared() {
        let shared = "on: push\npermissions:\n  contents: write\n  issues: read\njobs:\n  a: {runs-on: x, steps: [{run: a}]}\n  b: {runs-on: x, steps: [{run: b}]}\n";
        let all = findings("wf.yml", shared);
        let got: Vec<_> = all.iter().filter(|f| f.rule == "excessive-permissions").collect();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].span.start.line, got[0].span.start.col, got[0].severity),
            (3, 3, Severity::Warning)
        );
        let single =
            "on: push\npermissions:\n  contents: write\njobs:\n  a: {runs-on: x, steps: [{run: a}]}\n";
        assert!(lint("wf.yml", single, "excessive-permissions").is_empty());
        let overridden = "on: push\npermissions:\n  contents: write\njobs:\n  a: {runs-on: x, permissions: {}, steps: [{run: a}]}\n  b: {runs-on: x, permissions: read-all, steps: [{run: b}]}\n";
        assert!(lint("wf.yml", overridden, "excessive-permissions").is_empty());
    }
}
