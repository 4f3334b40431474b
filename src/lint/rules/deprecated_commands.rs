//! `deprecated-commands`: `run:` scripts do not use the disabled `::set-env`/`::add-path`
//! workflow commands or the deprecated `::set-output`/`::save-state`. Fixable: a plain
//! `echo "::set-output name=N::V"` line becomes `echo "N=V" >> "$GITHUB_OUTPUT"` (and
//! `::save-state` writes to `$GITHUB_STATE`).
use super::security::step_lists;
use crate::lint::LintContext;
use crate::lint::finding::{Edit, Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, Style};

pub struct DeprecatedCommands;

static META: RuleMeta = RuleMeta {
    id: "deprecated-commands",
    severity: Severity::Error,
    summary: "Checks `run:` scripts for the disabled `::set-env`/`::add-path` and deprecated `::set-output`/`::save-state` commands.",
    applies: Applies::Both,
    fixable: true,
};

/// (command, replacement file variable or `None` when disabled outright).
const COMMANDS: &[(&str, &str, bool)] = &[
    ("::set-output ", "GITHUB_OUTPUT", false),
    ("::save-state ", "GITHUB_STATE", false),
    ("::set-env ", "GITHUB_ENV", true),
    ("::add-path::", "GITHUB_PATH", true),
];

impl Rule for DeprecatedCommands {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        for list in step_lists(cx) {
            for step in &list.steps {
                let Some(run) = step.run() else { continue };
                let Some(script) = run.as_str() else { continue };
                if !script.contains("::") {
                    continue;
                }
                for (cmd, file, disabled) in COMMANDS {
                    for (at, _) in script.match_indices(cmd) {
                        let name = cmd.trim_matches(|c| c == ':' || c == ' ');
                        let span = cx.locate(run, at, cmd.trim_end().len());
                        let mut f = if *disabled {
                            cx.finding(
                                &META,
                                span,
                                format!("`::{name}` is disabled: the step fails when it runs"),
                            )
                        } else {
                            cx.finding(
                                &META,
                                span,
                                format!("`::{name}` is deprecated and will stop working"),
                            )
                            .severity(Severity::Warning)
                        };
                        f = f.help(format!("append to the file in `${file}` instead, e.g. `echo \"name=value\" >> \"${file}\"`"));
                        if !disabled && let Some(edit) = rewrite(cx, run, script, at, cmd, file) {
                            f = f.fix(format!("write to ${file}"), vec![edit]);
                        }
                        out.push(f);
                    }
                }
            }
        }
    }
}

/// The edit for `echo "::set-output name=N::V"` filling its whole line of a literal block.
fn rewrite(cx: &LintContext<'_>, run: &Node, script: &str, at: usize, cmd: &str, file: &str) -> Option<Edit> {
    if run.as_scalar()?.style != Style::Literal {
        return None;
    }
    let line_start = script[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = script[at..].find('\n').map_or(script.len(), |i| at + i);
    let line = &script[line_start..line_end];
    let indent_len = line.len() - line.trim_start().len();
    let body = line.trim_start().strip_prefix("echo ")?.trim_end();
    let (quote, inner) = match body.chars().next()? {
        q @ ('"' | '\'') if body.len() >= 2 && body.ends_with(q) => (q, &body[1..body.len() - 1]),
        _ => ('"', body),
    };
    let rest = inner.strip_prefix(cmd)?.strip_prefix("name=")?;
    let (name, value) = rest.split_once("::")?;
    if name.is_empty() || name.contains(char::is_whitespace) || inner.contains(quote) {
        return None;
    }
    let new_line = format!(
        "{}echo {quote}{name}={value}{quote} >> \"${file}\"",
        &line[..indent_len]
    );
    // Literal block content is verbatim source text; find this line in the source.
    let span = cx.locate(run, line_start, line.len());
    if cx.text(span) != line {
        return None;
    }
    Some(Edit {
        start: span.start.offset as usize,
        end: span.end.offset as usize,
        replacement: new_line,
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::fix::apply_edits;
    use crate::lint::testing::{findings, lint};

    const SRC: &str = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: v\n        run: |\n          # set the version\n          echo \"::set-output name=version::$(cat VERSION)\"\n          echo '::save-state name=pid::42'\n      - run: echo \"::set-env name=A::b\"\n";

    #[test]
    fn finds_commands_with_positions() {
        let found = lint("w.yml", SRC, "deprecated-commands");
        let at: Vec<(u32, u32)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(at, vec![(9, 17), (10, 17), (11, 20)], "{found:?}");
        assert!(found[2].2.contains("disabled"));
    }

    #[test]
    fn fix_rewrites_set_output_and_save_state() {
        let mut edits: Vec<_> = findings("w.yml", SRC)
            .into_iter()
            .filter(|f| f.rule == "deprecated-commands")
            .filter_map(|f| f.fix)
            .flat_map(|f| f.edits)
            .collect();
        assert_eq!(edits.len(), 2);
        let fixed = apply_edits(SRC, &mut edits);
        assert!(
            fixed.contains("          echo \"version=$(cat VERSION)\" >> \"$GITHUB_OUTPUT\"\n"),
            "{fixed}"
        );
        assert!(
            fixed.contains("          echo 'pid=42' >> \"$GITHUB_STATE\"\n"),
            "{fixed}"
        );
        assert!(fixed.contains("# set the version"));
    }
}
