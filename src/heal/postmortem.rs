//! Postmortem documents (Google SRE template) for an incident: rendering, and merging a
//! fresh rendering into a file a human may have edited. Generated sections sit between
//! `<!-- autosd:begin NAME -->` / `<!-- autosd:end NAME -->` fences and are the only text a
//! later update rewrites; everything outside them (root cause, action items, lessons, any
//! note a human adds) is kept byte for byte. Pure: strings in, strings out.
use crate::context::rfc3339;
use crate::heal::incident::{Entry, Incident, human_secs};

/// The project-relative directory of postmortems.
pub const DIR: &str = ".autosd/postmortems";

fn begin(name: &str) -> String {
    format!("<!-- autosd:begin {name} -->")
}

fn end(name: &str) -> String {
    format!("<!-- autosd:end {name} -->")
}

fn fenced(name: &str, body: &str) -> String {
    format!("{}\n{}\n{}\n", begin(name), body.trim_end(), end(name))
}

/// Markdown-safe single line (a newline or a fence in engine output must not break the
/// document's structure).
fn inline(s: &str) -> String {
    s.replace(['\r', '\n'], " ").replace("<!--", "&lt;!--")
}

/// The whole document for `incident`; `audit` holds the audit-trail entries of its window.
pub fn render(incident: &Incident, audit: &[Entry]) -> String {
    let i = incident;
    let mut out = String::new();
    out.push_str(&fenced(
        "header",
        &format!(
            "# Postmortem: {} in {}/{} ({})\n\n**Status:** {}  \n**Severity:** {}  \n**Incident:** `{}`  \n**Release:** {}",
            inline(&i.trigger.what),
            i.project,
            i.env,
            rfc3339(i.detected),
            i.status.as_str(),
            i.severity.as_str(),
            i.id,
            i.release_id
                .as_deref()
                .map(|r| format!("`{r}`"))
                .unwrap_or_else(|| "unknown".into())
        ),
    ));
    out.push('\n');
    let resolution = match (&i.resolution, &i.human_action) {
        (Some(r), _) => inline(r),
        (None, Some(h)) => format!("NOT healed — a human must act: {}", inline(h)),
        (None, None) => "in progress".into(),
    };
    out.push_str(&fenced(
        "summary",
        &format!(
            "## Summary\n\n`{}/{}` became unhealthy ({}). autosd detected it at {} and the incident is **{}**.",
            i.project,
            i.env,
            inline(&i.trigger.what),
            rfc3339(i.detected),
            i.status.as_str()
        ),
    ));
    out.push('\n');
    let end_of_impact = i.mitigated.map(rfc3339).unwrap_or_else(|| "ongoing".into());
    out.push_str(&fenced(
        "impact",
        &format!(
            "## Impact\n\n- Environments: `{}`\n- Impact started (best estimate): {}\n- Impact ended: {}\n- Duration: {}",
            i.env,
            rfc3339(i.impact_started),
            end_of_impact,
            human_secs(i.time_to_mitigate())
        ),
    ));
    out.push('\n');
    out.push_str(&fenced(
        "trigger",
        &format!("## Trigger\n\n{}", inline(&i.trigger.what)),
    ));
    out.push('\n');
    out.push_str(&fenced(
        "detection",
        &format!(
            "## Detection\n\nDetected by autosd ({}) at {}, {} after impact began; seen {} time(s).",
            i.source,
            rfc3339(i.detected),
            human_secs(Some(i.time_to_detect())),
            i.detections
        ),
    ));
    out.push('\n');
    out.push_str(&fenced(
        "resolution",
        &format!(
            "## Resolution\n\n{resolution}\n\n- Time to mitigate: {}\n- Time to resolve: {}",
            human_secs(i.time_to_mitigate()),
            human_secs(i.time_to_resolve())
        ),
    ));
    out.push('\n');
    let mut timeline: Vec<&Entry> = i.timeline.iter().chain(audit.iter()).collect();
    timeline.sort_by_key(|e| e.ts);
    let rows: Vec<String> = timeline
        .iter()
        .map(|e| format!("- {} — {}", rfc3339(e.ts), inline(&e.what)))
        .collect();
    out.push_str(&fenced(
        "timeline",
        &format!("## Timeline (UTC)\n\n{}", rows.join("\n")),
    ));
    out.push('\n');
    let mut evidence: Vec<String> = i
        .trigger
        .evidence
        .lines()
        .into_iter()
        .map(|l| format!("- {}", inline(&l)))
        .collect();
    if i.last_evidence != i.trigger.evidence {
        evidence.push("\nLatest probe:\n".into());
        evidence.extend(
            i.last_evidence
                .lines()
                .into_iter()
                .map(|l| format!("- {}", inline(&l))),
        );
    }
    if evidence.is_empty() {
        evidence.push("- (the target reported no details)".into());
    }
    out.push_str(&fenced(
        "evidence",
        &format!("## Evidence\n\n{}", evidence.join("\n")),
    ));
    out.push_str(
        "\n## Root cause\n\n_To be written by a human: why did this happen?_\n\n\
         ## Action items\n\n| Action | Owner | Bug |\n|---|---|---|\n| _to do_ | | |\n\n\
         ## Lessons learned\n\n### What went well\n\n_…_\n\n### What went wrong\n\n_…_\n\n\
         ### Where we got lucky\n\n_…_\n",
    );
    out
}

/// Rewrites the fenced sections of `existing` with those of `fresh`; everything else in
/// `existing` stays. A fenced section missing from `existing` (a human deleted it) stays
/// deleted. An `existing` without any fence is left alone entirely.
pub fn merge(existing: &str, fresh: &str) -> String {
    let mut out = existing.to_string();
    for name in section_names(fresh) {
        let (b, e) = (begin(&name), end(&name));
        let Some(new_body) = between(fresh, &b, &e) else {
            continue;
        };
        if let Some(start) = out.find(&b)
            && let Some(rel_end) = out[start + b.len()..].find(&e)
        {
            let body_start = start + b.len();
            out.replace_range(body_start..body_start + rel_end, new_body);
        }
    }
    out
}

fn section_names(doc: &str) -> Vec<String> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("<!-- autosd:begin ")?.strip_suffix(" -->"))
        .map(str::to_string)
        .collect()
}

fn between<'a>(doc: &'a str, b: &str, e: &str) -> Option<&'a str> {
    let start = doc.find(b)? + b.len();
    let len = doc[start..].find(e)?;
    Some(&doc[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::incident::{Event, IncidentLineV2, Incidents, Severity, Trigger};

    fn incident(resolved: bool) -> Incident {
        let mut lines = vec![IncidentLineV2::new(
            "inc-1",
            100,
            Event::Opened {
                project: "shop".into(),
                env: "staging".into(),
                release_id: Some("r1".into()),
                digest: None,
                severity: Severity::Major,
                trigger: Trigger {
                    what: "container exited with 137".into(),
                    evidence: Default::default(),
                },
                impact_started: 98,
                source: "probe".into(),
            },
        )];
        if resolved {
            lines.push(IncidentLineV2::new(
                "inc-1",
                103,
                Event::Resolved {
                    by: "autosd heal".into(),
                    note: None,
                },
            ));
        }
        let text: Vec<String> = lines.iter().map(|l| l.to_line().expect("line")).collect();
        Incidents::parse(&text.join("\n")).expect("parse").all.remove(0)
    }

    #[test]
    fn renders_the_template_sections() {
        let doc = render(
            &incident(false),
            &[Entry {
                ts: 101,
                what: "audit: heal intent".into(),
            }],
        );
        for s in [
            "# Postmortem:",
            "## Summary",
            "## Impact",
            "## Trigger",
            "## Detection",
            "## Resolution",
            "## Timeline (UTC)",
            "## Evidence",
            "## Root cause",
            "## Action items",
            "## Lessons learned",
            "audit: heal intent",
        ] {
            assert!(doc.contains(s), "missing {s}:\n{doc}");
        }
        assert!(doc.contains("**Status:** open"));
    }

    #[test]
    fn merge_rewrites_only_generated_sections() {
        let first = render(&incident(false), &[]);
        let edited = first.replace(
            "_To be written by a human: why did this happen?_",
            "The disk filled up because of log rotation.",
        ) + "\nExtra human note.\n";
        let merged = merge(&edited, &render(&incident(true), &[]));
        assert!(merged.contains("The disk filled up because of log rotation."));
        assert!(merged.contains("Extra human note."));
        assert!(merged.contains("**Status:** resolved"));
        assert!(!merged.contains("**Status:** open"));
        // Idempotent.
        assert_eq!(merge(&merged, &render(&incident(true), &[])), merged);
        // A file without fences is a human's: untouched.
        assert_eq!(merge("mine", &first), "mine");
    }
}
