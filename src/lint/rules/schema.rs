//! `schema`: the file matches the SchemaStore schema for its kind (workflow or action
//! metadata): known keys, required keys, value types and enumerations.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::schema;

pub struct Schema;

static META: RuleMeta = RuleMeta {
    id: "schema",
    severity: Severity::Error,
    summary: "Checks keys, required keys, types and allowed values against the SchemaStore workflow and action schemas.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for Schema {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(root) = cx.root() else { return };
        for err in schema::validate(root, cx.kind) {
            let mut f = cx.finding(&META, err.span, err.message);
            f.help = err.help;
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn reports_typos_with_positions() {
        let found = lint(
            ".github/workflows/x.yml",
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout-minute: 5\n    steps: [{run: x}]\n",
            "schema",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (5, 5));
    }

    #[test]
    fn valid_action_is_clean() {
        let found = lint(
            "action.yml",
            "name: a\ndescription: b\nruns:\n  using: composite\n  steps:\n    - run: echo\n      shell: bash\n",
            "schema",
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
