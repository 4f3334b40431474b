//! `composite-output-value`: each output of a composite action says where its value comes
//! from (`value:`), since composite actions cannot set outputs any other way.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct CompositeOutputValue;

static META: RuleMeta = RuleMeta {
    id: "composite-output-value",
    severity: Severity::Error,
    summary: "Checks that every output of a composite action has a `value:`.",
    applies: Applies::Actions,
    fixable: false,
};

impl Rule for CompositeOutputValue {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(action) = cx.action() else { return };
        if !action.is_composite() {
            return;
        }
        let Some(outputs) = action.outputs() else { return };
        for (name, entry) in outputs.entries() {
            if entry.value.get("value").is_none() {
                out.push(
                    cx.finding(
                        &META,
                        entry.key.span,
                        format!("output `{name}` of a composite action has no `value:`"),
                    )
                    .help(format!("add `value: ${{{{ steps.<step-id>.outputs.{name} }}}}`")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn outputs_need_values() {
        let src = "name: a\ndescription: b\noutputs:\n  ok:\n    value: ${{ steps.x.outputs.ok }}\n  missing:\n    description: m\nruns:\n  using: composite\n  steps: []\n";
        assert_eq!(
            lint("action.yml", src, "composite-output-value")
                .iter()
                .map(|f| (f.0, f.1))
                .collect::<Vec<_>>(),
            vec![(6, 3)]
        );
        assert!(
            lint(
                "action.yml",
                &src.replace("composite", "node20"),
                "composite-output-value"
            )
            .is_empty()
        );
    }
}
