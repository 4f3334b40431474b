//! `context-availability`: a context or restricted function (`hashFiles`, status
//! functions) used at a key where GitHub does not provide it, per GitHub's own table in
//! the vendored `workflow-v1.0.json` / `action-v1.0.json` (e.g. `secrets` in `jobs.<id>.if`).
use super::expr_sites::{PathSeg, collect};
use crate::lint::LintContext;
use crate::lint::expr::check::ProblemKind;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct ContextAvailability;

static META: RuleMeta = RuleMeta {
    id: "context-availability",
    severity: Severity::Error,
    summary: "Checks that each context and restricted function is available at the key where it is used.",
    applies: Applies::Both,
    fixable: false,
};

/// `jobs.<job_id>.steps[*].if` style: the documented name of a key, with ids generalised.
pub fn key_name(path: &[PathSeg<'_>]) -> String {
    let mut out = String::new();
    for (i, seg) in path.iter().enumerate() {
        match seg {
            PathSeg::Index(_) => out.push_str("[*]"),
            PathSeg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let generic = match (path.get(i.wrapping_sub(1)), i) {
                    (Some(PathSeg::Key("jobs")), 1) => "<job_id>",
                    (Some(PathSeg::Key("env" | "with" | "outputs" | "secrets" | "inputs")), _) => "<name>",
                    _ => key,
                };
                out.push_str(generic);
            }
        }
    }
    out
}

impl Rule for ContextAvailability {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let exprs = collect(cx);
        for site in &exprs.sites {
            for problem in site
                .problems()
                .iter()
                .filter(|p| p.kind == ProblemKind::Availability)
            {
                let message = format!("{} (at `{}`)", problem.message, key_name(&site.path));
                out.push(cx.finding(&META, site.span_of(cx, problem.span), message).help(
                    "see https://docs.github.com/actions/reference/contexts-reference#context-availability",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn secrets_are_not_available_in_job_if() {
        let src = "on: push\njobs:\n  a:\n    if: secrets.TOKEN != ''\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ secrets.TOKEN }}\n        if: ${{ env.X == '1' && success() }}\n";
        let found = lint(".github/workflows/x.yml", src, "context-availability");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (4, 9));
        assert!(
            found[0].2.contains("`secrets`") && found[0].2.contains("jobs.<job_id>.if"),
            "{}",
            found[0].2
        );
    }

    #[test]
    fn restricted_functions_and_step_contexts() {
        let src = "on: push\nenv:\n  A: ${{ steps.x.outputs.y }}\njobs:\n  a:\n    runs-on: ${{ hashFiles('x') }}\n    steps:\n      - run: echo\n";
        let found = lint(".github/workflows/x.yml", src, "context-availability");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (3, 10));
        assert_eq!((found[1].0, found[1].1), (6, 18));
    }

    #[test]
    fn composite_actions_use_the_action_table() {
        let src = "name: x\ndescription: y\nruns:\n  using: composite\n  steps:\n    - run: echo ${{ inputs.a }} ${{ github.action_path }}\n      shell: bash\n    - run: echo ${{ secrets.X }}\n      shell: bash\n";
        let found = lint("action.yml", src, "context-availability");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 8);
    }
}
