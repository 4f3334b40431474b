//! `runner-label`: `runs-on:` asks for runners that exist: current GitHub-hosted labels, the
//! default self-hosted labels, or labels configured in `self-hosted-runner.labels`.
use super::job_needs::closest;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::github::{HOSTED_LABELS, RETIRED_LABELS, SELF_HOSTED_DEFAULT_LABELS, THIRD_PARTY_PREFIXES};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct RunnerLabel;

static META: RuleMeta = RuleMeta {
    id: "runner-label",
    severity: Severity::Error,
    summary: "Checks `runs-on:` labels against current GitHub-hosted runners, retired images and configured self-hosted labels.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for RunnerLabel {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for job in wf.jobs() {
            let Some(runs_on) = job.runs_on() else { continue };
            let value = &runs_on.value;
            if value.get("group").is_some() {
                // Runner groups hold larger or self-hosted runners with organisation labels.
                continue;
            }
            let labels: Vec<&Node> = match value.get("labels") {
                Some(l) => l.items(),
                None if value.as_map().is_some() => continue,
                None => value.items(),
            };
            let texts: Vec<&str> = labels.iter().filter_map(|n| n.as_str()).collect();
            let self_hosted = texts.iter().any(|l| l.eq_ignore_ascii_case("self-hosted"));
            for node in labels {
                let Some(label) = node.as_str() else { continue };
                if node.is_expression() {
                    continue;
                }
                check_label(cx, node, label, self_hosted, out);
            }
        }
    }
}

fn check_label(cx: &LintContext<'_>, node: &Node, label: &str, self_hosted: bool, out: &mut Vec<Finding>) {
    let lower = label.to_ascii_lowercase();
    if let Some((_, instead)) = RETIRED_LABELS.iter().find(|(l, _)| *l == lower) {
        out.push(
            cx.finding(
                &META,
                node.span,
                format!("runner image `{label}` was retired by GitHub; the job will not run"),
            )
            .help(format!("use `{instead}` or another current image")),
        );
        return;
    }
    let known = HOSTED_LABELS.contains(&lower.as_str())
        || SELF_HOSTED_DEFAULT_LABELS.contains(&lower.as_str())
        || THIRD_PARTY_PREFIXES.iter().any(|p| lower.starts_with(p))
        || cx.config.is_self_hosted_label(label);
    if known {
        return;
    }
    // With `self-hosted`, custom labels are normal; only check them against a configured list.
    if self_hosted && cx.config.self_hosted_labels.is_empty() {
        return;
    }
    let help = match closest(&lower, HOSTED_LABELS) {
        Some(c) => format!("did you mean `{c}`? If this is a self-hosted or larger runner, list it under `self-hosted-runner.labels` in .github/autosd-lint.yml"),
        None => "if this is a self-hosted or larger runner, list it under `self-hosted-runner.labels` in .github/autosd-lint.yml".into(),
    };
    out.push(
        cx.finding(&META, node.span, format!("unknown runner label `{label}`"))
            .help(help)
            // Larger runners and self-hosted fleets have organisation-specific names, so an
            // unknown label is suspicious, not proof.
            .severity(Severity::Warning),
    );
}

#[cfg(test)]
mod tests {
    use crate::lint::Config;
    use crate::lint::NoLocalFiles;
    use crate::lint::testing::{lint, lint_with};

    fn wf(runs_on: &str) -> String {
        format!("on: push\njobs:\n  a:\n    runs-on: {runs_on}\n    steps: [{{run: x}}]\n")
    }

    #[test]
    fn hosted_retired_unknown_and_configured() {
        assert!(lint("w.yml", &wf("ubuntu-24.04-arm"), "runner-label").is_empty());
        assert!(lint("w.yml", &wf("[self-hosted, linux, gpu-box]"), "runner-label").is_empty());
        assert!(lint("w.yml", &wf("${{ matrix.os }}"), "runner-label").is_empty());
        let retired = lint("w.yml", &wf("ubuntu-20.04"), "runner-label");
        assert_eq!(retired[0].0, 4);
        assert!(retired[0].2.contains("retired"));
        let typo = lint("w.yml", &wf("ubunty-latest"), "runner-label");
        assert_eq!(
            typo,
            vec![(4, 14, "unknown runner label `ubunty-latest`".to_string())]
        );
        let cfg = Config::parse("self-hosted-runner:\n  labels: [gpu-*]\n").expect("config");
        assert!(lint_with("w.yml", &wf("gpu-a100"), "runner-label", &cfg, &NoLocalFiles).is_empty());
    }
}
