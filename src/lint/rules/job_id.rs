//! `job-id`: job ids use the allowed characters and are unique ignoring case.
use super::ids::is_valid_id;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use std::collections::HashMap;

pub struct JobId;

static META: RuleMeta = RuleMeta {
    id: "job-id",
    severity: Severity::Error,
    summary: "Checks that job ids start with a letter or `_`, contain only letters, digits, `-` and `_`, and are unique ignoring case.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for JobId {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        let mut seen: HashMap<String, &str> = HashMap::new();
        for job in wf.jobs() {
            let id = job.id();
            if !is_valid_id(id) {
                out.push(
                    cx.finding(&META, job.key().span, format!("job id `{id}` is not valid"))
                        .help("a job id must start with a letter or `_` and contain only letters, digits, `-` and `_`"),
                );
            }
            match seen.get(&id.to_ascii_lowercase()) {
                // Exact duplicates are `yaml-duplicate-key` findings already.
                Some(first) if *first != id => out.push(
                    cx.finding(
                        &META,
                        job.key().span,
                        format!("job id `{id}` differs from job `{first}` only in case"),
                    )
                    .help("GitHub compares job ids ignoring case: rename one of them"),
                ),
                Some(_) => {}
                None => {
                    seen.insert(id.to_ascii_lowercase(), id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn syntax_and_case_duplicates() {
        let src = "on: push\njobs:\n  1build:\n    runs-on: x\n  Test:\n    runs-on: x\n  test:\n    runs-on: x\n  ok_job-2:\n    runs-on: x\n";
        let found = lint("w.yml", src, "job-id");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (3, 3));
        assert_eq!(found[1].2, "job id `test` differs from job `Test` only in case");
    }
}
