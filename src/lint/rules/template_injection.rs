//! `template-injection`: untrusted text (`github.event.*` titles, bodies, branch names,
//! commit messages, author names; `github.head_ref`; string inputs; step and job outputs)
//! expanded with `${{ }}` inside a `run:` script or an `actions/github-script` `script:`,
//! where it becomes code. The fix moves each expression into the step's `env:` and reads
//! the variable instead (`"${VAR}"`, `${env:VAR}`, `%VAR%` or `process.env.VAR`).
use std::collections::BTreeMap;

use super::expr_sites::{PathSeg, Site, collect, value_offsets};
use crate::lint::LintContext;
use crate::lint::expr::ast::Expr;
use crate::lint::expr::untrusted::{InputPolicy, Source, untrusted_values};
use crate::lint::finding::{Edit, Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, NodeKind, Style};

pub struct TemplateInjection;

static META: RuleMeta = RuleMeta {
    id: "template-injection",
    severity: Severity::Error,
    summary: "Checks that untrusted values (event payload text, string inputs, step outputs) are not expanded with `${{ }}` inside scripts.",
    applies: Applies::Both,
    fixable: true,
};

const HELP: &str = "pass the value through `env:` and read the variable in the script; \
see https://docs.github.com/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#understanding-the-risk-of-script-injections";

/// Inputs are untrusted text unless every declaration of them says `boolean`, `number`,
/// `choice` or `environment` (GitHub validates those values when the run is dispatched).
/// Action inputs have no types and are always text.
struct DeclaredInputs<'a> {
    root: &'a Node,
    workflow: bool,
}

impl InputPolicy for DeclaredInputs<'_> {
    fn is_untrusted_input(&self, name: &str) -> bool {
        if !self.workflow {
            return true;
        }
        let on = self.root.get("on");
        let declared: Vec<Option<&str>> = ["workflow_dispatch", "workflow_call"]
            .iter()
            .filter_map(|event| on?.get(event)?.get("inputs"))
            .flat_map(|inputs| inputs.entries())
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, e)| e.value.get("type").and_then(Node::as_str))
            .collect();
        declared.is_empty()
            || declared
                .iter()
                .any(|t| !matches!(t, Some("boolean" | "number" | "choice" | "environment")))
    }
}

/// Which script language the site is written in, for the variable reference syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Posix,
    Pwsh,
    Cmd,
    JavaScript,
    /// Python or a custom shell: no fix offered.
    Other,
}

impl Rule for TemplateInjection {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let exprs = collect(cx);
        // Findings per step, so that one fix per step carries all of its env entries.
        let mut per_step: BTreeMap<u32, Vec<(Finding, Option<Planned>)>> = BTreeMap::new();
        for site in &exprs.sites {
            let Some((step, lang)) = script_site(cx, site) else {
                continue;
            };
            let Ok(expr) = site.parsed.as_ref() else { continue };
            let Some(root) = cx.root() else { return };
            let policy = DeclaredInputs {
                root,
                workflow: cx.kind == crate::lint::model::FileKind::Workflow,
            };
            let found = untrusted_values(expr, &policy);
            let Some(worst) = found.iter().map(|u| u.source).min() else {
                continue;
            };
            let first = &found[0];
            let (severity, message) = describe(worst, &first.path, found.len());
            let finding = cx
                .finding(&META, site.span_of(cx, first.span), message)
                .severity(severity)
                .help(HELP);
            let planned = plan(cx, site, expr, lang);
            per_step
                .entry(step.span.start.offset)
                .or_default()
                .push((finding, planned));
        }
        for findings in per_step.into_values() {
            let mut fix_holder: Option<usize> = None;
            let mut plans: Vec<Planned> = Vec::new();
            let mut collected = Vec::new();
            for (i, (finding, planned)) in findings.into_iter().enumerate() {
                if let Some(p) = planned {
                    fix_holder.get_or_insert(i);
                    plans.push(p);
                }
                collected.push(finding);
            }
            if let (Some(holder), Some(step_node)) = (fix_holder, plans.first().map(|p| p.step))
                && let Some(edits) = build_edits(cx, step_node, &plans)
            {
                let finding = collected.remove(holder);
                collected.insert(holder, finding.fix("move untrusted expressions into env:", edits));
            }
            out.extend(collected);
        }
    }
}

fn describe(source: Source, path: &str, count: usize) -> (Severity, String) {
    let more = if count > 1 {
        format!(
            " (and {} more untrusted value{})",
            count - 1,
            if count == 2 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    match source {
        Source::Event => (
            Severity::Error,
            format!(
                "`{path}` can be set by whoever triggers the workflow and is pasted into this script before it runs: a crafted value executes as code{more}"
            ),
        ),
        Source::Input => (
            Severity::Warning,
            format!(
                "input `{path}` is pasted into this script before it runs: a value containing quotes or `$(…)` executes as code{more}"
            ),
        ),
        Source::Output => (
            Severity::Note,
            format!(
                "`{path}` is pasted into this script before it runs: if the output carries untrusted text, it executes as code{more}"
            ),
        ),
    }
}

/// When `site` is a script (`run:` or a github-script `script:`), the step node and language.
fn script_site<'a>(cx: &LintContext<'a>, site: &Site<'a>) -> Option<(&'a Node, Lang)> {
    let root = cx.root()?;
    let (job, step_index, rest) = match site.path.as_slice() {
        [
            PathSeg::Key("jobs"),
            PathSeg::Key(job),
            PathSeg::Key("steps"),
            PathSeg::Index(i),
            rest @ ..,
        ] => (root.get("jobs")?.get(job), *i, rest),
        [
            PathSeg::Key("runs"),
            PathSeg::Key("steps"),
            PathSeg::Index(i),
            rest @ ..,
        ] => (None, *i, rest),
        _ => return None,
    };
    let steps = match job {
        Some(job) => job.get("steps")?,
        None => root.get("runs")?.get("steps")?,
    };
    let step = steps.as_seq()?.get(step_index)?;
    match rest {
        [PathSeg::Key("run")] => Some((step, shell_lang(root, job, step))),
        [PathSeg::Key("with"), PathSeg::Key("script")] => {
            let uses = step.get("uses")?.as_str()?;
            let slug = uses.split('@').next().unwrap_or_default().to_ascii_lowercase();
            (slug == "actions/github-script").then_some((step, Lang::JavaScript))
        }
        _ => None,
    }
}

/// The shell of a `run:` step: its own `shell:`, the job's and the workflow's
/// `defaults.run.shell`, else the runner default (PowerShell on Windows, bash elsewhere).
fn shell_lang(root: &Node, job: Option<&Node>, step: &Node) -> Lang {
    fn defaults(n: Option<&Node>) -> Option<&str> {
        n?.get("defaults")?.get("run")?.get("shell")?.as_str()
    }
    let shell = step
        .get("shell")
        .and_then(Node::as_str)
        .or_else(|| defaults(job))
        .or_else(|| defaults(Some(root)));
    match shell.map(|s| s.split_whitespace().next().unwrap_or_default()) {
        Some("bash" | "sh") => Lang::Posix,
        Some("pwsh" | "powershell") => Lang::Pwsh,
        Some("cmd") => Lang::Cmd,
        Some(_) => Lang::Other,
        None => {
            let runs_on = job
                .and_then(|j| j.get("runs-on"))
                .map(|r| {
                    r.items()
                        .iter()
                        .filter_map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
                .to_ascii_lowercase();
            if runs_on.contains("windows") {
                Lang::Pwsh
            } else if runs_on.contains("${{") {
                Lang::Other
            } else {
                Lang::Posix
            }
        }
    }
}

/// One expression to move: where it is in the source and what replaces it.
struct Planned<'a> {
    step: &'a Node,
    var: String,
    expr_text: String,
    /// Byte range of `${{ … }}` (or of the surrounding quotes for JavaScript) in the file.
    start: usize,
    end: usize,
    replacement: String,
}

/// An environment variable name for a plain access path: `github.event.issue.title` →
/// `ISSUE_TITLE`, `inputs.tag-name` → `INPUT_TAG_NAME`, `steps.meta.outputs.tags` →
/// `STEPS_META_TAGS`; `None` for anything that is not a plain path.
fn var_name(expr: &Expr) -> Option<String> {
    let path = expr.access_path()?;
    if path.iter().any(|s| s == "*") {
        return None;
    }
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let parts: Vec<&str> = match segs.as_slice() {
        ["github", "event", "inputs", rest @ ..] if !rest.is_empty() => {
            std::iter::once("input").chain(rest.iter().copied()).collect()
        }
        ["github", "event", rest @ ..] if !rest.is_empty() => rest.to_vec(),
        ["github", rest @ ..] => rest.to_vec(),
        ["inputs", rest @ ..] => std::iter::once("input").chain(rest.iter().copied()).collect(),
        [kind @ ("steps" | "needs"), id, "outputs", rest @ ..] => {
            [*kind, *id].into_iter().chain(rest.iter().copied()).collect()
        }
        _ => return None,
    };
    let name: String = parts
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    (!name.is_empty()).then_some(name)
}

fn plan<'a>(cx: &LintContext<'a>, site: &Site<'a>, expr: &Expr, lang: Lang) -> Option<Planned<'a>> {
    let whole = site.whole?;
    let (step, _) = script_site(cx, site)?;
    let scalar = site.node.as_scalar()?;
    if !matches!(scalar.style, Style::Plain | Style::Literal | Style::Folded) {
        return None;
    }
    let var = var_name(expr)?;
    let source = cx.source();
    let map = value_offsets(source, site.node)?;
    let start = map[whole.start];
    let end = map[whole.end - 1] + 1;
    let value = scalar.text.as_str();
    // The `${{ … }}` must sit verbatim in the source (no folding or escapes inside it).
    if source.get(start..end) != value.get(whole.start..whole.end) {
        return None;
    }
    let before = &value[..whole.start];
    let after = &value[whole.end..];
    let (start, end, replacement) = match lang {
        Lang::Posix => {
            if before.contains("<<") || (scalar.style == Style::Plain && whole.start == 0) {
                return None;
            }
            let replacement = match posix_quote_state(before) {
                Quote::Single => format!("'\"${{{var}}}\"'"),
                Quote::Double => format!("${{{var}}}"),
                Quote::None => format!("\"${{{var}}}\""),
            };
            (start, end, replacement)
        }
        Lang::Pwsh => {
            if posix_quote_state(before) == Quote::Single
                || (scalar.style == Style::Plain && whole.start == 0)
            {
                return None;
            }
            (start, end, format!("${{env:{var}}}"))
        }
        Lang::Cmd => (start, end, format!("%{var}%")),
        Lang::JavaScript => {
            let quote = before.chars().last()?;
            let quoted_in_source =
                start > 0 && source[..start].ends_with(quote) && source[end..].starts_with(quote);
            if !matches!(quote, '\'' | '"' | '`') || !after.starts_with(quote) || !quoted_in_source {
                return None;
            }
            (start - 1, end + 1, format!("process.env.{var}"))
        }
        Lang::Other => return None,
    };
    let inner = &value[site.inner.start..site.inner.end];
    Some(Planned {
        step,
        var,
        expr_text: inner.trim().to_string(),
        start,
        end,
        replacement,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The POSIX shell quoting state at the end of `text`: backslash escapes outside single
/// quotes, and `$( … )` command substitutions, which start a fresh quoting context even
/// inside double quotes.
fn posix_quote_state(text: &str) -> Quote {
    // One frame per open command substitution: its quote state and open parentheses.
    let mut stack: Vec<(Quote, usize)> = vec![(Quote::None, 0)];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let Some(top) = stack.last_mut() else { break };
        match (top.0, c) {
            (Quote::Single, '\'') => top.0 = Quote::None,
            (Quote::Single, _) => {}
            (_, '\\') => {
                chars.next();
            }
            (_, '$') if chars.peek() == Some(&'(') => {
                chars.next();
                stack.push((Quote::None, 0));
            }
            (Quote::Double, '"') => top.0 = Quote::None,
            (Quote::Double, _) => {}
            (Quote::None, '\'') => top.0 = Quote::Single,
            (Quote::None, '"') => top.0 = Quote::Double,
            (Quote::None, '(') => top.1 += 1,
            (Quote::None, ')') if top.1 > 0 => top.1 -= 1,
            (Quote::None, ')') if stack.len() > 1 => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.last().map_or(Quote::None, |top| top.0)
}

/// The edits for one step: every planned replacement plus the `env:` entries.
fn build_edits(cx: &LintContext<'_>, step: &Node, plans: &[Planned<'_>]) -> Option<Vec<Edit>> {
    let source = cx.source();
    let env = step.get("env");
    let existing: BTreeMap<String, String> = env
        .map(|e| {
            e.entries()
                .filter_map(|(k, v)| Some((k.to_string(), v.value.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    // Names set by the job or workflow: a step entry would shadow them for the whole script.
    let outer = outer_env_names(cx, step);
    // Variable name per expression text; reuse an entry that already holds the expression.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut new_entries: Vec<(String, String)> = Vec::new();
    for plan in plans {
        if names.contains_key(&plan.expr_text) {
            continue;
        }
        let wanted = format!("${{{{ {} }}}}", plan.expr_text);
        if let Some((k, _)) = existing.iter().find(|(_, v)| v.trim() == wanted) {
            names.insert(plan.expr_text.clone(), k.clone());
            continue;
        }
        let mut name = plan.var.clone();
        let mut n = 2;
        while existing.contains_key(&name)
            || outer.contains(&name)
            || new_entries.iter().any(|(k, _)| *k == name)
        {
            name = format!("{}_{n}", plan.var);
            n += 1;
        }
        names.insert(plan.expr_text.clone(), name.clone());
        new_entries.push((name, wanted));
    }
    let mut edits: Vec<Edit> = plans
        .iter()
        .map(|p| {
            let name = names.get(&p.expr_text).cloned().unwrap_or_else(|| p.var.clone());
            Edit {
                start: p.start,
                end: p.end,
                replacement: p.replacement.replace(&p.var, &name),
            }
        })
        .collect();
    if !new_entries.is_empty() {
        edits.push(env_insertion(cx, source, step, env, &new_entries)?);
    }
    Some(edits)
}

/// `env:` names of the job containing `step` and of the workflow.
fn outer_env_names(cx: &LintContext<'_>, step: &Node) -> Vec<String> {
    let Some(root) = cx.root() else {
        return Vec::new();
    };
    let at = step.span.start.offset;
    let job = root
        .get("jobs")
        .map(|jobs| jobs.entries().map(|(_, e)| &e.value).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|job| job.span.start.offset <= at && at < job.span.end.offset);
    [job.and_then(|j| j.get("env")), root.get("env")]
        .into_iter()
        .flatten()
        .flat_map(|env| env.entries().map(|(k, _)| k.to_string()).collect::<Vec<_>>())
        .collect()
}

/// Where the text of `node` really ends. The parser's end marker of block scalars and
/// collections can sit on the next token's line, so descend to the last scalar and, for
/// block scalars, to the source of its last non-newline byte.
fn content_end(source: &str, node: &Node) -> usize {
    match &node.kind {
        NodeKind::Map(entries) => entries
            .last()
            .map_or(node.span.end.offset as usize, |e| content_end(source, &e.value)),
        NodeKind::Seq(items) => items
            .last()
            .map_or(node.span.end.offset as usize, |i| content_end(source, i)),
        NodeKind::Scalar(scalar) if scalar.style.is_block() => {
            let last = scalar.text.trim_end_matches('\n').len();
            match value_offsets(source, node) {
                Some(map) if last > 0 => map[last - 1] + 1,
                _ => node.span.start.offset as usize,
            }
        }
        NodeKind::Scalar(_) => node.span.end.offset as usize,
    }
}

fn line_start(source: &str, at: usize) -> usize {
    source[..at].rfind('\n').map_or(0, |p| p + 1)
}

/// Offset just after the line holding byte `at` (or after `at` itself when it already
/// starts a line, as the end of a block scalar does).
fn after_line(source: &str, end: usize) -> usize {
    if end > 0 && source.as_bytes().get(end - 1) == Some(&b'\n') {
        return end;
    }
    source[end..].find('\n').map_or(source.len(), |p| end + p + 1)
}

fn env_insertion(
    cx: &LintContext<'_>,
    source: &str,
    step: &Node,
    env: Option<&Node>,
    entries: &[(String, String)],
) -> Option<Edit> {
    let mut lines = String::new();
    if let Some(env) = env {
        // Append to a block mapping, at the indentation of its keys.
        let map = env.as_map()?;
        let last = map.last()?;
        if cx.text(env.span).trim_start().starts_with('{') {
            return None;
        }
        let indent = " ".repeat(last.key.span.start.col as usize - 1);
        for (k, v) in entries {
            lines.push_str(&format!("{indent}{k}: {v}\n"));
        }
        let at = after_line(source, content_end(source, &last.value));
        let prefix = if at == source.len() && !source.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        return Some(Edit {
            start: at,
            end: at,
            replacement: format!("{prefix}{lines}"),
        });
    }
    let map = step.as_map()?;
    if cx.text(step.span).trim_start().starts_with('{') {
        // A flow-style step (`- {run: …}`) has no line to add `env:` on.
        return None;
    }
    let first_key = &map.first()?.key;
    let indent = " ".repeat(first_key.span.start.col as usize - 1);
    lines.push_str(&format!("{indent}env:\n"));
    for (k, v) in entries {
        lines.push_str(&format!("{indent}  {k}: {v}\n"));
    }
    // Before a key that starts its own line, so the list dash stays where it is.
    for entry in map.iter().skip(1) {
        let key_at = entry.key.span.start.offset as usize;
        let ls = line_start(source, key_at);
        if source[ls..key_at].chars().all(|c| c == ' ') {
            return Some(Edit {
                start: ls,
                end: ls,
                replacement: lines,
            });
        }
    }
    // A one-key step: after its value.
    let at = after_line(source, content_end(source, &map.last()?.value));
    let prefix = if at == source.len() && !source.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    Some(Edit {
        start: at,
        end: at,
        replacement: format!("{prefix}{lines}"),
    })
}

#[cfg(test)]
mod tests {
    use crate::lint::fix::apply_edits;
    use crate::lint::testing::{findings, lint};

    fn fixed(src: &str) -> String {
        let mut edits: Vec<_> = findings(".github/workflows/x.yml", src)
            .into_iter()
            .filter(|f| f.rule == "template-injection")
            .filter_map(|f| f.fix)
            .flat_map(|f| f.edits)
            .collect();
        apply_edits(src, &mut edits)
    }

    const ISSUE: &str = "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - name: greet\n        run: |\n          # say hello\n          echo \"Title: ${{ github.event.issue.title }}\"\n          echo '${{ github.event.issue.title }}' ${{ github.event.issue.body }}\n";

    #[test]
    fn reports_event_fields_in_run_scripts() {
        let found = lint(".github/workflows/x.yml", ISSUE, "template-injection");
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (9, 28));
        assert!(found[0].2.contains("github.event.issue.title"));
    }

    #[test]
    fn fix_moves_expressions_into_env() {
        let out = fixed(ISSUE);
        let want = "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - name: greet\n        env:\n          ISSUE_TITLE: ${{ github.event.issue.title }}\n          ISSUE_BODY: ${{ github.event.issue.body }}\n        run: |\n          # say hello\n          echo \"Title: ${ISSUE_TITLE}\"\n          echo ''\"${ISSUE_TITLE}\"'' \"${ISSUE_BODY}\"\n";
        assert_eq!(out, want);
        assert!(lint(".github/workflows/x.yml", &out, "template-injection").is_empty());
    }

    #[test]
    fn fix_appends_to_existing_env_and_handles_github_script() {
        let src = "on: pull_request_target\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/github-script@v7\n        env:\n          A: b # keep\n        with:\n          script: |\n            const t = '${{ github.event.pull_request.title }}'\n";
        let out = fixed(src);
        assert!(out.contains("          A: b # keep\n          PULL_REQUEST_TITLE: ${{ github.event.pull_request.title }}\n"), "{out}");
        assert!(
            out.contains("const t = process.env.PULL_REQUEST_TITLE\n"),
            "{out}"
        );
    }

    #[test]
    fn severities_follow_the_source() {
        let src = "on:\n  workflow_dispatch:\n    inputs:\n      tag: {type: string}\n      dry: {type: boolean}\njobs:\n  a:\n    runs-on: windows-latest\n    steps:\n      - id: s\n        run: echo ${{ inputs.tag }} ${{ inputs.dry }}\n      - run: echo ${{ steps.s.outputs.x }} ${{ github.event.issue.number }}\n";
        let all = findings(".github/workflows/x.yml", src);
        let got: Vec<_> = all
            .iter()
            .filter(|f| f.rule == "template-injection")
            .map(|f| (f.span.start.line, f.severity.as_str()))
            .collect();
        assert_eq!(got, vec![(11, "warning"), (12, "note")]);
        let out = fixed(src);
        assert!(out.contains("echo ${env:INPUT_TAG} ${{ inputs.dry }}"), "{out}");
    }

    #[test]
    fn fix_avoids_names_set_by_the_job() {
        let src = "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    env:\n      ISSUE_TITLE: fixed\n    steps:\n      - run: echo ${{ github.event.issue.title }} $ISSUE_TITLE\n";
        let out = fixed(src);
        assert!(
            out.contains("ISSUE_TITLE_2: ${{ github.event.issue.title }}"),
            "{out}"
        );
        assert!(out.contains("echo \"${ISSUE_TITLE_2}\" $ISSUE_TITLE"), "{out}");
    }

    #[test]
    fn fix_handles_one_key_steps() {
        let src = "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.head_ref }}\n      - run: |\n          echo ${{ github.event.pull_request.title }}\n      - run: echo done\n";
        let out = fixed(src);
        let want = "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"${HEAD_REF}\"\n        env:\n          HEAD_REF: ${{ github.head_ref }}\n      - run: |\n          echo \"${PULL_REQUEST_TITLE}\"\n        env:\n          PULL_REQUEST_TITLE: ${{ github.event.pull_request.title }}\n      - run: echo done\n";
        assert_eq!(out, want);
    }

    #[test]
    fn quote_state_follows_command_substitutions() {
        use super::{Quote, posix_quote_state};
        assert_eq!(
            posix_quote_state("echo \"a $(gh api \"x\" -f sha=\""),
            Quote::Double
        );
        assert_eq!(posix_quote_state("echo \"$(date)"), Quote::Double);
        assert_eq!(posix_quote_state("echo \"$(f (x) "), Quote::None);
        assert_eq!(posix_quote_state("echo 'it\"s"), Quote::Single);
        assert_eq!(posix_quote_state("echo \\\" "), Quote::None);
    }

    #[test]
    fn safe_uses_are_not_reported() {
        let src = "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - if: contains(github.event.pull_request.title, 'x')\n        run: echo ${{ github.event.pull_request.number }} ${{ contains(github.head_ref, 'x') }}\n        env:\n          T: ${{ github.event.pull_request.title }}\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.head_ref }}\n";
        assert!(lint(".github/workflows/x.yml", src, "template-injection").is_empty());
    }
}
