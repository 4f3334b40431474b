//! Which values inside an expression may carry text chosen by someone other than the
//! workflow's author, and therefore must not be pasted into a script. Follows the data
//! flow: comparisons and `contains`-style functions produce booleans and stop it; `format`,
//! `join`, `toJSON`, `fromJSON`, `case` and `||` pass it through, `&&` only its right side.
use super::Span;
use super::ast::{Expr, ExprKind};

/// Where an untrusted value comes from; the rule picks a severity per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Fields of the event payload that anyone who can open an issue, comment or push a
    /// branch controls (titles, bodies, branch names, commit messages, author names).
    Event,
    /// Workflow or action inputs of string type, and `github.event.inputs`.
    Input,
    /// Outputs of earlier steps or jobs, which often echo untrusted data.
    Output,
}

/// One untrusted value: the dotted path as written (lowercased) and its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub source: Source,
    pub path: String,
    pub span: Span,
}

/// Event payload fields an outsider controls, from GitHub's security hardening guide
/// plus the equivalent fields of `discussion` and `workflow_run` events. `*` matches any
/// one segment (array element or property).
const EVENT_PATTERNS: &[&str] = &[
    "github.head_ref",
    "github.event.issue.title",
    "github.event.issue.body",
    "github.event.pull_request.title",
    "github.event.pull_request.body",
    "github.event.pull_request.head.ref",
    "github.event.pull_request.head.label",
    "github.event.pull_request.head.repo.default_branch",
    "github.event.comment.body",
    "github.event.review.body",
    "github.event.review_comment.body",
    "github.event.discussion.title",
    "github.event.discussion.body",
    "github.event.pages.*.page_name",
    "github.event.commits.*.message",
    "github.event.commits.*.author.email",
    "github.event.commits.*.author.name",
    "github.event.commits.*.committer.email",
    "github.event.commits.*.committer.name",
    "github.event.head_commit.message",
    "github.event.head_commit.author.email",
    "github.event.head_commit.author.name",
    "github.event.head_commit.committer.email",
    "github.event.head_commit.committer.name",
    "github.event.workflow_run.head_branch",
    "github.event.workflow_run.display_title",
    "github.event.workflow_run.head_commit.message",
    "github.event.workflow_run.head_commit.author.email",
    "github.event.workflow_run.head_commit.author.name",
    "github.event.workflow_run.pull_requests.*.head.ref",
];

/// Decides whether `inputs.<name>` is untrusted text (string-typed inputs are).
pub trait InputPolicy {
    fn is_untrusted_input(&self, name: &str) -> bool;
}

/// Every input is treated as text (action metadata inputs are always strings).
pub struct AllInputs;

impl InputPolicy for AllInputs {
    fn is_untrusted_input(&self, _name: &str) -> bool {
        true
    }
}

/// The untrusted values that flow into the result of `expr`.
pub fn untrusted_values(expr: &Expr, inputs: &dyn InputPolicy) -> Vec<Untrusted> {
    let mut out = Vec::new();
    collect(expr, inputs, &mut out);
    out
}

fn collect(expr: &Expr, inputs: &dyn InputPolicy, out: &mut Vec<Untrusted>) {
    match &expr.kind {
        ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Not(_) => {
        }
        ExprKind::Context(_)
        | ExprKind::Property { .. }
        | ExprKind::Index { .. }
        | ExprKind::Filter { .. } => {
            match expr.access_path() {
                Some(path) => {
                    if let Some(source) = classify(&path, inputs) {
                        out.push(Untrusted {
                            source,
                            path: path.join("."),
                            span: expr.span,
                        });
                    }
                }
                // `fromJSON(x).field`: whatever `x` carries, the field may carry too.
                None => {
                    if let Some(root) = chain_root(expr) {
                        collect(root, inputs, out);
                    }
                }
            }
        }
        ExprKind::Call { name, args, .. } => {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "format" | "join" | "tojson" | "fromjson" => {
                    args.iter().for_each(|a| collect(a, inputs, out));
                }
                "case" => {
                    let last = args.len().saturating_sub(1);
                    for (i, arg) in args.iter().enumerate() {
                        if i % 2 == 1 || i == last {
                            collect(arg, inputs, out);
                        }
                    }
                }
                _ => {}
            }
        }
        // `a && b` yields `a` only when it is falsy (`false`, `0`, `''`, `null`), which
        // carries no text; `a || b` yields either operand.
        ExprKind::Binary { op, lhs, rhs, .. } => match op {
            super::ast::BinOp::And => collect(rhs, inputs, out),
            super::ast::BinOp::Or => {
                collect(lhs, inputs, out);
                collect(rhs, inputs, out);
            }
            _ => {}
        },
    }
}

fn chain_root(expr: &Expr) -> Option<&Expr> {
    match &expr.kind {
        ExprKind::Property { recv, .. } | ExprKind::Index { recv, .. } | ExprKind::Filter { recv } => {
            chain_root(recv)
        }
        ExprKind::Context(_) => None,
        _ => Some(expr),
    }
}

fn segments_match(path: &[String], pattern: &[&str]) -> bool {
    path.len() == pattern.len()
        && path
            .iter()
            .zip(pattern)
            .all(|(p, q)| p == "*" || *q == "*" || p == q)
}

/// The source of an access path, when it is untrusted. A whole object that contains an
/// untrusted field (`github.event.pull_request`) is untrusted too, since it renders as JSON.
fn classify(path: &[String], inputs: &dyn InputPolicy) -> Option<Source> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["inputs", name, ..] if inputs.is_untrusted_input(name) => return Some(Source::Input),
        ["github", "event", "inputs", name, ..] if inputs.is_untrusted_input(name) => {
            return Some(Source::Input);
        }
        ["github", "event", "inputs"] => return Some(Source::Input),
        ["steps" | "needs", _, "outputs", ..] => return Some(Source::Output),
        _ => {}
    }
    let is_event = EVENT_PATTERNS.iter().any(|pattern| {
        let pattern: Vec<&str> = pattern.split('.').collect();
        if segments_match(path, &pattern) {
            return true;
        }
        // A containing object, at least as deep as `github.event`.
        path.len() >= 2 && path.len() < pattern.len() && segments_match(path, &pattern[..path.len()])
    });
    is_event.then_some(Source::Event)
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    struct OnlyStrings;

    impl InputPolicy for OnlyStrings {
        fn is_untrusted_input(&self, name: &str) -> bool {
            name != "dry-run"
        }
    }

    fn found(src: &str) -> Vec<(Source, String)> {
        let expr = parse(src).unwrap_or_else(|e| panic!("{src}: {}", e.message));
        untrusted_values(&expr, &OnlyStrings)
            .into_iter()
            .map(|u| (u.source, u.path))
            .collect()
    }

    #[test]
    fn documented_untrusted_fields_are_found() {
        assert_eq!(
            found("github.event.issue.title"),
            vec![(Source::Event, "github.event.issue.title".into())]
        );
        assert_eq!(found("github.HEAD_REF")[0].0, Source::Event);
        assert_eq!(found("github.event.commits[0].message")[0].0, Source::Event);
        assert_eq!(found("github.event['pull_request']['body']")[0].0, Source::Event);
        assert_eq!(found("github.event.commits.*.author.name")[0].0, Source::Event);
        assert_eq!(found("github.event.*.body").len(), 1);
        assert_eq!(found("github.event.pull_request")[0].0, Source::Event);
    }

    #[test]
    fn trusted_fields_and_boolean_results_are_not() {
        for src in [
            "github.event.issue.number",
            "github.sha",
            "github.event.pull_request.head.sha",
            "contains(github.event.issue.title, 'bug')",
            "github.event.issue.title == 'x'",
            "!github.event.issue.body",
            "startsWith(github.head_ref, 'release/')",
            "inputs.dry-run",
            "hashFiles(github.event.issue.title)",
            "toJSON(github)",
        ] {
            assert!(found(src).is_empty(), "{src}: {:?}", found(src));
        }
    }

    #[test]
    fn data_flows_through_string_functions_and_logic() {
        assert_eq!(found("format('{0}', github.event.issue.title)").len(), 1);
        assert_eq!(found("toJSON(github.event.pull_request)").len(), 1);
        assert_eq!(
            found("fromJSON(github.event.comment.body).cmd")[0].0,
            Source::Event
        );
        assert_eq!(found("github.head_ref || github.ref_name").len(), 1);
        assert_eq!(
            found("github.event_name == 'push' && github.head_ref || ''").len(),
            1
        );
        assert!(found("fromJSON(inputs.alsa) && 'libasound2-dev' || ''").is_empty());
        assert_eq!(
            found("case(github.event.issue.title == 'x', github.event.issue.body, 'no')").len(),
            1
        );
        assert_eq!(found("inputs.name")[0].0, Source::Input);
        assert_eq!(found("github.event.inputs.tag")[0].0, Source::Input);
        assert_eq!(found("steps.meta.outputs.tags")[0].0, Source::Output);
        assert_eq!(found("needs.build.outputs.version")[0].0, Source::Output);
    }
}
