//! `secrets-inherit`: `secrets: inherit` on a job that calls a reusable workflow from another
//! repository hands every secret of this repository to code maintained elsewhere. Local
//! (`./.github/workflows/…`) callees are the repository's own code and fine.
use super::security::{Uses, home_owner, is_full_sha, parse_uses};
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct SecretsInherit;

static META: RuleMeta = RuleMeta {
    id: "secrets-inherit",
    severity: Severity::Warning,
    summary: "Checks that reusable workflows from other repositories do not receive `secrets: inherit`.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for SecretsInherit {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        // A callee of the workflow's own organisation is not code maintained elsewhere.
        let home = std::cell::OnceCell::new();
        for job in wf.jobs() {
            let Some(secrets) = job.secrets() else { continue };
            if secrets.as_str() != Some("inherit") {
                continue;
            }
            let Some(uses) = job.uses().and_then(Node::as_str) else {
                continue;
            };
            let Uses::Remote(remote) = parse_uses(uses) else {
                continue;
            };
            if home
                .get_or_init(|| home_owner(wf.root))
                .as_deref()
                .is_some_and(|h: &str| h.eq_ignore_ascii_case(remote.owner))
            {
                continue;
            }
            let pinned = if is_full_sha(remote.git_ref) {
                ""
            } else {
                ", at a ref its owners can move"
            };
            let message = format!(
                "job `{}` passes every secret of this repository to `{}`, a workflow of another repository{pinned}",
                job.id(),
                uses.trim()
            );
            out.push(cx.finding(&META, secrets.span, message).help(
                "pass only the secrets the called workflow declares: `secrets: { NAME: ${{ secrets.NAME }} }`",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn callees_of_the_own_organisation_are_not_reported() {
        let src = "on: push\njobs:\n  a:\n    if: github.repository_owner == 'acme'\n    uses: acme/shared/.github/workflows/x.yml@v1\n    secrets: inherit\n";
        assert!(lint("wf.yml", src, "secrets-inherit").is_empty());
    }

    #[test]
    fn only_remote_callees_are_reported() {
        let src = "on: push\njobs:\n  a:\n    uses: o/r/.github/workflows/x.yml@v1\n    secrets: inherit\n  b:\n    uses: ./.github/workflows/y.yml\n    secrets: inherit\n  c:\n    uses: o/r/.github/workflows/x.yml@v1\n    secrets:\n      T: ${{ secrets.T }}\n";
        let got = lint("wf.yml", src, "secrets-inherit");
        assert_eq!(
            got.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
            vec![(5, 14)],
            "{got:?}"
        );
        assert!(got[0].2.contains("can move"));
    }
}
