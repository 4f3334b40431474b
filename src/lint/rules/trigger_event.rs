//! `trigger-event`: `on:` names events GitHub knows, with activity `types:` valid for each
//! event, and `workflow_run` names the workflows it follows.
use super::job_needs::closest;
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::github::{EVENTS, event};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct TriggerEvent;

static META: RuleMeta = RuleMeta {
    id: "trigger-event",
    severity: Severity::Error,
    summary: "Checks `on:` event names, their activity types, and that `workflow_run` lists `workflows:`.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for TriggerEvent {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        for (name_node, config) in wf.events() {
            let Some(name) = name_node.as_str() else { continue };
            let Some(types) = event(name) else {
                let names: Vec<&str> = EVENTS.iter().map(|(n, _)| *n).collect();
                let help = match closest(name, &names) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => {
                        "see https://docs.github.com/actions/using-workflows/events-that-trigger-workflows"
                            .into()
                    }
                };
                out.push(
                    cx.finding(&META, name_node.span, format!("unknown event `{name}`"))
                        .help(help),
                );
                continue;
            };
            let Some(config) = config else { continue };
            if let Some(types_entry) = config.entry("types") {
                check_types(cx, name, types, &types_entry.key, &types_entry.value, out);
            }
            if name == "workflow_run" && config.get("workflows").is_none() {
                out.push(
                    cx.finding(
                        &META,
                        name_node.span,
                        "`workflow_run` needs `workflows:` naming the workflows to follow",
                    )
                    .help("add `workflows: [\"CI\"]` with the `name:` of the triggering workflow"),
                );
            }
        }
    }
}

fn check_types(
    cx: &LintContext<'_>,
    event: &str,
    allowed: Option<&[&str]>,
    key: &Node,
    value: &Node,
    out: &mut Vec<Finding>,
) {
    let Some(allowed) = allowed else {
        out.push(
            cx.finding(&META, key.span, format!("event `{event}` has no activity types"))
                .help("remove `types:`; this event always triggers"),
        );
        return;
    };
    if allowed.is_empty() {
        return;
    }
    for t in value.items() {
        let Some(text) = t.as_str() else { continue };
        if t.is_expression() || allowed.contains(&text) {
            continue;
        }
        let help = match closest(text, allowed) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("valid types: {}", allowed.join(", ")),
        };
        out.push(
            cx.finding(
                &META,
                t.span,
                format!("`{text}` is not an activity type of `{event}`"),
            )
            .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    #[test]
    fn events_types_and_workflow_run() {
        let src = "on:\n  pushh:\n  issues:\n    types: [opened, create]\n  push:\n    types: [x]\n  workflow_run:\n    types: [completed]\n  repository_dispatch:\n    types: [anything]\njobs: {}\n";
        let found = lint("w.yml", src, "trigger-event");
        let lines: Vec<u32> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, vec![2, 4, 6, 7], "{found:?}");
        assert_eq!(found[0].2, "unknown event `pushh`");
        assert!(lint("w.yml", "on: [push, pull_request]\njobs: {}\n", "trigger-event").is_empty());
        assert_eq!(
            lint("w.yml", "on: [push, pull-request]\njobs: {}\n", "trigger-event").len(),
            1
        );
    }
}
