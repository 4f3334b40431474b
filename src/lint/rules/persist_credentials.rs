//! `persist-credentials`: `actions/checkout` leaves the job's token in `.git/config` unless
//! `persist-credentials: false`; every later step (and anything that uploads the workspace)
//! can read it. An error when the same job uploads the checked-out directory as an artifact,
//! a warning otherwise. `--fix` adds `persist-credentials: false` to the step's `with:`.
use super::security::{bool_value, step_lists, uses_action};
use crate::lint::LintContext;
use crate::lint::finding::{Edit, Finding, Severity};
use crate::lint::model::Step;
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, NodeKind};

pub struct PersistCredentials;

static META: RuleMeta = RuleMeta {
    id: "persist-credentials",
    severity: Severity::Warning,
    summary: "Checks that `actions/checkout` does not leave the token in `.git/config` (`persist-credentials: false`).",
    applies: Applies::Both,
    fixable: true,
};

impl Rule for PersistCredentials {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        for list in step_lists(cx) {
            for step in list.steps.iter().filter(|s| uses_action(s, "actions/checkout")) {
                let with = step.with();
                let setting = with.and_then(|w| w.get("persist-credentials"));
                match setting.map(|n| (n, bool_value(n))) {
                    Some((_, Some(false))) => continue,
                    // An expression decides at run time; an explicit `true` is a choice.
                    Some((n, None)) if n.is_expression() => continue,
                    Some((_, Some(true))) => continue,
                    _ => {}
                }
                let dir = checkout_dir(step);
                let upload = list
                    .steps
                    .iter()
                    .filter(|s| s.index > step.index)
                    .find(|s| uploads_dir(s, dir.as_deref()));
                let uses = step.uses().map_or(step.node, |u| u);
                let (severity, message) = match upload {
                    Some(up) => (
                        Severity::Error,
                        format!(
                            "`actions/checkout` keeps the token in `.git/config` and {} uploads the checked-out directory as an artifact, which publishes the token",
                            up.label()
                        ),
                    ),
                    None => (
                        Severity::Warning,
                        "`actions/checkout` keeps the job's token in `.git/config`, readable by every later step and by anything that archives the workspace".to_string(),
                    ),
                };
                let mut finding = cx
                    .finding(&META, uses.span, message)
                    .severity(severity)
                    .help("add `persist-credentials: false` under `with:`; steps that push can pass the token explicitly");
                if let Some(edit) = add_setting(cx, step) {
                    finding = finding.fix("set `persist-credentials: false`", vec![edit]);
                }
                out.push(finding);
            }
        }
    }
}

/// The checkout's `path:` relative to the workspace (`None` for the workspace itself).
fn checkout_dir(step: &Step<'_>) -> Option<String> {
    let path = step.with()?.get("path")?.as_str()?;
    let path = path.trim().trim_start_matches("./").trim_end_matches('/');
    (!path.is_empty() && path != ".").then(|| path.to_string())
}

/// Does `step` upload an artifact containing the checkout directory (and its `.git`)?
fn uploads_dir(step: &Step<'_>, dir: Option<&str>) -> bool {
    if !uses_action(step, "actions/upload-artifact") {
        return false;
    }
    let Some(paths) = step.with().and_then(|w| w.get("path")).and_then(Node::as_str) else {
        return false;
    };
    paths
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('!'))
        .any(|p| {
            let p = p.trim_end_matches('/');
            let p = p
                .replace("${{ github.workspace }}", ".")
                .replace("${{github.workspace}}", ".");
            let p = p.trim_start_matches("./");
            match dir {
                None => p == "." || p.is_empty() || p == "${GITHUB_WORKSPACE}" || p == "$GITHUB_WORKSPACE",
                Some(d) => p == d || p == "." || p.is_empty(),
            }
        })
}

/// `persist-credentials: false` inserted into the step's block-style `with:` (or a new
/// `with:` after `uses:`), indented like its siblings. `None` for flow-style steps.
fn add_setting(cx: &LintContext<'_>, step: &Step<'_>) -> Option<Edit> {
    let source = cx.source();
    let nl = if source.contains("\r\n") { "\r\n" } else { "\n" };
    match step.field("with") {
        Some(with) => {
            let NodeKind::Map(entries) = &with.value.kind else {
                return None;
            };
            let last = entries.last()?;
            let col = column_of(source, last.key.span.start.offset as usize)?;
            if is_flow(source, &with.value) {
                return None;
            }
            let at = line_end(source, last.value.span.end.offset as usize);
            Some(Edit {
                start: at,
                end: at,
                replacement: format!("{nl}{}persist-credentials: false", " ".repeat(col)),
            })
        }
        None => {
            let uses = step.field("uses")?;
            let col = column_of(source, uses.key.span.start.offset as usize)?;
            let at = line_end(source, uses.value.span.end.offset as usize);
            let pad = " ".repeat(col);
            Some(Edit {
                start: at,
                end: at,
                replacement: format!("{nl}{pad}with:{nl}{pad}  persist-credentials: false"),
            })
        }
    }
}

/// The 0-based column of byte `offset` when only spaces (or a `- ` list marker) precede it.
fn column_of(source: &str, offset: usize) -> Option<usize> {
    let line_start = source.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let before = source.get(line_start..offset)?;
    before
        .chars()
        .all(|c| c == ' ' || c == '-')
        .then(|| before.chars().count())
}

fn is_flow(source: &str, node: &Node) -> bool {
    source
        .get(node.span.bytes())
        .is_some_and(|t| t.trim_start().starts_with('{'))
}

/// The end of the line holding byte `offset` (before its newline), skipping a trailing
/// comment-only remainder so the insertion lands after it.
fn line_end(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    // A block scalar value ends after its last line's newline: step back onto that line.
    let start = if offset > 0 && source.as_bytes().get(offset - 1) == Some(&b'\n') {
        offset - 1
    } else {
        offset
    };
    let rest = &source[start..];
    let end = start + rest.find('\n').unwrap_or(rest.len());
    if end > 0 && source.as_bytes().get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::finding::Severity;
    use crate::lint::testing::findings;

    fn run(src: &str) -> Vec<(u32, u32, Severity, Option<String>)> {
        findings("wf.yml", src)
            .into_iter()
            .filter(|f| f.rule == "persist-credentials")
            .map(|f| {
                let fixed = f.fix.map(|fix| {
                    let e = &fix.edits[0];
                    format!("{}{}{}", &src[..e.start], e.replacement, &src[e.end..])
                });
                (f.span.start.line, f.span.start.col, f.severity, fixed)
            })
            .collect()
    }

    #[test]
    fn warns_on_default_and_errors_when_the_workspace_is_uploaded() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/upload-artifact@v4\n        with:\n          path: .\n  b:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4 # pinned\n        with:\n          fetch-depth: 0\n      - run: make\n";
        let got = run(src);
        assert_eq!(
            got.iter().map(|g| (g.0, g.1, g.2)).collect::<Vec<_>>(),
            vec![(6, 15, Severity::Error), (13, 15, Severity::Warning)]
        );
        let fixed_a = got[0].3.clone().expect("fix");
        assert!(fixed_a.contains("      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n      - uses: actions/upload"), "{fixed_a}");
        let fixed_b = got[1].3.clone().expect("fix");
        assert!(
            fixed_b.contains(
                "          fetch-depth: 0\n          persist-credentials: false\n      - run: make"
            ),
            "{fixed_b}"
        );
        assert!(run(&fixed_b).iter().all(|g| g.0 != 13));
    }

    #[test]
    fn explicit_settings_and_other_actions_are_quiet() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with: {persist-credentials: false}\n      - uses: actions/checkout@v4\n        with:\n          persist-credentials: ${{ inputs.push }}\n      - uses: actions/checkout@v4\n        with:\n          persist-credentials: true\n      - uses: actions/setup-node@v4\n";
        assert!(run(src).is_empty());
    }

    #[test]
    fn subdirectory_uploads_match_the_checkout_path() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          path: src\n      - uses: actions/upload-artifact@v4\n        with:\n          path: |\n            dist/\n            src/\n";
        assert_eq!(run(src)[0].2, Severity::Error);
    }
}
