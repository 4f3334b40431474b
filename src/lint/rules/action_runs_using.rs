//! `action-runs-using`: `runs.using` of action metadata is a runtime GitHub still runs
//! (`node20`, `node24`, `docker`, `composite`); `node12`/`node16` are end-of-life.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct ActionRunsUsing;

static META: RuleMeta = RuleMeta {
    id: "action-runs-using",
    severity: Severity::Error,
    summary: "Checks that `runs.using` is node20, node24, docker or composite.",
    applies: Applies::Actions,
    fixable: false,
};

const CURRENT: &[&str] = &["node20", "node24", "docker", "composite"];
const RETIRED: &[&str] = &["node12", "node16"];

impl Rule for ActionRunsUsing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(action) = cx.action() else { return };
        let Some(node) = action.using() else { return };
        let Some(using) = node.as_str() else { return };
        if CURRENT.contains(&using) {
            return;
        }
        if RETIRED.contains(&using) {
            out.push(
                cx.finding(
                    &META,
                    node.span,
                    format!("`{using}` is end-of-life; runners force such actions onto a newer Node"),
                )
                .help("set `using: node24` (or node20) and test the action on it")
                .severity(Severity::Warning),
            );
            return;
        }
        out.push(
            cx.finding(&META, node.span, format!("`{using}` is not a valid `runs.using`"))
                .help(format!("use one of: {}", CURRENT.join(", "))),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn runtimes() {
        let src = |u: &str| format!("name: a\ndescription: b\nruns:\n  using: {u}\n  main: i.js\n");
        assert!(lint("action.yml", &src("node24"), "action-runs-using").is_empty());
        assert_eq!(lint("action.yml", &src("node16"), "action-runs-using")[0].0, 4);
        assert_eq!(lint("action.yml", &src("node"), "action-runs-using")[0].1, 10);
    }
}
