//! `undefined-reference`: names that cannot exist where they are used: `matrix.<key>`
//! missing from the job's static matrix, `steps.<id>` that is not an earlier step of the
//! same job, `needs.<job>` not in `needs:`, outputs a needed job does not declare,
//! `inputs.<name>` not declared by the triggers (or the action), unknown contexts,
//! unknown properties of `github`/`runner`/`strategy`, and unknown functions.
use super::expr_sites::collect;
use crate::lint::LintContext;
use crate::lint::expr::check::ProblemKind;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct UndefinedReference;

static META: RuleMeta = RuleMeta {
    id: "undefined-reference",
    severity: Severity::Error,
    summary: "Checks that matrix keys, step ids, needed jobs, their outputs, inputs, contexts and functions referenced in expressions exist.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for UndefinedReference {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let exprs = collect(cx);
        for site in &exprs.sites {
            for problem in site
                .problems()
                .iter()
                .filter(|p| p.kind == ProblemKind::Undefined)
            {
                let mut finding = cx.finding(&META, site.span_of(cx, problem.span), problem.message.clone());
                if problem.soft {
                    finding = finding.severity(Severity::Warning);
                }
                out.push(finding);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    const WF: &str = "on:
  workflow_dispatch:
    inputs:
      name: {type: string}
jobs:
  setup:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo
  test:
    needs: setup
    strategy:
      matrix:
        os: [ubuntu-latest]
        include:
          - os: windows-latest
            shell: pwsh
    runs-on: ${{ matrix.os }}
    steps:
      - run: echo ${{ steps.later.outputs.x }} ${{ inputs.name }} ${{ inputs.nmae }}
      - id: later
        run: echo ${{ matrix.shell }} ${{ matrix.node }} ${{ needs.setup.outputs.version }}
      - run: echo ${{ needs.build.result }} ${{ needs.setup.outputs.versoin }} ${{ steps.later.outputs.x }}
";

    #[test]
    fn reports_each_kind_of_missing_name() {
        let found = lint(".github/workflows/x.yml", WF, "undefined-reference");
        let got: Vec<(u32, u32)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(
            got,
            vec![(23, 29), (23, 78), (25, 50), (26, 29), (26, 69)],
            "{found:?}"
        );
        assert!(found[0].2.contains("later"));
        assert!(found[2].2.contains("matrix keys: os, shell"), "{}", found[2].2);
    }

    #[test]
    fn dynamic_matrices_and_reusable_outputs_are_not_judged() {
        let src = "on: push\njobs:\n  gen:\n    uses: ./.github/workflows/gen.yml\n  b:\n    needs: gen\n    strategy:\n      matrix: ${{ fromJSON(needs.gen.outputs.m) }}\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.anything }} ${{ needs.gen.outputs.whatever }}\n";
        assert!(lint(".github/workflows/x.yml", src, "undefined-reference").is_empty());
    }

    #[test]
    fn computed_step_ids_make_steps_unknown() {
        let src = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - id: ${{ matrix.id }}\n        run: echo\n      - run: echo ${{ steps.s1.outputs.x }}\n";
        assert!(lint(".github/workflows/x.yml", src, "undefined-reference").is_empty());
    }

    #[test]
    fn action_inputs_and_steps() {
        let src = "name: x\ndescription: y\ninputs:\n  token: {description: t}\noutputs:\n  out:\n    value: ${{ steps.s.outputs.o }}\nruns:\n  using: composite\n  steps:\n    - id: s\n      run: echo ${{ inputs.token }} ${{ inputs.tokn }}\n      shell: bash\n";
        let found = lint("action.yml", src, "undefined-reference");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (12, 48));
    }
}
