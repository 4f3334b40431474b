//! `event-filter`: branch, tag and path filters are usable: an include filter and its
//! `-ignore` twin are not both set, and each pattern is a well-formed glob.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct EventFilter;

static META: RuleMeta = RuleMeta {
    id: "event-filter",
    severity: Severity::Error,
    summary: "Checks branch/tag/path filters: no filter together with its `-ignore` twin, and well-formed glob patterns.",
    applies: Applies::Workflows,
    fixable: false,
};

const FILTERS: &[&str] = &["branches", "tags", "paths"];

impl Rule for EventFilter {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for (name, config) in wf.events() {
            let (Some(event), Some(config)) = (name.as_str(), config) else {
                continue;
            };
            for filter in FILTERS {
                let ignore = format!("{filter}-ignore");
                let inc = config.entry(filter);
                let exc = config.entry(&ignore);
                if let (Some(_), Some(e)) = (inc, exc) {
                    out.push(
                        cx.finding(
                            &META,
                            e.key.span,
                            format!("`on.{event}` sets both `{filter}` and `{ignore}`"),
                        )
                        .help(format!(
                            "GitHub rejects this: use `{filter}` alone with `!pattern` entries to exclude"
                        )),
                    );
                }
                // `!` re-includes in `-ignore` lists too (patterns apply in order).
                for (entry, include) in [(inc, true), (exc, false)] {
                    let Some(entry) = entry else { continue };
                    check_patterns(cx, event, &entry.value, filter, include, out);
                }
            }
        }
    }
}

fn check_patterns(
    cx: &LintContext<'_>,
    event: &str,
    list: &Node,
    filter: &str,
    include: bool,
    out: &mut Vec<Finding>,
) {
    let items = list.items();
    let mut positive = 0;
    for node in &items {
        let Some(pattern) = node.as_str() else { continue };
        if node.is_expression() {
            positive += 1;
            continue;
        }
        if let Some(problem) = glob_problem(pattern, filter) {
            out.push(cx.finding(
                &META,
                node.span,
                format!("invalid {filter} pattern `{pattern}` in `on.{event}`: {problem}"),
            ));
        }
        if !pattern.starts_with('!') {
            positive += 1;
        }
    }
    if include && positive == 0 && !items.is_empty() && list.as_seq().is_some() {
        out.push(
            cx.finding(
                &META,
                list.span,
                format!("`on.{event}.{filter}` only excludes (`!`), so it matches nothing"),
            )
            .help("start the list with a pattern that includes, e.g. `'**'`, then exclude with `!`")
            .severity(Severity::Warning),
        );
    }
}

/// What is wrong with a filter pattern, if anything.
pub fn glob_problem(pattern: &str, filter: &str) -> Option<String> {
    let body = pattern.strip_prefix('!').unwrap_or(pattern);
    if body.is_empty() {
        return Some("the pattern is empty".into());
    }
    if filter == "paths" && body.starts_with("./") {
        return Some("paths are matched from the repository root without `./`".into());
    }
    let mut chars = body.chars().peekable();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Some("ends with a lone `\\`".into()),
            '[' => {
                depth += 1;
                if depth > 1 {
                    return Some("nested `[` in a character class".into());
                }
                if chars.peek() == Some(&']') {
                    return Some("empty character class `[]`".into());
                }
            }
            ']' if depth == 0 => return Some("`]` without a matching `[`".into()),
            ']' => depth -= 1,
            _ => {}
        }
    }
    if depth > 0 {
        return Some("`[` without a matching `]`".into());
    }
    if filter != "paths" && body.chars().any(|c| matches!(c, ' ' | '~' | '^' | ':' | '\t')) {
        return Some("git ref names cannot contain spaces, `~`, `^` or `:`".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::glob_problem;
    use crate::lint::testing::lint;

    #[test]
    fn conflicts_and_patterns() {
        let src = "on:\n  push:\n    branches: [main, 'rel/[ab']\n    branches-ignore: ['!x']\n  pull_request:\n    paths: ['!docs/**']\n    paths-ignore: ['**', '!src/a']\njobs: {}\n";
        let found = lint("w.yml", src, "event-filter");
        let lines: Vec<u32> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, vec![3, 4, 6, 7], "{found:?}");
        assert!(
            lint(
                "w.yml",
                "on:\n  push:\n    branches: [main, 'v[0-9]*', '!x']\n    paths: ['src/**']\njobs: {}\n",
                "event-filter"
            )
            .is_empty()
        );
    }

    #[test]
    fn glob_rules() {
        assert!(glob_problem("feature/**", "branches").is_none());
        assert!(glob_problem("a b", "branches").is_some());
        assert!(glob_problem("a b/**", "paths").is_none());
        assert!(glob_problem("./src/**", "paths").is_some());
    }
}
