//! Facts about GitHub Actions the rules share: trigger events and their activity types,
//! `GITHUB_TOKEN` permission scopes, and GitHub-hosted runner labels. The event and
//! permission tables mirror GitHub's own parser schema (`schemas/vendor/workflow-v1.0.json`);
//! a test checks them against it, so a schema update shows what changed here.

/// Activity types of `pull_request` and `pull_request_target` (the same list).
const PULL_REQUEST_TYPES: &[&str] = &[
    "assigned",
    "unassigned",
    "labeled",
    "unlabeled",
    "opened",
    "edited",
    "closed",
    "reopened",
    "synchronize",
    "converted_to_draft",
    "locked",
    "unlocked",
    "enqueued",
    "dequeued",
    "milestoned",
    "demilestoned",
    "ready_for_review",
    "review_requested",
    "review_request_removed",
    "auto_merge_enabled",
    "auto_merge_disabled",
    "stacked",
];

/// Trigger events with their activity types: `None` = the event takes no `types:`,
/// `Some(&[])` = any type is accepted (`repository_dispatch`).
pub static EVENTS: &[(&str, Option<&[&str]>)] = &[
    ("branch_protection_rule", Some(&["created", "edited", "deleted"])),
    (
        "check_run",
        Some(&["completed", "created", "rerequested", "requested_action"]),
    ),
    ("check_suite", Some(&["completed"])),
    ("create", None),
    ("delete", None),
    ("deployment", None),
    ("deployment_status", None),
    (
        "discussion",
        Some(&[
            "created",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "category_changed",
            "answered",
            "unanswered",
        ]),
    ),
    ("discussion_comment", Some(&["created", "edited", "deleted"])),
    ("fork", None),
    ("gollum", None),
    ("image_version", Some(&["created", "ready", "deleted"])),
    ("issue_comment", Some(&["created", "edited", "deleted"])),
    (
        "issues",
        Some(&[
            "opened",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "closed",
            "reopened",
            "assigned",
            "unassigned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "milestoned",
            "demilestoned",
            "field_added",
            "field_removed",
            "typed",
            "untyped",
        ]),
    ),
    ("label", Some(&["created", "edited", "deleted"])),
    ("merge_group", Some(&["checks_requested"])),
    (
        "milestone",
        Some(&["created", "closed", "opened", "edited", "deleted"]),
    ),
    ("page_build", None),
    (
        "project",
        Some(&["created", "closed", "reopened", "edited", "deleted"]),
    ),
    (
        "project_card",
        Some(&["created", "moved", "converted", "edited", "deleted"]),
    ),
    (
        "project_column",
        Some(&["created", "updated", "moved", "deleted"]),
    ),
    ("public", None),
    ("pull_request", Some(PULL_REQUEST_TYPES)),
    ("pull_request_comment", Some(&["created", "edited", "deleted"])),
    ("pull_request_review", Some(&["submitted", "edited", "dismissed"])),
    (
        "pull_request_review_comment",
        Some(&["created", "edited", "deleted"]),
    ),
    ("pull_request_target", Some(PULL_REQUEST_TYPES)),
    ("push", None),
    ("registry_package", Some(&["published", "updated"])),
    (
        "release",
        Some(&[
            "published",
            "unpublished",
            "created",
            "edited",
            "deleted",
            "prereleased",
            "released",
        ]),
    ),
    ("repository_dispatch", Some(&[])),
    ("schedule", None),
    ("status", None),
    ("watch", Some(&["started"])),
    ("workflow_call", None),
    ("workflow_dispatch", None),
    ("workflow_run", Some(&["requested", "completed", "in_progress"])),
];

/// The activity-type table entry of `event`, when `event` exists.
pub fn event(name: &str) -> Option<Option<&'static [&'static str]>> {
    EVENTS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Which levels a scope accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Levels {
    Any,
    WriteOrNone,
    ReadOrNone,
}

/// `permissions:` scopes of the `GITHUB_TOKEN`.
pub static PERMISSION_SCOPES: &[(&str, Levels)] = &[
    ("actions", Levels::Any),
    ("artifact-metadata", Levels::Any),
    ("attestations", Levels::Any),
    ("checks", Levels::Any),
    ("code-quality", Levels::Any),
    ("contents", Levels::Any),
    ("copilot-requests", Levels::WriteOrNone),
    ("deployments", Levels::Any),
    ("discussions", Levels::Any),
    ("drives", Levels::Any),
    ("id-token", Levels::WriteOrNone),
    ("issues", Levels::Any),
    ("models", Levels::ReadOrNone),
    ("packages", Levels::Any),
    ("pages", Levels::Any),
    ("pull-requests", Levels::Any),
    ("repository-projects", Levels::Any),
    ("security-events", Levels::Any),
    ("statuses", Levels::Any),
    ("vulnerability-alerts", Levels::ReadOrNone),
];

/// GitHub-hosted runner labels in service.
pub static HOSTED_LABELS: &[&str] = &[
    "ubuntu-latest",
    "ubuntu-26.04",
    "ubuntu-26.04-arm",
    "ubuntu-24.04",
    "ubuntu-22.04",
    "ubuntu-24.04-arm",
    "ubuntu-22.04-arm",
    "ubuntu-slim",
    "windows-latest",
    "windows-2025",
    "windows-2025-vs2026",
    "windows-2022",
    "windows-11-arm",
    "macos-latest",
    "macos-26",
    "macos-15",
    "macos-15-intel",
    "macos-14",
    "macos-13",
    "macos-latest-large",
    "macos-26-large",
    "macos-15-large",
    "macos-14-large",
    "macos-13-large",
    "macos-latest-xlarge",
    "macos-26-xlarge",
    "macos-15-xlarge",
    "macos-14-xlarge",
    "macos-13-xlarge",
];

/// GitHub-hosted labels that were retired: jobs asking for them never start (or fail).
pub static RETIRED_LABELS: &[(&str, &str)] = &[
    ("ubuntu-16.04", "ubuntu-latest"),
    ("ubuntu-18.04", "ubuntu-latest"),
    ("ubuntu-20.04", "ubuntu-24.04"),
    ("windows-2016", "windows-latest"),
    ("windows-2019", "windows-2022"),
    ("macos-10.15", "macos-latest"),
    ("macos-11", "macos-latest"),
    ("macos-12", "macos-latest"),
    ("macos-12-large", "macos-latest-large"),
    ("macos-12-xl", "macos-latest-xlarge"),
];

/// Label prefixes of hosted-runner providers outside GitHub (Depot, Namespace, Blacksmith,
/// BuildJet, WarpBuild, Ubicloud, RunsOn, Cirun): real runners, just not GitHub's.
pub static THIRD_PARTY_PREFIXES: &[&str] = &[
    "depot-",
    "namespace-profile-",
    "blacksmith-",
    "buildjet-",
    "warp-",
    "ubicloud-",
    "runs-on=",
    "runs-on/",
    "cirun-",
];

/// Labels every self-hosted runner gets by default.
pub static SELF_HOSTED_DEFAULT_LABELS: &[&str] = &[
    "self-hosted",
    "linux",
    "windows",
    "macos",
    "x64",
    "x86",
    "arm",
    "arm64",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn v1() -> Value {
        serde_json::from_str(include_str!("../../schemas/vendor/workflow-v1.0.json"))
            .expect("vendored schema parses")
    }

    #[test]
    fn events_match_githubs_parser_schema() {
        let schema = v1();
        let props = schema["definitions"]["on-mapping-strict"]["mapping"]["properties"]
            .as_object()
            .expect("on-mapping-strict");
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        names.sort();
        let mut ours: Vec<&str> = EVENTS.iter().map(|(n, _)| *n).collect();
        ours.sort();
        assert_eq!(names, ours);
    }

    #[test]
    fn permission_scopes_match_githubs_parser_schema() {
        let schema = v1();
        let props = schema["definitions"]["permissions-mapping"]["mapping"]["properties"]
            .as_object()
            .expect("permissions-mapping");
        for (name, def) in props {
            let levels = match def["type"].as_str() {
                Some("permission-level-write-or-no-access") => Levels::WriteOrNone,
                Some("permission-level-read-or-no-access") => Levels::ReadOrNone,
                _ => Levels::Any,
            };
            assert!(PERMISSION_SCOPES.contains(&(name.as_str(), levels)), "{name}");
        }
        assert_eq!(props.len(), PERMISSION_SCOPES.len());
    }
}
