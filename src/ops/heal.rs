//! `autosd heal` and the incident records: probe every environment (or one) through its
//! target, open or update the environment's one open incident, climb the remediation
//! ladder (`heal::ladder`) with every rung through THE gate (`Operation::Heal` for a
//! restart, `Operation::HealWithRollback` for a rollback by deploy's rollback path), and
//! (re)write the postmortem. Also the incident store helpers `ops::release` uses for a
//! failed deploy's incident, and `incidents resolve`.
use crate::config::Environment;
use crate::deploy::execute::{self, Operation as ReleaseOp};
use crate::deploy::health::{Gate, GateFailure, GateSpec, Observation};
use crate::deploy::release::Scope;
use crate::deploy::settings::TargetKind;
use crate::deploy::target::{Diagnosis, Outcome, Progress, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::heal::incident::{
    Entry, Event, Incident, IncidentLineV2, Incidents, Severity, Trigger, incidents_key,
};
use crate::heal::ladder::{self, Rung, Situation};
use crate::heal::postmortem;
use crate::ops::guard::{Confirm, Privileged};
use crate::ops::live::ProjectSession;
use crate::ops::release::StoreLedgers;
use crate::ops::targets::Configured;
use crate::policy;
use crate::store::{Key, Store};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Who the incident events name when autosd acts.
const AUTOSD: &str = "autosd heal";

pub fn append_event(store: &dyn Store, project: &str, id: &str, ts: i64, event: Event) -> Result<()> {
    let key = Key::new(&incidents_key(project))?;
    store.append(&key, IncidentLineV2::new(id, ts, event).to_line()?.as_bytes())
}

pub fn read_incidents(store: &dyn Store, project: &str) -> Result<Incidents> {
    let key = Key::new(&incidents_key(project))?;
    match store.read(&key)? {
        Some(bytes) => Incidents::parse(&String::from_utf8_lossy(&bytes)),
        None => Ok(Incidents::default()),
    }
}

/// The audit records of the incident's project and environment in its window, as
/// timeline entries (the steps autosd took and their outcomes, from the trail of record).
fn audit_entries(session: &ProjectSession, incident: &Incident, now: i64) -> Vec<Entry> {
    let Ok(bytes) = session.local_audit().read_all() else {
        return Vec::new();
    };
    let from = incident.impact_started - 5;
    let to = incident.resolved.unwrap_or(now) + 5;
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| {
            r["project"].as_str() == Some(incident.project.as_str())
                && r["env"].as_str() == Some(incident.env.as_str())
        })
        .filter_map(|r| {
            let ts = humantime::parse_rfc3339(r["ts"].as_str()?)
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs() as i64;
            if ts < from || ts > to {
                return None;
            }
            let result = match (r["outcome"]["status"].as_str(), r["decision"]["code"].as_str()) {
                (Some(s), _) => format!(" → {s}"),
                (None, Some(code)) => format!(" → denied ({code})"),
                _ => String::new(),
            };
            let reason = r["detail"]["reason"]
                .as_str()
                .map(|d| format!(": {}", d.chars().take(160).collect::<String>()))
                .unwrap_or_default();
            Some(Entry {
                ts,
                what: format!(
                    "audit #{} {} {}{result}{reason}",
                    r["seq"],
                    r["op"].as_str().unwrap_or("?"),
                    r["phase"].as_str().unwrap_or("?")
                ),
            })
        })
        .collect()
}

/// Writes (or updates, keeping human edits) `.autosd/postmortems/<id>.md`; returns the incident.
pub fn write_postmortem(session: &ProjectSession, id: &str) -> Result<Incident> {
    let incidents = read_incidents(session.store.as_ref(), &session.config.project)?;
    let incident = incidents
        .find(id)
        .ok_or_else(|| Error::new(ErrorCode::IncidentNotFound, format!("no incident `{id}`")))?
        .clone();
    if !crate::heal::incident::valid_id(id) {
        return Err(Error::new(
            ErrorCode::IncidentNotFound,
            format!("`{id}` is not an incident id"),
        ));
    }
    let now = session.ctx.now_unix();
    let fresh = postmortem::render(&incident, &audit_entries(session, &incident, now));
    let dir = session.config.root.join(postmortem::DIR);
    crate::store::fs::ensure_dir(&dir, 0o755)?;
    let path = dir.join(format!("{id}.md"));
    let text = match std::fs::read_to_string(&path) {
        Ok(existing) => postmortem::merge(&existing, &fresh),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh,
        Err(e) => return Err(Error::io("read", &path, &e)),
    };
    crate::store::fs::write_atomic(&path, text.as_bytes(), 0o644)?;
    Ok(incident)
}

pub fn postmortem_path(session: &ProjectSession, id: &str) -> PathBuf {
    session.config.root.join(postmortem::DIR).join(format!("{id}.md"))
}

/// What `autosd heal` was asked.
#[derive(Debug, Clone)]
pub struct HealArgs<'a> {
    pub project: &'a str,
    pub env: Option<&'a str>,
    pub kind: TargetKind,
    pub force: bool,
    pub grant_flag: Option<&'a str>,
    pub require_grant: bool,
}

/// How one environment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum EnvOutcome {
    Healthy,
    /// Nothing was ever deployed here: nothing to heal.
    NotDeployed,
    /// Unhealthy, and healed by `how`.
    Healed {
        how: String,
    },
    /// Unhealthy and left so; `human` says what a person must do.
    FailedToHeal {
        reason: String,
        human: String,
    },
    /// Unhealthy, but the project is halted: detected and recorded only.
    Halted {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvReport {
    pub env: String,
    pub detail: String,
    pub outcome: EnvOutcome,
    pub incident: Option<String>,
    pub postmortem: Option<PathBuf>,
    /// Steps taken, in order.
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealReport {
    pub project: String,
    pub envs: Vec<EnvReport>,
    /// Incidents of the project still open after this run.
    pub incidents_open: Vec<Incident>,
}

impl HealReport {
    pub fn healed(&self) -> usize {
        self.envs
            .iter()
            .filter(|e| matches!(e.outcome, EnvOutcome::Healed { .. }))
            .count()
    }

    /// The error the command exits with: failed-to-heal first, then halted.
    pub fn error(&self) -> Option<Error> {
        let failed: Vec<&EnvReport> = self
            .envs
            .iter()
            .filter(|e| matches!(e.outcome, EnvOutcome::FailedToHeal { .. }))
            .collect();
        if let Some(first) = failed.first() {
            let EnvOutcome::FailedToHeal { reason, human } = &first.outcome else {
                return None;
            };
            let envs: Vec<&str> = failed.iter().map(|e| e.env.as_str()).collect();
            return Some(
                Error::new(
                    ErrorCode::HealFailed,
                    format!(
                        "{}/{} is unhealthy and autosd could not heal it: {reason}",
                        self.project,
                        envs.join(", ")
                    ),
                )
                .hint(human.clone()),
            );
        }
        let halted = self
            .envs
            .iter()
            .find(|e| matches!(e.outcome, EnvOutcome::Halted { .. }))?;
        Some(
            Error::new(
                ErrorCode::HealHalted,
                format!(
                    "{}/{} is unhealthy, but the project is halted: the incident is recorded, nothing was touched",
                    self.project, halted.env
                ),
            )
            .hint(format!(
                "fix it by hand, or lift the kill switch with `autosd resume --project {}` and heal again",
                self.project
            )),
        )
    }
}

/// The health gate after a restart: ready within the deadline, then healthy for the window.
fn wait_healthy(
    target: &dyn Target,
    scope: &Scope,
    spec: GateSpec,
) -> Result<std::result::Result<u64, String>> {
    let start = Instant::now();
    // Not ready is no verdict before the release was ready (the restart may still be
    // settling: only the deadline fails it), and fails the window after.
    let verdict = Gate::new(spec).poll(|| {
        let d = target.diagnose(scope)?;
        Ok::<_, Error>(if d.healthy {
            Observation::Healthy
        } else {
            Observation::NotReady(d.detail)
        })
    })?;
    match verdict {
        Ok(_) => Ok(Ok(start.elapsed().as_millis() as u64)),
        Err(GateFailure::Interrupted(signal)) => Err(crate::interrupt::interrupted(
            &signal,
            "during the health gate after a restart",
        )),
        Err(f) => Ok(Err(f.describe())),
    }
}

fn trigger_of(d: &Diagnosis) -> Trigger {
    let e = &d.evidence;
    let what = match (e.state.as_deref(), e.exit_code, e.oom_killed) {
        (_, _, Some(true)) => format!(
            "the container was OOM-killed (exit {})",
            e.exit_code.unwrap_or(-1)
        ),
        (Some("restarting"), _, _) => format!("the container is restarting (crash loop): {}", d.detail),
        (Some(state), Some(code), _) if state != "running" => {
            format!("the container {state} with code {code}")
        }
        _ => d.detail.clone(),
    };
    Trigger {
        what,
        evidence: d.evidence.clone(),
    }
}

struct EnvRun<'a> {
    session: &'a ProjectSession,
    args: &'a HealArgs<'a>,
    env: &'a Environment,
    configured: Configured,
    target: Box<dyn Target>,
    scope: Scope,
    id: String,
    steps: Vec<String>,
}

impl EnvRun<'_> {
    fn now(&self) -> i64 {
        self.session.ctx.now_unix()
    }

    fn event(&mut self, event: Event) -> Result<()> {
        let now = self.now();
        append_event(
            self.session.store.as_ref(),
            &self.scope.project,
            &self.id,
            now,
            event,
        )
    }

    fn step(&mut self, action: &str, ok: bool, detail: String) -> Result<()> {
        self.steps.push(format!(
            "{action}: {} ({detail})",
            if ok { "ok" } else { "failed" }
        ));
        self.event(Event::Step {
            action: action.into(),
            ok,
            detail,
        })
    }

    fn privileged(&self, op: policy::Operation) -> Privileged<'_> {
        Privileged {
            project: Some(self.args.project),
            env: Some(&self.env.name),
            target: Some(self.args.kind.as_str()),
            force: self.args.force,
            grant_flag: self.args.grant_flag,
            require_grant: self.args.require_grant,
            ..Privileged::new(op)
        }
    }

    /// Rung 1, through the gate: restart under the deploy lock, then the health gate.
    fn restart(
        &mut self,
        confirm: &mut dyn Confirm,
        spec: GateSpec,
    ) -> Result<std::result::Result<u64, String>> {
        let req = self.privileged(policy::Operation::Heal);
        let holder = crate::ops::release::holder(self.session, "heal", &spec);
        let (target, scope) = (self.target.as_ref(), &self.scope);
        self.session
            .run(&req, confirm, |_| {
                let (lock, _) = target.lock(scope, &holder, Duration::ZERO)?;
                let result = target
                    .restart(scope)
                    .and_then(|()| wait_healthy(target, scope, spec));
                let released = lock.release();
                let verdict = result?;
                released?;
                match verdict {
                    Ok(ms) => Ok(Ok(ms)),
                    Err(why) => Err(Error::new(
                        ErrorCode::HealFailed,
                        format!("restart did not make {scope} healthy: {why}"),
                    )),
                }
            })
            .or_else(|e| {
                // A restart that ran but left it unhealthy is the ladder's business, not an error.
                if e.code == ErrorCode::HealFailed {
                    Ok(Err(e.message))
                } else {
                    Err(e)
                }
            })
    }

    /// Rung 2, through the gate: deploy's rollback path to the last known-good release.
    fn rollback(
        &mut self,
        confirm: &mut dyn Confirm,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<String, String>> {
        let req = self.privileged(policy::Operation::HealWithRollback);
        let (session, env, kind) = (self.session, self.env, self.args.kind);
        let target = self.target.as_ref();
        let args = crate::ops::release::ReleaseArgs {
            project: self.args.project,
            op: ReleaseOp::Rollback { to: None },
            env: &env.name,
            kind,
            force: self.args.force,
            grant_flag: self.args.grant_flag,
            require_grant: self.args.require_grant,
            lock_wait: Duration::ZERO,
        };
        session.run(&req, confirm, |granted| {
            let request = crate::ops::release::request(
                session,
                &args,
                target,
                &self.configured,
                granted.grant_id().map(str::to_string),
            )?;
            let holder = crate::ops::release::holder(session, "heal_with_rollback", &request.gate);
            let ledgers = StoreLedgers {
                store: session.store.as_ref(),
            };
            let done = execute::execute(
                target,
                &ledgers,
                &args.op,
                &request,
                &holder,
                Duration::ZERO,
                progress,
            )?;
            let r = &done.plan.release;
            match &done.outcome {
                Outcome::Healthy { .. } => Ok(Ok(format!(
                    "rolled back to {} as release {} ({})",
                    match &r.origin {
                        crate::deploy::release::Origin::Rollback { source, .. } => source.as_str(),
                        _ => "?",
                    },
                    r.id,
                    r.digest
                ))),
                Outcome::GateFailed { failure, .. } => Ok(Err(format!(
                    "rollback release {} failed its health gate: {}",
                    r.id,
                    failure.describe()
                ))),
            }
        })
    }
}

/// Probes, records and heals one environment.
fn heal_env(
    session: &ProjectSession,
    confirm: &mut dyn Confirm,
    args: &HealArgs<'_>,
    env: &Environment,
    progress: &mut dyn Progress,
) -> Result<EnvReport> {
    let store = session.store.as_ref();
    let project = &session.config.project;
    let scope = Scope::new(project, &env.name);
    let ledgers = StoreLedgers { store };
    let ledger = crate::deploy::execute::LedgerIo::read(&ledgers, &scope)?;
    let mut report = EnvReport {
        env: env.name.clone(),
        detail: String::new(),
        outcome: EnvOutcome::Healthy,
        incident: None,
        postmortem: None,
        steps: Vec::new(),
    };
    let Some(serving) = ledger.serving().cloned() else {
        report.outcome = EnvOutcome::NotDeployed;
        report.detail = "no healthy release in the ledger: nothing to heal".into();
        return Ok(report);
    };
    let configured = Configured::read(env, args.kind)?;
    let target = configured.open(session)?;
    let diagnosis = target.diagnose(&scope)?;
    report.detail = diagnosis.detail.clone();
    let incidents = read_incidents(store, project)?;
    let open = incidents.open_for(&env.name).cloned();
    let now = session.ctx.now_unix();
    if diagnosis.healthy {
        if let Some(open) = open {
            append_event(
                store,
                project,
                &open.id,
                now,
                Event::Resolved {
                    by: AUTOSD.into(),
                    note: Some("healthy again at a later probe".into()),
                },
            )?;
            write_postmortem(session, &open.id)?;
            report.incident = Some(open.id.clone());
            report.postmortem = Some(postmortem_path(session, &open.id));
        }
        return Ok(report);
    }

    let trigger = trigger_of(&diagnosis);
    let id = match &open {
        Some(i) => {
            append_event(store, project, &i.id, now, Event::Detected { trigger })?;
            i.id.clone()
        }
        None => {
            let id = crate::heal::incident::new_incident_id(now);
            let impact_started = diagnosis.evidence.since.map_or(now, |s| s.min(now));
            append_event(
                store,
                project,
                &id,
                now,
                Event::Opened {
                    project: project.clone(),
                    env: env.name.clone(),
                    release_id: Some(serving.id.clone()),
                    digest: Some(serving.digest.clone()),
                    severity: Severity::of_outage(env.production),
                    trigger,
                    impact_started,
                    source: "probe".into(),
                },
            )?;
            id
        }
    };
    report.incident = Some(id.clone());
    let spec = configured.gate();
    let mut run = EnvRun {
        session,
        args,
        env,
        configured,
        target,
        scope: scope.clone(),
        id: id.clone(),
        steps: Vec::new(),
    };
    let acknowledged = open.as_ref().is_some_and(|i| i.acknowledged.is_some());
    if !acknowledged {
        run.event(Event::Acknowledged { by: AUTOSD.into() })?;
    }
    let mut sit = Situation {
        healthy: false,
        open_incident: true,
        restarts_last_hour: incidents.restarts_of(&env.name, Some(&serving.id), now - 3600),
        max_restarts_per_hour: env.max_restarts_per_hour,
        restart_failed: false,
        rollback_tried: false,
        known_good: ledger.last_known_good().is_some(),
    };
    report.outcome = loop {
        match ladder::next(&sit) {
            Rung::Nothing | Rung::Resolve => {
                break EnvOutcome::Healed {
                    how: "healthy again".into(),
                };
            }
            Rung::Restart => match run.restart(confirm, spec) {
                Ok(Ok(ms)) => {
                    run.step("restart", true, format!("healthy again after {ms} ms"))?;
                    break EnvOutcome::Healed {
                        how: format!("restarted release {}", serving.id),
                    };
                }
                Ok(Err(why)) => {
                    run.step("restart", false, why)?;
                    sit.restart_failed = true;
                }
                Err(e) => break refused(&mut run, e, "restart")?,
            },
            Rung::Rollback { why } => {
                run.step("escalate", true, format!("{why}: rolling back"))?;
                sit.rollback_tried = true;
                match run.rollback(confirm, progress) {
                    Ok(Ok(how)) => {
                        run.step("rollback", true, how.clone())?;
                        break EnvOutcome::Healed { how };
                    }
                    Ok(Err(why)) => run.step("rollback", false, why)?,
                    Err(e) => break refused(&mut run, e, "rollback")?,
                }
            }
            Rung::GiveUp { why } => {
                break EnvOutcome::FailedToHeal {
                    reason: why,
                    human: format!(
                        "inspect {}/{} by hand (`autosd incidents show {id}`), then deploy a fixed image or roll back with `autosd rollback --project {} --env {} --target {}`",
                        project,
                        env.name,
                        project,
                        env.name,
                        args.kind.as_str()
                    ),
                };
            }
        }
    };
    match &report.outcome {
        EnvOutcome::Healed { how } => {
            run.event(Event::Mitigated { how: how.clone() })?;
            run.event(Event::Resolved {
                by: AUTOSD.into(),
                note: Some("recovered: healthy after remediation".into()),
            })?;
        }
        EnvOutcome::FailedToHeal { reason, human } => run.event(Event::FailedToHeal {
            reason: reason.clone(),
            human: human.clone(),
        })?,
        _ => {}
    }
    report.steps = run.steps;
    write_postmortem(session, &id)?;
    report.postmortem = Some(postmortem_path(session, &id));
    Ok(report)
}

/// The gate refused a rung: halted projects are recorded only; any other refusal (no grant,
/// capability missing, no confirmation) ends the ladder as failed-to-heal.
fn refused(run: &mut EnvRun<'_>, e: Error, rung: &str) -> Result<EnvOutcome> {
    run.step(&format!("{rung} refused by the gate"), false, e.message.clone())?;
    if e.code == ErrorCode::Halted {
        return Ok(EnvOutcome::Halted { reason: e.message });
    }
    let human = match e.code {
        ErrorCode::PreauthInvalid | ErrorCode::PreauthRequired => format!(
            "{} — heal {} needs a grant allowing it ({}); restore service by hand or issue one",
            e.message,
            rung,
            if rung == "rollback" {
                "--auto-heal --auto-rollback"
            } else {
                "--auto-heal"
            }
        ),
        ErrorCode::ConfirmRequired => format!("{}; rerun heal with --force or on a terminal", e.message),
        ErrorCode::LockHeld => format!(
            "{}; another operation is running: heal again when it is done",
            e.message
        ),
        _ => format!("{}; restore service by hand", e.message),
    };
    Ok(EnvOutcome::FailedToHeal {
        reason: format!("the {rung} was not done: {}", e.message),
        human,
    })
}

/// One heal pass over the project's environments (or `args.env`).
pub fn heal(
    session: &ProjectSession,
    confirm: &mut dyn Confirm,
    args: &HealArgs<'_>,
    progress: &mut dyn Progress,
) -> Result<HealReport> {
    let config = &session.config;
    config.check_project(Some(args.project))?;
    let envs: Vec<&Environment> = match args.env {
        Some(name) => vec![config.environment(name)?],
        None => config.environments.iter().collect(),
    };
    let mut reports = Vec::new();
    for env in envs {
        reports.push(heal_env(session, confirm, args, env, progress)?);
    }
    let incidents = read_incidents(session.store.as_ref(), &config.project)?;
    Ok(HealReport {
        project: config.project.clone(),
        envs: reports,
        incidents_open: incidents.all.into_iter().filter(|i| i.status.is_open()).collect(),
    })
}

/// `autosd incidents resolve ID`: a human closes an incident (audited as an event).
pub fn resolve(session: &ProjectSession, id: &str, note: Option<&str>) -> Result<Incident> {
    let incidents = read_incidents(session.store.as_ref(), &session.config.project)?;
    let incident = incidents.find(id).ok_or_else(|| {
        Error::new(
            ErrorCode::IncidentNotFound,
            format!("no incident `{id}` in project `{}`", session.config.project),
        )
        .hint("list them with `autosd incidents list --status all`")
    })?;
    if !incident.status.is_open() {
        return Ok(incident.clone());
    }
    let actor = session.ctx.actor().describe();
    let event = crate::audit::AuditEvent::new("incident_resolve", crate::audit::Phase::Event)
        .project(&session.config.project)
        .env(&incident.env)
        .decision(crate::audit::Decision::allow())
        .outcome(crate::audit::Outcome::ok())
        .detail("incident", id)
        .detail("reason", note.unwrap_or("resolved by a human"));
    session.local_audit().append(&event)?;
    if let Some(shared) = session.shared_audit() {
        shared.append(&event)?;
    }
    append_event(
        session.store.as_ref(),
        &session.config.project,
        id,
        session.ctx.now_unix(),
        Event::Resolved {
            by: actor,
            note: note.map(str::to_string),
        },
    )?;
    write_postmortem(session, id)
}
