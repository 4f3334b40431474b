//! `expression-syntax`: every `${{ }}` and `if:` condition parses as GitHub's expression
//! language; the finding points at the exact character inside the YAML scalar.
use super::expr_sites::{collect, value_span};
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct ExpressionSyntax;

static META: RuleMeta = RuleMeta {
    id: "expression-syntax",
    severity: Severity::Error,
    summary: "Checks that `${{ }}` expressions and `if:` conditions are syntactically valid and closed.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for ExpressionSyntax {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let exprs = collect(cx);
        for problem in exprs.template_problems.iter().filter(|p| !p.mixed_if) {
            let span = value_span(cx, problem.node, problem.error.span);
            out.push(
                cx.finding(&META, span, problem.error.message.clone())
                    .help("close the expression with `}}`; a `}}` inside a quoted string does not count"),
            );
        }
        for site in &exprs.sites {
            let Err(error) = site.parsed.as_ref() else {
                continue;
            };
            let span = site.span_of(cx, error.span);
            out.push(
                cx.finding(&META, span, format!("invalid expression: {}", error.message))
                    .help("see https://docs.github.com/actions/reference/evaluate-expressions-in-workflows-and-actions"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn reports_parse_errors_at_the_exact_column() {
        let src = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.sha = 'x' }}\n      - if: github.ref == 'main' &&\n        run: echo\n";
        let found = lint(".github/workflows/x.yml", src, "expression-syntax");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (6, 34));
        assert!(found[0].2.contains("`==`"), "{}", found[0].2);
        assert_eq!(found[1].0, 7);
    }

    #[test]
    fn reports_unterminated_expressions_in_block_scalars() {
        let src = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          echo ok\n          echo ${{ github.sha\n";
        let found = lint(".github/workflows/x.yml", src, "expression-syntax");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (8, 16));
    }

    #[test]
    fn valid_expressions_and_unevaluated_keys_are_fine() {
        let src = "name: ${{ not evaluated\non:\n  push:\n    branches: ['${{ x']\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"${{ format('}}{0}', github.sha) }}\"\n        if: ${{ always() }}\n";
        assert!(lint(".github/workflows/x.yml", src, "expression-syntax").is_empty());
    }
}
