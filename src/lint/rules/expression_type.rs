//! `expression-type`: function arity and argument types, `format` placeholders, invalid
//! `fromJSON` literals, comparisons that are constant under GitHub's loose rules, property
//! access on non-objects, and `if:` conditions that are always true because `${{ }}` is
//! mixed with other text.
use super::expr_sites::{collect, value_span};
use crate::lint::LintContext;
use crate::lint::expr::check::ProblemKind;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct ExpressionType;

static META: RuleMeta = RuleMeta {
    id: "expression-type",
    severity: Severity::Error,
    summary: "Type-checks expressions: function arity and argument types, format placeholders, constant comparisons, property access on non-objects.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for ExpressionType {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let exprs = collect(cx);
        for problem in exprs.template_problems.iter().filter(|p| p.mixed_if) {
            let span = value_span(cx, problem.node, problem.error.span);
            out.push(
                cx.finding(&META, span, problem.error.message.clone())
                    .help("write the whole condition inside one `${{ }}`, or leave `${{ }}` out: `if:` is evaluated as an expression"),
            );
        }
        for site in &exprs.sites {
            for problem in site.problems().iter().filter(|p| p.kind == ProblemKind::Type) {
                out.push(cx.finding(&META, site.span_of(cx, problem.span), problem.message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    fn workflow(step: &str) -> String {
        format!("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - {step}\n")
    }

    #[test]
    fn reports_type_errors_with_positions() {
        let found = lint(
            ".github/workflows/x.yml",
            &workflow("run: echo ${{ format('{0} {1}', github.sha) }}"),
            "expression-type",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (6, 30));
        let found = lint(
            ".github/workflows/x.yml",
            &workflow("run: echo ${{ contains(github.sha) }}"),
            "expression-type",
        );
        assert!(found[0].2.contains("takes 2 arguments"), "{found:?}");
        let found = lint(
            ".github/workflows/x.yml",
            &workflow("if: github.event == 'push'\n        run: echo"),
            "expression-type",
        );
        assert!(found[0].2.contains("always false"), "{found:?}");
    }

    #[test]
    fn mixed_if_is_always_true() {
        let found = lint(
            ".github/workflows/x.yml",
            &workflow("if: ${{ github.ref == 'main' }} && true\n        run: echo"),
            "expression-type",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].2.contains("always true"));
        let fine = workflow("if: ${{ github.ref == 'main' }}\n        run: echo");
        assert!(lint(".github/workflows/x.yml", &fine, "expression-type").is_empty());
    }
}
