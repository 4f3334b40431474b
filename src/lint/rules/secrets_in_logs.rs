//! `secrets-in-logs`: secrets printed by `run:` scripts (`echo`, `printf`, `cat` of a
//! here-document, directly or decoded through `base64 -d` so masking no longer matches), and
//! secrets placed on the command line of other programs, where the process list and the
//! script file on the runner's disk expose them.
use super::security::{SecretRef, secret_env_names, secret_refs, step_lists};
use super::shell::{self, Command, Pipeline};
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::model::Step;
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;
use std::collections::BTreeSet;
use std::ops::Range;

pub struct SecretsInLogs;

static META: RuleMeta = RuleMeta {
    id: "secrets-in-logs",
    severity: Severity::Error,
    summary: "Checks that `run:` scripts neither print secrets nor pass them on command lines.",
    applies: Applies::Workflows,
    fixable: false,
};

/// The most findings reported for one step.
const MAX_PER_STEP: usize = 20;

/// Shell builtins: their arguments never reach another process's command line.
const BUILTINS: &[&str] = &[
    "echo", "printf", "export", "test", "[", "[[", "read", "local", "declare", "typeset", "readonly", "set",
    "unset", "if", "return", "exit", ":", "true", "false", "cd",
];

/// Filters that pass their input through, possibly transformed, to their output.
const PASS_THROUGH: &[&str] = &[
    "base64", "xxd", "rev", "tr", "tee", "cat", "sed", "awk", "od", "hexdump",
];

impl Rule for SecretsInLogs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for list in step_lists(cx) {
            let job_env = list.job.and_then(|j| j.env());
            for step in &list.steps {
                check_container_args(cx, step, out);
                let Some(run) = step.run() else { continue };
                let Some(script) = run.as_str() else { continue };
                let names = secret_env_names(&[wf.env(), job_env, step.env()]);
                if !posix_shell(step) {
                    for r in secret_refs(script).iter().take(MAX_PER_STEP) {
                        out.push(inline_finding(cx, run, r));
                    }
                    continue;
                }
                check_script(cx, run, script, &names, out);
            }
        }
    }
}

/// `with: args:` of a container action becomes the container's command line.
fn check_container_args(cx: &LintContext<'_>, step: &Step<'_>, out: &mut Vec<Finding>) {
    let Some(args) = step.with().and_then(|w| w.get("args")) else {
        return;
    };
    let Some(text) = args.as_str() else { return };
    for r in secret_refs(text)
        .iter()
        .filter(|r| is_credential_name(&r.name))
        .take(MAX_PER_STEP)
    {
        let message = format!(
            "`{}` is passed in `args:`, the container's command line, where the process list can expose it",
            r.name
        );
        let span = cx.locate(args, r.range.start, r.range.len());
        out.push(cx.finding(&META, span, message).severity(Severity::Warning).help(
            "pass the secret in the step's `env:` (container actions receive it as an environment variable)",
        ));
    }
}

fn posix_shell(step: &Step<'_>) -> bool {
    step.shell().and_then(Node::as_str).is_none_or(|s| {
        let s = s.trim_start();
        s.starts_with("bash") || s.starts_with("sh") || s.starts_with("zsh")
    })
}

/// One secret value in a command: an inline `${{ secrets.X }}` or `$NAME` bound to a secret.
struct Leak {
    name: String,
    range: Range<usize>,
    inline: bool,
}

fn check_script(
    cx: &LintContext<'_>,
    run: &Node,
    script: &str,
    names: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    // A hostile script with thousands of secrets needs no thousand findings, and locating
    // each one rescans the scalar.
    let limit = out.len() + MAX_PER_STEP;
    let mut reported: Vec<Range<usize>> = Vec::new();
    for pipeline in shell::all_pipelines(script) {
        for (i, command) in pipeline.commands.iter().enumerate() {
            let program = command.program().unwrap_or_default();
            let leaks = leaks_in(script, command, names);
            if leaks.is_empty() {
                continue;
            }
            let printed = prints_args(command, &program) && !command.stdout_to_file && !pipeline.captured;
            match printed.then(|| log_destination(&pipeline, i)).flatten() {
                Some(how) => {
                    for leak in &leaks {
                        reported.push(leak.range.clone());
                        let message = format!("`{}` is printed to the build log{how}", leak.name);
                        let span = cx.locate(run, leak.range.start, leak.range.len());
                        if out.len() >= limit {
                            return;
                        }
                        out.push(cx.finding(&META, span, message).help(
                            "never print secrets: masking is best-effort and misses transformed values; use the secret only as input to the program that needs it",
                        ));
                    }
                }
                None if !program.is_empty() && !BUILTINS.contains(&program.as_str()) => {
                    for leak in leaks.iter().filter(|l| !is_stdin_only(command, l)) {
                        reported.push(leak.range.clone());
                        let also = if leak.inline {
                            " and the script file on the runner's disk"
                        } else {
                            ""
                        };
                        let message = format!(
                            "`{}` is passed on the command line of `{program}`, where the process list{also} can expose it",
                            leak.name
                        );
                        let span = cx.locate(run, leak.range.start, leak.range.len());
                        if out.len() >= limit {
                            return;
                        }
                        out.push(cx.finding(&META, span, message).severity(Severity::Warning).help(
                            "pass the secret through `env:` and let the program read it from the environment, a file or standard input (e.g. `--password-stdin`)",
                        ));
                    }
                }
                None => {}
            }
        }
    }
    // Inline secrets elsewhere (builtins writing to files, assignments) are still pasted into
    // the script text before the shell starts.
    for r in secret_refs(script) {
        if !reported
            .iter()
            .any(|x| x.start <= r.range.start && r.range.end <= x.end)
        {
            if out.len() >= limit {
                return;
            }
            out.push(inline_finding(cx, run, &r));
        }
    }
}

fn inline_finding(cx: &LintContext<'_>, run: &Node, r: &SecretRef) -> Finding {
    let message = format!(
        "`{}` is pasted into the script text, which is written to the runner's disk and breaks on quotes in the value",
        r.name
    );
    let span = cx.locate(run, r.range.start, r.range.len());
    cx.finding(&META, span, message).severity(Severity::Note).help(
        "map the secret to an environment variable in the step's `env:` and use `\"$NAME\"` in the script",
    )
}

/// A here-document or here-string fed to the command, not an argument.
fn is_stdin_only(command: &Command, leak: &Leak) -> bool {
    command
        .stdin_text
        .iter()
        .any(|r| r.start <= leak.range.start && leak.range.end <= r.end)
}

/// Does the command write its arguments (or its here-document) to standard output?
fn prints_args(command: &Command, program: &str) -> bool {
    match program {
        "echo" | "printf" => !command
            .args()
            .first()
            .is_some_and(|w| w.unquoted().starts_with("::add-mask::")),
        "cat" => !command.stdin_text.is_empty() && command.args().iter().all(|w| w.raw.starts_with('-')),
        _ => false,
    }
}

/// Where the output of command `i` ends up: `Some(" …")` when it reaches the log.
fn log_destination(pipeline: &Pipeline, i: usize) -> Option<&'static str> {
    let rest = &pipeline.commands[i + 1..];
    if rest.is_empty() {
        return Some("");
    }
    if !rest
        .iter()
        .all(|c| PASS_THROUGH.contains(&c.program().unwrap_or_default().as_str()))
    {
        return None;
    }
    let last = rest.last()?;
    let writes_file = |c: &Command| {
        c.stdout_to_file
            || c.args().iter().any(|w| {
                let a = w.unquoted();
                a == "-o" || a.starts_with("--output") || a == "-out"
            })
    };
    if rest.iter().any(writes_file) || last.program().as_deref() == Some("tee") && !last.args().is_empty() {
        return None;
    }
    let decodes = rest.iter().any(|c| {
        let args: Vec<String> = c.args().iter().map(|w| w.unquoted()).collect();
        args.iter()
            .any(|a| a == "-d" || a == "--decode" || a == "-D" || a == "-r")
    });
    Some(if decodes {
        " decoded, so GitHub's masking of the original value does not apply"
    } else {
        ""
    })
}

/// The secrets a command uses: in its words and in its here-document or here-string.
fn leaks_in(script: &str, command: &Command, names: &BTreeSet<String>) -> Vec<Leak> {
    let mut out = Vec::new();
    let mut ranges: Vec<Range<usize>> = command.words.iter().map(|w| w.range.clone()).collect();
    ranges.extend(command.stdin_text.iter().cloned());
    // Arguments only: the program name position cannot hold a value to print.
    if let Some(i) = command.program_index() {
        ranges.retain(|r| *r != command.words[i].range);
    }
    for range in ranges {
        let Some(text) = script.get(range.clone()) else {
            continue;
        };
        // Substitutions are read as pipelines of their own.
        let nested = shell::substitutions(text);
        let outside = |r: &Range<usize>| !nested.iter().any(|n| n.start <= r.start && r.end <= n.end);
        for r in secret_refs(text).into_iter().filter(|r| outside(&r.range)) {
            out.push(Leak {
                name: r.name,
                range: range.start + r.range.start..range.start + r.range.end,
                inline: true,
            });
        }
        for (at, len, name) in env_uses(text, names)
            .into_iter()
            .filter(|(at, len, _)| outside(&(*at..at + len)))
        {
            out.push(Leak {
                name: format!("${name}"),
                range: range.start + at..range.start + at + len,
                inline: false,
            });
        }
    }
    out.retain(|l| is_credential_name(&l.name));
    out.sort_by_key(|l| l.range.start);
    out
}

/// Secrets that name an identifier rather than a credential (`AWS_ACCOUNT_ID`, `R2_BUCKET`,
/// `APPLE_ID_EMAIL`) are often stored as secrets only to keep them out of the file; showing
/// them is harmless, so they are not reported.
fn is_credential_name(name: &str) -> bool {
    let upper = name
        .trim_start_matches("secrets.")
        .trim_start_matches('$')
        .to_ascii_uppercase();
    const CREDENTIAL_WORDS: &[&str] = &[
        "SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "PAT", "CERT", "P12", "PFX",
    ];
    const IDENTIFIER_SUFFIXES: &[&str] = &[
        "_ID",
        "_BUCKET",
        "_BUCKET_NAME",
        "_ENDPOINT",
        "_ENDPOINT_URL",
        "_EMAIL",
        "_USERNAME",
        "_USER",
        "_REGION",
        "_ACCOUNT",
        "_HOST",
        "_ORG",
    ];
    if CREDENTIAL_WORDS.iter().any(|w| upper.contains(w)) {
        return true;
    }
    !(IDENTIFIER_SUFFIXES.iter().any(|s| upper.ends_with(s)) || upper == "APPLE_ID" || upper == "TEAM_ID")
}

/// `$NAME` and `${NAME}` (also `${NAME:-x}`) of `names` in `text`, outside single quotes.
/// `${#NAME}` and `${NAME:+x}` reveal nothing and are skipped.
fn env_uses(text: &str, names: &BTreeSet<String>) -> Vec<(usize, usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut in_single = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_single = !in_single,
            b'$' if !in_single => {
                let braced = bytes.get(i + 1) == Some(&b'{');
                let start = if braced { i + 2 } else { i + 1 };
                let mut end = start;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                let name = &text[start..end];
                let harmless = braced && text[end..].starts_with(":+");
                if !name.is_empty() && names.contains(name) && !harmless {
                    let close = if braced {
                        text[end..].find('}').map_or(end, |n| end + n + 1)
                    } else {
                        end
                    };
                    out.push((i, close - i, name.to_string()));
                }
                i = end.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::lint::finding::Severity;
    use crate::lint::testing::findings;

    fn check(steps: &str) -> Vec<(u32, u32, Severity, String)> {
        let src = format!(
            "on: push\njobs:\n  a:\n    runs-on: x\n    env:\n      TOKEN: ${{{{ secrets.TOKEN }}}}\n    steps:\n{steps}"
        );
        findings("wf.yml", &src)
            .into_iter()
            .filter(|f| f.rule == "secrets-in-logs")
            .map(|f| (f.span.start.line, f.span.start.col, f.severity, f.message))
            .collect()
    }

    #[test]
    fn echo_and_printf_of_secrets_are_errors() {
        let got = check(
            "      - run: echo \"t=${{ secrets.A }}\"\n      - run: |\n          printf '%s' \"$TOKEN\"\n          echo \"${TOKEN}\" | base64 -d\n",
        );
        let sev: Vec<_> = got.iter().map(|g| (g.0, g.1, g.2)).collect();
        assert_eq!(
            sev,
            vec![
                (8, 22, Severity::Error),
                (10, 24, Severity::Error),
                (11, 17, Severity::Error)
            ],
            "{got:?}"
        );
        assert!(got[2].3.contains("decoded"));
    }

    #[test]
    fn redirected_piped_masked_or_length_only_output_is_fine() {
        let got = check(
            "      - run: |\n          echo \"$TOKEN\" > key\n          echo \"$TOKEN\" | docker login --password-stdin\n          echo \"::add-mask::$TOKEN\"\n          echo \"${#TOKEN} ${TOKEN:+set}\"\n          echo \"$TOKEN\" | base64 -d > k\n",
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn command_lines_warn_and_inline_use_is_a_note() {
        let got = check(
            "      - run: |\n          curl -H \"Authorization: $TOKEN\" https://x\n      - run: echo \"k=${{ secrets.B }}\" >> \"$GITHUB_ENV\"\n",
        );
        let sev: Vec<_> = got.iter().map(|g| (g.0, g.2)).collect();
        assert_eq!(sev, vec![(9, Severity::Warning), (10, Severity::Note)], "{got:?}");
    }

    #[test]
    fn captured_decoded_to_file_and_identifier_secrets_are_quiet() {
        let got = check(
            "      - run: |\n          b=$(echo -n \"$TOKEN\" | base64 | tr -d x)\n          echo \"n=$(echo $TOKEN | base64 -d | wc -c)\"\n          echo \"$TOKEN\" | base64 --decode --output=f\n          sign --p12=<(echo $TOKEN | base64 -d)\n          echo ${{ secrets.AWS_ACCOUNT_ID }}\n",
        );
        assert!(got.iter().all(|g| g.2 == Severity::Note), "{got:?}");
    }

    #[test]
    fn heredocs_print_unless_redirected() {
        let got = check(
            "      - run: |\n          cat <<EOF\n          ${{ secrets.C }}\n          EOF\n          cat <<EOF > f\n          $TOKEN\n          EOF\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0, got[0].2), (10, Severity::Error));
    }

    #[test]
    fn container_args_are_command_lines() {
        let got = check(
            "      - uses: docker://alpine@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1\n        with:\n          args: deploy --token ${{ secrets.DEPLOY_TOKEN }}\n",
        );
        assert_eq!(
            got.iter().map(|g| (g.0, g.1, g.2)).collect::<Vec<_>>(),
            vec![(10, 32, Severity::Warning)],
            "{got:?}"
        );
    }

    #[test]
    fn findings_per_step_are_capped() {
        let many = "echo ${{ secrets.A }}\n          ".repeat(100);
        let got = check(&format!("      - run: |\n          {many}\n"));
        assert_eq!(got.len(), super::MAX_PER_STEP);
    }

    #[test]
    fn other_shells_get_only_the_inline_note() {
        let got = check("      - shell: pwsh\n        run: Write-Host ${{ secrets.A }} $env:TOKEN\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2, Severity::Note);
    }
}
