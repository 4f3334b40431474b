//! `untrusted-checkout`: in workflows started by `pull_request_target`, `workflow_run` or
//! `issue_comment` (which run with the base repository's secrets and a write token), a job
//! that checks out the pull request's code (`actions/checkout` with a head ref or sha,
//! `gh pr checkout`, `git checkout` of a pull ref) and then runs it: the "pwn request".
use super::security::{StepList, Uses, parse_uses, step_lists, uses_action};
use super::shell::{self, Command};
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity, Span};
use crate::lint::model::Step;
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct UntrustedCheckout;

static META: RuleMeta = RuleMeta {
    id: "untrusted-checkout",
    severity: Severity::Error,
    summary: "Checks that privileged workflows do not check out and run a pull request's code.",
    applies: Applies::Workflows,
    fixable: false,
};

/// Triggers that run with secrets and a write token although outsiders can start them.
pub const PRIVILEGED_TRIGGERS: &[&str] = &["pull_request_target", "workflow_run", "issue_comment"];

/// Expression paths naming code an outsider controls (lower case).
const UNTRUSTED_REFS: &[&str] = &[
    "github.event.pull_request.head.sha",
    "github.event.pull_request.head.ref",
    "github.event.pull_request.head.repo.full_name",
    "github.event.pull_request.merge_commit_sha",
    "github.head_ref",
    "github.event.workflow_run.head_sha",
    "github.event.workflow_run.head_branch",
    "github.event.workflow_run.head_commit.id",
    "github.event.workflow_run.head_repository.full_name",
    "github.event.workflow_run.pull_requests",
];

/// Conditions that limit a job to pull requests from the repository itself.
const SAME_REPO_GUARDS: &[&str] = &[
    "head.repo.full_name == github.repository",
    "github.repository == github.event.pull_request.head.repo.full_name",
    "head_repository.full_name == github.repository",
    "github.repository == github.event.workflow_run.head_repository.full_name",
    "head.repo.fork == false",
    "head.repo.fork != true",
    "!github.event.workflow_run.head_repository.fork",
    "head_repository.fork == false",
    "!github.event.pull_request.head.repo.fork",
    "workflow_run.event == 'push'",
];

/// Conditions showing a maintainer approves each run (labels, author association, an
/// environment with reviewers): still racy, so a warning, not an error.
const APPROVAL_GUARDS: &[&str] = &["label", "author_association", "github.actor =="];

/// Commands that read or move files but do not run code from the working tree.
const INERT_COMMANDS: &[&str] = &[
    "git",
    "gh",
    "echo",
    "printf",
    "cat",
    "ls",
    "pwd",
    "cd",
    "mkdir",
    "cp",
    "mv",
    "rm",
    "touch",
    "test",
    "[",
    "[[",
    "true",
    "false",
    "exit",
    "export",
    "set",
    "unset",
    "read",
    "sleep",
    "diff",
    "grep",
    "egrep",
    "fgrep",
    "sed",
    "awk",
    "jq",
    "yq",
    "head",
    "tail",
    "wc",
    "sort",
    "uniq",
    "cut",
    "tr",
    "tee",
    "curl",
    "wget",
    "base64",
    "sha256sum",
    "sha1sum",
    "shasum",
    "md5sum",
    "date",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "stat",
    "file",
    "chmod",
    "ln",
    ":",
    "local",
    "declare",
    "return",
    "shift",
    "continue",
    "break",
    "tar",
    "zip",
    "unzip",
    "gzip",
    "gunzip",
    "find",
    "du",
    "df",
    "whoami",
    "id",
    "uname",
    "which",
    "type",
    "hash",
    "xargs",
    "for",
    "case",
];

/// Actions known to build or run code from the checked-out tree.
const CODE_RUNNING_ACTIONS: &[&str] = &[
    "docker/build-push-action",
    "github/codeql-action/autobuild",
    "pre-commit/action",
    "goreleaser/goreleaser-action",
    "pypa/cibuildwheel",
    "gradle/gradle-build-action",
    "gradle/actions/setup-gradle",
    "pypa/gh-action-pypi-publish",
];

impl Rule for UntrustedCheckout {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        let Some(trigger) = PRIVILEGED_TRIGGERS.iter().find(|t| wf.has_event(t)) else {
            return;
        };
        let workflow_env = names_of_untrusted(wf.env());
        for list in step_lists(cx) {
            check_job(cx, trigger, &list, &workflow_env, out);
        }
    }
}

/// Where an untrusted checkout put the code, and what named it.
struct Checkout<'a> {
    index: usize,
    /// `None` for the workspace root.
    dir: Option<String>,
    what: String,
    span: Span,
    /// For a checkout done by a `run:` script: where in the script it ends; the rest of the
    /// script runs after it.
    script_end: Option<usize>,
    guard_if: Option<&'a Node>,
}

fn check_job(
    cx: &LintContext<'_>,
    trigger: &str,
    list: &StepList<'_>,
    workflow_env: &[String],
    out: &mut Vec<Finding>,
) {
    let Some(job) = list.job else { return };
    let job_if = job
        .if_cond()
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if SAME_REPO_GUARDS
        .iter()
        .any(|g| normalized(&job_if).contains(&normalized(g)))
    {
        return;
    }
    let mut untrusted_env: Vec<String> = workflow_env.to_vec();
    untrusted_env.extend(names_of_untrusted(job.env()));
    let Some(checkout) = list
        .steps
        .iter()
        .find_map(|s| untrusted_checkout(cx, s, &untrusted_env))
    else {
        return;
    };
    let step_if = checkout
        .guard_if
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if SAME_REPO_GUARDS
        .iter()
        .any(|g| normalized(&step_if).contains(&normalized(g)))
    {
        return;
    }
    let approved = APPROVAL_GUARDS
        .iter()
        .any(|g| job_if.contains(g) || step_if.contains(g))
        || job.get("environment").is_some();
    let runner = list.steps.iter().find_map(|s| {
        let from = match checkout.script_end {
            Some(end) if s.index == checkout.index => end,
            _ if s.index > checkout.index => 0,
            _ => return None,
        };
        runs_checked_out_code(s, checkout.dir.as_deref(), from)
    });
    let (severity, message, help) = match &runner {
        Some(how) => {
            let sev = if approved {
                Severity::Warning
            } else {
                Severity::Error
            };
            let mut msg = format!(
                "job `{}` checks out untrusted code ({}) in a `{trigger}` workflow and then runs it ({how}), with the base repository's secrets and token",
                job.id(),
                checkout.what
            );
            if approved {
                msg.push_str("; a maintainer approval gate is present, but new commits pushed after approval still run");
            }
            (
                sev,
                msg,
                "run untrusted code only in a `pull_request` workflow (no secrets, read-only token) and hand results to the privileged workflow as artifacts",
            )
        }
        None => (
            Severity::Note,
            format!(
                "job `{}` checks out untrusted code ({}) in a `{trigger}` workflow; no later step appears to run it — keep it that way",
                job.id(),
                checkout.what
            ),
            "treat the checked-out files as data only: never build, install or execute them in this workflow",
        ),
    };
    out.push(
        cx.finding(&META, checkout.span, message)
            .severity(severity)
            .help(help),
    );
}

/// Strips spaces so `a==b` and `a == b` compare equal.
fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Names of `env:` variables whose value is an untrusted ref.
fn names_of_untrusted(env: Option<&Node>) -> Vec<String> {
    let Some(env) = env else { return Vec::new() };
    env.entries()
        .filter(|(_, e)| e.value.as_str().is_some_and(|v| untrusted_ref(v, &[]).is_some()))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// The untrusted ref named in `text`: an expression path, a `refs/pull/…` ref, or an
/// `env.NAME` / `$NAME` bound to one.
fn untrusted_ref(text: &str, untrusted_env: &[String]) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("${{") {
        if let Some(path) = UNTRUSTED_REFS.iter().find(|p| lower.contains(*p)) {
            return Some(format!("`{path}`"));
        }
        if let Some(name) = untrusted_env
            .iter()
            .find(|n| lower.contains(&format!("env.{}", n.to_ascii_lowercase())))
        {
            return Some(format!("`env.{name}`"));
        }
    }
    if lower.contains("refs/pull/") || lower.starts_with("pull/") {
        return Some(format!("`{}`", text.trim()));
    }
    untrusted_env
        .iter()
        .find(|n| text.contains(&format!("${n}")) || text.contains(&format!("${{{n}}}")))
        .map(|n| format!("`${n}`"))
}

fn untrusted_checkout<'a>(cx: &LintContext<'_>, step: &Step<'a>, job_env: &[String]) -> Option<Checkout<'a>> {
    let mut env: Vec<String> = job_env.to_vec();
    env.extend(names_of_untrusted(step.env()));
    if uses_action(step, "actions/checkout") {
        let with = step.with()?;
        let node = ["ref", "repository"]
            .iter()
            .filter_map(|k| with.get(k))
            .find(|n| n.as_str().is_some_and(|v| untrusted_ref(v, &env).is_some()))?;
        let what = untrusted_ref(node.as_str().unwrap_or_default(), &env)?;
        let dir = with
            .get("path")
            .and_then(Node::as_str)
            .map(|p| {
                p.trim()
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_string()
            })
            .filter(|p| !p.is_empty() && p != ".");
        return Some(Checkout {
            index: step.index,
            dir,
            what,
            span: node.span,
            guard_if: step.if_cond(),
            script_end: None,
        });
    }
    let run = step.run()?;
    let script = run.as_str()?;
    if is_non_posix(step) {
        return None;
    }
    // `git fetch <pull ref>` followed by `git checkout FETCH_HEAD` checks out the pull request.
    let mut fetched_untrusted = false;
    for command in shell::commands(script) {
        let words: Vec<String> = command.words.iter().map(|w| w.unquoted()).collect();
        let program = command.program().unwrap_or_default();
        let args: Vec<String> = command.args().iter().map(|w| w.unquoted()).collect();
        let is_pr_checkout = program == "gh"
            && args.first().map(String::as_str) == Some("pr")
            && args.get(1).map(String::as_str) == Some("checkout");
        let git_sub = if program == "git" {
            args.iter().find(|a| !a.starts_with('-')).cloned()
        } else {
            None
        };
        let names_untrusted = command
            .args()
            .iter()
            .skip(1)
            .any(|w| untrusted_ref(&w.raw, &env).is_some());
        if git_sub.as_deref() == Some("fetch") && names_untrusted {
            fetched_untrusted = true;
        }
        let is_git_switch = git_sub
            .as_deref()
            .is_some_and(|sub| matches!(sub, "checkout" | "switch" | "reset" | "pull" | "merge"))
            && (names_untrusted
                || fetched_untrusted && command.words.iter().any(|w| w.raw.contains("FETCH_HEAD")));
        if is_pr_checkout || is_git_switch {
            let what = format!("`{}`", words.join(" "));
            let span = cx.locate(run, command.range.start, command.range.len());
            return Some(Checkout {
                index: step.index,
                dir: None,
                what,
                span,
                guard_if: step.if_cond(),
                script_end: Some(command.range.end),
            });
        }
    }
    None
}

/// `shell: pwsh`, `python`, `cmd`…: not read as POSIX shell.
fn is_non_posix(step: &Step<'_>) -> bool {
    step.shell().and_then(Node::as_str).is_some_and(|s| {
        let s = s.trim_start();
        !(s.starts_with("bash") || s.starts_with("sh") || s.starts_with("zsh"))
    })
}

/// How step `step` runs code from the checkout in `dir` (`None`: workspace root), if it does.
fn runs_checked_out_code(step: &Step<'_>, dir: Option<&str>, from: usize) -> Option<String> {
    if let Some(uses) = step.uses().and_then(Node::as_str) {
        let trimmed = uses.trim();
        return match parse_uses(trimmed) {
            Uses::Local => {
                let local = trimmed.trim_start_matches("./");
                let inside = dir.is_none_or(|d| local == d || local.starts_with(&format!("{d}/")));
                inside.then(|| format!("{} uses the local action `{trimmed}`", step.label()))
            }
            Uses::Remote(r) if dir.is_none() => {
                let name = match r.path {
                    Some(p) => format!("{}/{p}", r.slug()).to_ascii_lowercase(),
                    None => r.slug().to_ascii_lowercase(),
                };
                CODE_RUNNING_ACTIONS
                    .contains(&name.as_str())
                    .then(|| format!("{} builds it with `{}`", step.label(), r.slug()))
            }
            _ => None,
        };
    }
    let script = step.run()?.as_str()?;
    if is_non_posix(step) {
        // Other shells are not read; an interpreter running in the checkout still runs it.
        return dir
            .is_none()
            .then(|| format!("{} runs a script in the checkout", step.label()));
    }
    let working_dir = step
        .get("working-directory")
        .and_then(Node::as_str)
        .map(|w| w.trim().trim_start_matches("./"));
    let mut in_checkout = match dir {
        None => true,
        Some(d) => working_dir.is_some_and(|w| w == d || w.starts_with(&format!("{d}/"))),
    };
    for command in shell::commands(script)
        .into_iter()
        .filter(|c| c.range.start >= from)
    {
        let program_word = command
            .program_index()
            .map(|i| command.words[i].unquoted())
            .unwrap_or_default();
        let program = command.program().unwrap_or_default();
        if let Some(d) = dir {
            if program == "cd" {
                let target = command.args().first().map(|w| w.unquoted()).unwrap_or_default();
                let target = target.trim_start_matches("./");
                in_checkout = target == d || target.starts_with(&format!("{d}/"));
                continue;
            }
            let path = program_word.trim_start_matches("./");
            if path.starts_with(&format!("{d}/")) {
                return Some(format!("{} runs `{program_word}`", step.label()));
            }
        }
        if in_checkout
            && !program.is_empty()
            && !INERT_COMMANDS.contains(&program.as_str())
            && !runs_script_from_elsewhere(&command, &program)
        {
            return Some(format!("{} runs `{program}`", step.label()));
        }
    }
    None
}

/// An interpreter started on a script outside the working tree (`python ../tools/x.py`,
/// `bash $RUNNER_TEMP/x.sh`): the trusted script only reads the checkout.
fn runs_script_from_elsewhere(command: &Command, program: &str) -> bool {
    const INTERPRETERS: &[&str] = &["python", "python3", "node", "bash", "sh", "ruby", "perl"];
    if !INTERPRETERS.contains(&program) {
        return false;
    }
    let script = command
        .args()
        .iter()
        .map(|w| w.unquoted())
        .find(|a| !a.starts_with('-'));
    script.is_some_and(|s| {
        s.starts_with("../") || s.starts_with('/') || s.starts_with('$') || s.starts_with('~')
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::finding::Severity;
    use crate::lint::testing::findings;

    fn check(src: &str) -> Vec<(u32, u32, Severity, String)> {
        findings("wf.yml", src)
            .into_iter()
            .filter(|f| f.rule == "untrusted-checkout")
            .map(|f| (f.span.start.line, f.span.start.col, f.severity, f.message))
            .collect()
    }

    const HEAD: &str = "on: pull_request_target\njobs:\n  a:\n    runs-on: x\n";

    #[test]
    fn checkout_of_head_then_build_is_an_error() {
        let src = format!(
            "{HEAD}    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{{{ github.event.pull_request.head.sha }}}}\n      - run: npm ci\n"
        );
        let got = check(&src);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0, got[0].1, got[0].2), (8, 16, Severity::Error));
        assert!(got[0].3.contains("runs `npm`"), "{}", got[0].3);
    }

    #[test]
    fn checkout_without_execution_is_a_note() {
        let src = format!(
            "{HEAD}    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{{{ github.head_ref }}}}\n      - run: git diff --stat && echo done\n"
        );
        let got = check(&src);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2, Severity::Note);
    }

    #[test]
    fn same_repository_guard_silences_and_labels_downgrade() {
        let guarded = "on: pull_request_target\njobs:\n  a:\n    if: github.event.pull_request.head.repo.full_name == github.repository\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with: {ref: '${{ github.event.pull_request.head.sha }}'}\n      - run: make\n";
        assert!(check(guarded).is_empty());
        let labelled = guarded.replace(
            "github.event.pull_request.head.repo.full_name == github.repository",
            "contains(github.event.pull_request.labels.*.name, 'safe to test')",
        );
        let got = check(&labelled);
        assert_eq!(got[0].2, Severity::Warning, "{got:?}");
    }

    #[test]
    fn gh_pr_checkout_and_local_actions_and_subdirectories() {
        let src = "on:\n  workflow_run:\n    workflows: [ci]\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n          gh pr checkout 12\n      - uses: ./.github/actions/setup\n";
        let got = check(src);
        assert_eq!(
            (got[0].0, got[0].1, got[0].2),
            (9, 11, Severity::Error),
            "{got:?}"
        );
        let subdir = "on: pull_request_target\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n          path: pr\n      - run: python tools/build.py --docs pr/docs\n      - run: cd pr && make\n";
        let got = check(subdir);
        assert!(got[0].3.contains("step #3 runs `make`"), "{got:?}");
    }

    #[test]
    fn fetch_head_counts_only_after_fetching_a_pull_ref_and_trusted_scripts_do_not_run_it() {
        let other = "on: issue_comment\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n          git fetch origin refs/heads/main\n          git checkout FETCH_HEAD\n          make\n";
        assert!(check(other).is_empty());
        let pull = other.replace("refs/heads/main", "pull/${{ github.event.issue.number }}/head");
        assert_eq!(check(&pull)[0].2, Severity::Error);
        let tools = "on: pull_request_target\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with: {ref: '${{ github.event.pull_request.head.sha }}', path: repo}\n      - run: python ../tools/unpack.py ../assets\n        working-directory: repo\n";
        assert_eq!(check(tools)[0].2, Severity::Note);
    }

    #[test]
    fn ordinary_triggers_and_trusted_refs_are_ignored() {
        let push = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with: {ref: '${{ github.head_ref }}'}\n      - run: make\n";
        assert!(check(push).is_empty());
        let base = "on: pull_request_target\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n      - run: make\n";
        assert!(check(base).is_empty());
    }
}
