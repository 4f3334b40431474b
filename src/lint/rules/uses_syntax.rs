//! `uses-syntax`: `uses:` references have a form GitHub can resolve: `owner/repo[/path]@ref`,
//! `./local/dir`, `docker://image` for steps; `owner/repo/.github/workflows/f.yml@ref` or
//! `./.github/workflows/f.yml` for jobs calling reusable workflows.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct UsesSyntax;

static META: RuleMeta = RuleMeta {
    id: "uses-syntax",
    severity: Severity::Error,
    summary: "Checks the form of `uses:` in steps (action, local, docker) and jobs (reusable workflows).",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for UsesSyntax {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        for list in super::security::step_lists(cx) {
            for step in &list.steps {
                if let Some(node) = step.uses() {
                    report(cx, node, step_problem, out);
                }
            }
        }
        if let Some(wf) = cx.workflow() {
            for job in wf.jobs() {
                if let Some(node) = job.uses() {
                    report(cx, node, workflow_problem, out);
                }
            }
        }
    }
}

fn report(
    cx: &LintContext<'_>,
    node: &Node,
    check: fn(&str) -> Option<(String, &'static str)>,
    out: &mut Vec<Finding>,
) {
    let Some(text) = node.as_str() else { return };
    if text.contains("${{") {
        out.push(
            cx.finding(
                &META,
                node.span,
                format!("`uses: {text}` contains an expression, which GitHub does not evaluate here"),
            )
            .help(
                "`uses:` must be a literal reference; pick the action with `if:` on separate steps instead",
            ),
        );
        return;
    }
    if let Some((msg, help)) = check(text) {
        out.push(cx.finding(&META, node.span, msg).help(help));
    }
}

const REMOTE_HELP: &str =
    "write `owner/repo@ref` or `owner/repo/path@ref` (ref = tag, branch or full commit SHA)";

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Problems of a step's `uses:` value.
pub fn step_problem(text: &str) -> Option<(String, &'static str)> {
    if text.trim() != text || text.is_empty() {
        return Some((
            format!("`uses: {text}` has surrounding whitespace or is empty"),
            REMOTE_HELP,
        ));
    }
    if let Some(local) = local_path(text).or(if text == "." { Some("") } else { None }) {
        if local.contains('@') {
            return Some((
                format!("local action `{text}` cannot have an `@ref`"),
                "local actions always come from the checked-out workspace",
            ));
        }
        if local.ends_with(".yml") || local.ends_with(".yaml") {
            return Some((
                format!("local action `{text}` names a file"),
                "point `uses:` at the directory that holds action.yml, not at the file",
            ));
        }
        return None;
    }
    if let Some(image) = text.strip_prefix("docker://") {
        if image.is_empty() || image.contains(char::is_whitespace) {
            return Some((
                format!("`{text}` does not name a docker image"),
                "write `docker://image:tag` or `docker://image@sha256:…`",
            ));
        }
        return None;
    }
    remote_problem(text, false)
}

/// Problems of a job's `uses:` (reusable workflow) value.
pub fn workflow_problem(text: &str) -> Option<(String, &'static str)> {
    const WF_HELP: &str =
        "write `owner/repo/.github/workflows/file.yml@ref` or `./.github/workflows/file.yml`";
    if let Some(local) = local_path(text) {
        if local.contains('@') {
            return Some((
                format!("local reusable workflow `{text}` cannot have an `@ref`"),
                WF_HELP,
            ));
        }
        if !is_workflow_path(local) {
            return Some((
                format!("`{text}` is not a workflow file under .github/workflows/"),
                WF_HELP,
            ));
        }
        return None;
    }
    if let Some(p) = remote_problem(text, true) {
        return Some(p);
    }
    let name = text.rsplit_once('@').map_or(text, |(n, _)| n);
    let path = name.splitn(3, '/').nth(2).unwrap_or_default();
    if !is_workflow_path(path) {
        return Some((
            format!("`{text}` does not name a workflow file under .github/workflows/"),
            WF_HELP,
        ));
    }
    None
}

/// The repository-relative path of a same-repository reference: `./path`, or `$/path`
/// (seen in current real-world workflows for the calling repository at the same commit).
pub fn local_path(text: &str) -> Option<&str> {
    text.strip_prefix("./").or_else(|| text.strip_prefix("$/"))
}

fn is_workflow_path(p: &str) -> bool {
    p.strip_prefix(".github/workflows/")
        .is_some_and(|f| !f.contains('/') && (f.ends_with(".yml") || f.ends_with(".yaml")))
}

fn remote_problem(text: &str, workflow: bool) -> Option<(String, &'static str)> {
    let help = if workflow {
        "write `owner/repo/.github/workflows/file.yml@ref`"
    } else {
        REMOTE_HELP
    };
    let Some((name, git_ref)) = text.rsplit_once('@') else {
        return Some((format!("`{text}` has no `@ref`"), help));
    };
    if git_ref.is_empty() || git_ref.contains(char::is_whitespace) {
        return Some((format!("`{text}` has an empty or malformed ref"), help));
    }
    let mut parts = name.splitn(3, '/');
    let (owner, repo) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !valid_name(owner) || !valid_name(repo) {
        return Some((format!("`{text}` is not of the form `owner/repo@ref`"), help));
    }
    if parts.next().is_some_and(|p| p.is_empty() || p.contains("//")) {
        return Some((format!("`{text}` has an empty path segment"), help));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::lint;

    #[test]
    fn step_forms() {
        for ok in [
            "actions/checkout@v4",
            "o/r/sub/dir@0123",
            "./.github/actions/x",
            ".",
            "docker://alpine:3",
        ] {
            assert!(step_problem(ok).is_none(), "{ok}");
        }
        for bad in [
            "actions/checkout",
            "actions@v1",
            "./x/action.yml",
            "docker://",
            "o/r@",
            "./x@v1",
        ] {
            assert!(step_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn workflow_forms() {
        assert!(workflow_problem("o/r/.github/workflows/ci.yml@v1").is_none());
        assert!(workflow_problem("./.github/workflows/ci.yaml").is_none());
        assert!(workflow_problem("$/.github/workflows/ci.yaml").is_none());
        assert!(workflow_problem("o/r@v1").is_some());
        assert!(workflow_problem("./ci.yml").is_some());
    }

    #[test]
    fn findings_point_at_the_value() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout\n      - uses: ${{ matrix.a }}\n  b:\n    uses: o/r@v1\n";
        let found = lint("w.yml", src, "uses-syntax");
        let at: Vec<(u32, u32)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(at, vec![(6, 15), (7, 15), (9, 11)], "{found:?}");
    }
}
