//! `composite-shell`: every `run:` step of a composite action sets `shell:` (composite
//! actions have no default shell). Fixable: inserts `shell: bash` as the step's first key.
use crate::lint::LintContext;
use crate::lint::finding::{Edit, Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct CompositeShell;

static META: RuleMeta = RuleMeta {
    id: "composite-shell",
    severity: Severity::Error,
    summary: "Checks that `run:` steps of composite actions set `shell:`.",
    applies: Applies::Actions,
    fixable: true,
};

impl Rule for CompositeShell {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(action) = cx.action() else { return };
        if !action.is_composite() {
            return;
        }
        for step in action.steps() {
            let Some(run) = step.field("run") else { continue };
            if step.shell().is_some() {
                continue;
            }
            let mut f = cx
                .finding(
                    &META,
                    run.key.span,
                    format!(
                        "{} of a composite action has `run:` but no `shell:`",
                        step.label()
                    ),
                )
                .help(
                    "composite actions have no default shell: add `shell: bash` (or pwsh, python, sh, cmd)",
                );
            if let Some(edit) = insert_first_key(cx, step.node, "shell: bash") {
                f = f.fix("add `shell: bash`", vec![edit]);
            }
            out.push(f);
        }
    }
}

/// An edit inserting `line` as the first key of block mapping `map`, aligned with its keys.
/// `None` for flow mappings (`{run: x}`), where a line break would change the layout.
pub fn insert_first_key(cx: &LintContext<'_>, map: &crate::lint::Node, line: &str) -> Option<Edit> {
    let first = map.as_map()?.first()?;
    let at = first.key.span.start;
    let src = cx.source();
    let line_start = src[..at.offset as usize].rfind('\n').map_or(0, |i| i + 1);
    let before = &src[line_start..at.offset as usize];
    // Only spaces and a `- ` sequence marker may precede the key on its line.
    if !before.chars().all(|c| c == ' ' || c == '-') {
        return None;
    }
    let indent = " ".repeat(before.chars().count());
    Some(Edit {
        start: at.offset as usize,
        end: at.offset as usize,
        replacement: format!("{line}\n{indent}"),
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::fix::apply_edits;
    use crate::lint::testing::{findings, lint};

    const SRC: &str = "name: a\ndescription: b\nruns:\n  using: composite\n  steps:\n    - run: echo one # keep\n    - name: two\n      run: |\n        echo two\n    - run: echo three\n      shell: bash\n";

    #[test]
    fn reports_run_steps_without_shell() {
        let found = lint("action.yml", SRC, "composite-shell");
        let at: Vec<(u32, u32)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(at, vec![(6, 7), (8, 7)]);
        assert!(
            lint(
                "w/action.yml",
                &SRC.replace("composite", "node20"),
                "composite-shell"
            )
            .is_empty()
        );
    }

    #[test]
    fn fix_inserts_shell_and_keeps_comments() {
        let mut edits: Vec<_> = findings("action.yml", SRC)
            .into_iter()
            .filter_map(|f| f.fix)
            .flat_map(|f| f.edits)
            .collect();
        let fixed = apply_edits(SRC, &mut edits);
        assert_eq!(
            fixed,
            "name: a\ndescription: b\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo one # keep\n    - shell: bash\n      name: two\n      run: |\n        echo two\n    - run: echo three\n      shell: bash\n"
        );
        assert!(lint("action.yml", &fixed, "composite-shell").is_empty());
    }
}
