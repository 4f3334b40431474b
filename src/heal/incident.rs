//! The incident model: the append-only event lines of `incidents/<project>.jsonl` in the
//! `Store`, and their fold into one `Incident` per id. Pure: lines in, incidents out; the
//! use cases in `ops::heal` and `ops::release` write the lines. Version 2 lines are events;
//! version 1 lines (an early deploy's gate-failure record) are still read.
use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The store key of a project's incidents.
pub fn incidents_key(project: &str) -> String {
    format!("incidents/{project}.jsonl")
}

/// A fresh incident id: `inc-<unix seconds>-<6 hex>` (sortable, usable as a file name).
pub fn new_incident_id(now: i64) -> String {
    let release = crate::deploy::release::new_release_id(now);
    format!("inc-{}", release.trim_start_matches('r'))
}

/// Whether `id` can name a postmortem file: `inc-` then `[a-z0-9-]`.
pub fn valid_id(id: &str) -> bool {
    id.starts_with("inc-")
        && id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Production with nothing healthy serving.
    Critical,
    /// Production degraded, or another environment with nothing healthy serving.
    Major,
    /// Outside production, or no user impact (a failed deploy the old release absorbed).
    Minor,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
        }
    }

    /// Production outages are critical; elsewhere an outage is major.
    pub fn of_outage(production: bool) -> Severity {
        if production {
            Severity::Critical
        } else {
            Severity::Major
        }
    }
}

/// What a probe saw, as evidence for the trigger. Every field is optional: targets know
/// different things (a status command has no exit code of a container).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The unit probed (container name, status command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Engine state: running, exited, restarting, dead, gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_killed: Option<bool>,
    /// The engine's restart count of the unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i64>,
    /// Docker health status (healthy, unhealthy, starting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
    /// The output of the last health check the engine ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_output: Option<String>,
    /// HTTP status of the configured probe (0 = no answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Unix seconds when the failure began, when the engine knows (exit time, first
    /// failing check of the current streak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
}

impl Evidence {
    /// `key: value` lines of what is known, for humans.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(format!("{k}: {v}"));
            }
        };
        push("unit", self.unit.clone());
        push("state", self.state.clone());
        push("exit code", self.exit_code.map(|c| c.to_string()));
        push("OOM-killed", self.oom_killed.map(|o| o.to_string()));
        push("restart count", self.restart_count.map(|c| c.to_string()));
        push("health status", self.health_status.clone());
        push("last health-check output", self.health_output.clone());
        push(
            "HTTP status",
            self.http_status
                .map(|s| if s == 0 { "no answer".into() } else { s.to_string() }),
        );
        push("failing since", self.since.map(crate::context::rfc3339));
        out
    }
}

/// What failed, in one line, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub what: String,
    #[serde(default)]
    pub evidence: Evidence,
}

/// One event of an incident's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    Opened {
        project: String,
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        severity: Severity,
        trigger: Trigger,
        /// Best estimate of when users were first affected (unix seconds).
        impact_started: i64,
        /// `probe` (heal) or `deploy_gate` / `rollback_gate` (a failed release).
        source: String,
    },
    /// A later probe saw the failure again (the incident is updated, never duplicated).
    Detected { trigger: Trigger },
    /// autosd (or a human) took the incident on.
    Acknowledged { by: String },
    /// One remediation step and how it ended.
    Step {
        action: String,
        ok: bool,
        detail: String,
    },
    /// Users are no longer affected.
    Mitigated { how: String },
    /// The ladder is exhausted; `human` says what a person must do.
    FailedToHeal { reason: String, human: String },
    Resolved {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentLineV2 {
    pub v: u32,
    pub id: String,
    pub ts: i64,
    pub event: Event,
}

impl IncidentLineV2 {
    pub fn new(id: &str, ts: i64, event: Event) -> Self {
        IncidentLineV2 {
            v: 2,
            id: id.to_string(),
            ts,
            event,
        }
    }

    pub fn to_line(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))
    }
}

/// The first incident format (a failed deploy gate, written in one line).
#[derive(Debug, Deserialize)]
struct IncidentLineV1 {
    id: String,
    ts: i64,
    project: String,
    env: String,
    kind: String,
    release_id: String,
    digest: String,
    reason: String,
    previous_serving: bool,
}

impl IncidentLineV1 {
    fn upgrade(self) -> Vec<IncidentLineV2> {
        let mut lines = vec![IncidentLineV2::new(
            &self.id,
            self.ts,
            Event::Opened {
                project: self.project,
                env: self.env,
                release_id: Some(self.release_id),
                digest: Some(self.digest),
                severity: Severity::Minor,
                trigger: Trigger {
                    what: self.reason,
                    evidence: Evidence::default(),
                },
                impact_started: self.ts,
                source: self.kind,
            },
        )];
        if self.previous_serving {
            lines.push(IncidentLineV2::new(
                &self.id,
                self.ts,
                Event::Mitigated {
                    how: "the previous release kept serving".into(),
                },
            ));
        }
        lines
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Open,
    Mitigated,
    FailedToHeal,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Mitigated => "mitigated",
            Status::FailedToHeal => "failed-to-heal",
            Status::Resolved => "resolved",
        }
    }

    /// Everything not resolved counts as open for lists and the `incidents-open` output.
    pub fn is_open(self) -> bool {
        self != Status::Resolved
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub ts: i64,
    pub what: String,
}

/// An incident as folded from its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: String,
    pub project: String,
    pub env: String,
    pub release_id: Option<String>,
    pub digest: Option<String>,
    pub severity: Severity,
    pub status: Status,
    pub source: String,
    pub trigger: Trigger,
    /// The most recent evidence (a later probe may see more than the first).
    pub last_evidence: Evidence,
    pub impact_started: i64,
    pub detected: i64,
    pub acknowledged: Option<i64>,
    pub mitigated: Option<i64>,
    pub resolved: Option<i64>,
    pub detections: u32,
    /// What a human must do, when healing failed.
    pub human_action: Option<String>,
    pub resolution: Option<String>,
    pub timeline: Vec<Entry>,
    /// Restart steps taken, as (unix seconds, release id) — the crash-loop counter.
    pub restarts: Vec<(i64, Option<String>)>,
}

impl Incident {
    fn opened(id: &str, ts: i64, event: &Event) -> Option<Incident> {
        let Event::Opened {
            project,
            env,
            release_id,
            digest,
            severity,
            trigger,
            impact_started,
            source,
        } = event
        else {
            return None;
        };
        Some(Incident {
            id: id.to_string(),
            project: project.clone(),
            env: env.clone(),
            release_id: release_id.clone(),
            digest: digest.clone(),
            severity: *severity,
            status: Status::Open,
            source: source.clone(),
            trigger: trigger.clone(),
            last_evidence: trigger.evidence.clone(),
            impact_started: (*impact_started).min(ts),
            detected: ts,
            acknowledged: None,
            mitigated: None,
            resolved: None,
            detections: 1,
            human_action: None,
            resolution: None,
            timeline: vec![Entry {
                ts,
                what: format!("detected: {}", trigger.what),
            }],
            restarts: Vec::new(),
        })
    }

    fn apply(&mut self, ts: i64, event: &Event) {
        let what = match event {
            Event::Opened { .. } => return,
            Event::Detected { trigger } => {
                self.detections += 1;
                self.last_evidence = trigger.evidence.clone();
                if self.status == Status::Mitigated {
                    self.status = Status::Open;
                }
                format!("detected again: {}", trigger.what)
            }
            Event::Acknowledged { by } => {
                self.acknowledged.get_or_insert(ts);
                format!("acknowledged by {by}")
            }
            Event::Step { action, ok, detail } => {
                if action == "restart" {
                    self.restarts.push((ts, self.release_id.clone()));
                }
                format!("{action}: {} ({detail})", if *ok { "ok" } else { "failed" })
            }
            Event::Mitigated { how } => {
                self.mitigated.get_or_insert(ts);
                self.human_action = None;
                if self.status != Status::Resolved {
                    self.status = Status::Mitigated;
                }
                format!("mitigated: {how}")
            }
            Event::FailedToHeal { reason, human } => {
                self.human_action = Some(human.clone());
                if self.status != Status::Resolved {
                    self.status = Status::FailedToHeal;
                }
                format!("failed to heal: {reason}")
            }
            Event::Resolved { by, note } => {
                self.resolved.get_or_insert(ts);
                self.mitigated.get_or_insert(ts);
                self.status = Status::Resolved;
                self.human_action = None;
                self.resolution = Some(match note {
                    Some(n) => format!("resolved by {by}: {n}"),
                    None => format!("resolved by {by}"),
                });
                match note {
                    Some(n) => format!("resolved by {by}: {n}"),
                    None => format!("resolved by {by}"),
                }
            }
        };
        self.timeline.push(Entry { ts, what });
    }

    /// Seconds from impact to detection, mitigation and resolution.
    pub fn time_to_detect(&self) -> i64 {
        self.detected - self.impact_started
    }

    pub fn time_to_mitigate(&self) -> Option<i64> {
        self.mitigated.map(|m| m - self.impact_started)
    }

    pub fn time_to_resolve(&self) -> Option<i64> {
        self.resolved.map(|r| r - self.impact_started)
    }

    /// Restarts of `release` at or after `since` (the crash-loop counter).
    pub fn restarts_since(&self, since: i64) -> usize {
        self.restarts.iter().filter(|(ts, _)| *ts >= since).count()
    }
}

/// Every incident of a project, in the order they were opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incidents {
    pub all: Vec<Incident>,
}

impl Incidents {
    /// Folds the stored lines. A torn last line (a crash mid-append) is skipped; any other
    /// bad line is `AUTOSD-STATE-CORRUPT`.
    pub fn parse(text: &str) -> Result<Incidents> {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut order: Vec<String> = Vec::new();
        let mut by_id: BTreeMap<String, Incident> = BTreeMap::new();
        for (n, line) in lines.iter().enumerate() {
            let parsed = match parse_line(line) {
                Ok(p) => p,
                Err(_) if n + 1 == lines.len() && !text.ends_with('\n') => break,
                Err(e) => {
                    return Err(Error::new(
                        ErrorCode::StateCorrupt,
                        format!("incident line {} is not valid: {e}", n + 1),
                    ));
                }
            };
            for l in parsed {
                match by_id.get_mut(&l.id) {
                    Some(i) => i.apply(l.ts, &l.event),
                    None => {
                        if let Some(i) = Incident::opened(&l.id, l.ts, &l.event) {
                            order.push(l.id.clone());
                            by_id.insert(l.id.clone(), i);
                        }
                    }
                }
            }
        }
        Ok(Incidents {
            all: order.into_iter().filter_map(|id| by_id.remove(&id)).collect(),
        })
    }

    pub fn find(&self, id: &str) -> Option<&Incident> {
        self.all.iter().find(|i| i.id == id)
    }

    /// The unresolved incident of an environment, if any (there is at most one that heal
    /// keeps updating; failed-deploy incidents are resolved when opened or by a later heal).
    pub fn open_for(&self, env: &str) -> Option<&Incident> {
        self.all.iter().rev().find(|i| i.env == env && i.status.is_open())
    }

    /// Restarts of `release` in `env` at or after `since`, across all its incidents.
    pub fn restarts_of(&self, env: &str, release: Option<&str>, since: i64) -> usize {
        self.all
            .iter()
            .filter(|i| i.env == env)
            .flat_map(|i| i.restarts.iter())
            .filter(|(ts, r)| *ts >= since && r.as_deref() == release)
            .count()
    }
}

fn parse_line(line: &str) -> std::result::Result<Vec<IncidentLineV2>, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(1) => serde_json::from_value::<IncidentLineV1>(value)
            .map(IncidentLineV1::upgrade)
            .map_err(|e| e.to_string()),
        Some(2) => serde_json::from_value::<IncidentLineV2>(value)
            .map(|l| vec![l])
            .map_err(|e| e.to_string()),
        other => Err(format!("unknown version {other:?}")),
    }
}

/// `1m 05s`, `42s`, `—` for durations in tables.
pub fn human_secs(s: Option<i64>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s < 60 => format!("{}s", s.max(0)),
        Some(s) if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        Some(s) => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(id: &str, ts: i64, env: &str) -> String {
        IncidentLineV2::new(
            id,
            ts,
            Event::Opened {
                project: "shop".into(),
                env: env.into(),
                release_id: Some("r1".into()),
                digest: None,
                severity: Severity::Major,
                trigger: Trigger {
                    what: "container exited".into(),
                    evidence: Evidence {
                        exit_code: Some(137),
                        ..Evidence::default()
                    },
                },
                impact_started: ts - 3,
                source: "probe".into(),
            },
        )
        .to_line()
        .expect("line")
    }

    fn line(id: &str, ts: i64, e: Event) -> String {
        IncidentLineV2::new(id, ts, e).to_line().expect("line")
    }

    #[test]
    fn events_fold_into_one_incident_with_times() {
        let text = [
            opened("inc-1", 100, "staging"),
            line(
                "inc-1",
                101,
                Event::Acknowledged {
                    by: "autosd heal".into(),
                },
            ),
            line(
                "inc-1",
                101,
                Event::Step {
                    action: "restart".into(),
                    ok: true,
                    detail: "healthy after 2 s".into(),
                },
            ),
            line(
                "inc-1",
                104,
                Event::Mitigated {
                    how: "restart".into(),
                },
            ),
            line(
                "inc-1",
                104,
                Event::Resolved {
                    by: "autosd heal".into(),
                    note: None,
                },
            ),
        ]
        .join("\n");
        let all = Incidents::parse(&format!("{text}\n")).expect("parse");
        assert_eq!(all.all.len(), 1);
        let i = &all.all[0];
        assert_eq!(i.status, Status::Resolved);
        assert_eq!(i.time_to_detect(), 3);
        assert_eq!(i.time_to_mitigate(), Some(7));
        assert_eq!(i.time_to_resolve(), Some(7));
        assert_eq!(i.restarts_since(0), 1);
        assert_eq!(i.timeline.len(), 5);
        assert!(all.open_for("staging").is_none());
    }

    #[test]
    fn failed_to_heal_stays_open_and_counts_restarts_per_release() {
        let text = [
            opened("inc-1", 100, "staging"),
            line(
                "inc-1",
                101,
                Event::Step {
                    action: "restart".into(),
                    ok: false,
                    detail: "x".into(),
                },
            ),
            line(
                "inc-1",
                102,
                Event::FailedToHeal {
                    reason: "no rollback grant".into(),
                    human: "roll back by hand".into(),
                },
            ),
        ]
        .join("\n");
        let all = Incidents::parse(&text).expect("parse");
        let open = all.open_for("staging").expect("open");
        assert_eq!(open.status, Status::FailedToHeal);
        assert_eq!(open.human_action.as_deref(), Some("roll back by hand"));
        assert_eq!(all.restarts_of("staging", Some("r1"), 100), 1);
        assert_eq!(all.restarts_of("staging", Some("r1"), 102), 0);
        assert_eq!(all.restarts_of("staging", Some("r2"), 0), 0);
        assert!(all.open_for("prod").is_none());
    }

    #[test]
    fn version_one_lines_are_read_and_a_torn_tail_skipped() {
        let v1 = r#"{"v":1,"id":"inc-r5","ts":50,"project":"shop","env":"prod","kind":"deploy_gate_failed","release_id":"r5","digest":"sha256:x","reason":"not ready","previous_serving":true,"previous_release":"r4"}"#;
        let all = Incidents::parse(&format!("{v1}\n{{\"v\":2,\"id")).expect("parse");
        let i = all.find("inc-r5").expect("found");
        assert_eq!(i.status, Status::Mitigated);
        assert_eq!(i.source, "deploy_gate_failed");
        assert!(Incidents::parse(&format!("garbage\n{v1}\n")).is_err());
    }

    #[test]
    fn ids_and_durations() {
        let id = new_incident_id(1_700_000_000);
        assert!(valid_id(&id), "{id}");
        assert!(!valid_id("inc-../x"));
        assert!(!valid_id("r1"));
        assert_eq!(human_secs(Some(5)), "5s");
        assert_eq!(human_secs(Some(65)), "1m 05s");
        assert_eq!(human_secs(None), "—");
    }
}
