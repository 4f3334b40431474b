//! `autosd heal` (one-shot and `--watch`) and `autosd incidents list | show | resolve`:
//! flags, the watch loop and its signal handling, rendering, and the GitHub Actions side
//! (an `::error` annotation and a step-summary section per incident, outputs
//! `incidents-open` and `healed`). Decisions are in `ops::heal`.
use crate::cli::confirm::TtyConfirm;
use crate::cli::project::{StateArgs, finish, open_session};
use crate::cli::release::CliTarget;
use crate::context::{Context, rfc3339};
use crate::deploy::target::{Phase, Progress};
use crate::error::{Error, ErrorCode, Result};
use crate::github::runtime::{ActionsRuntime, Level, Location, annotation};
use crate::heal::incident::{Incident, human_secs};
use crate::ops::heal::{self, EnvOutcome, HealArgs as OpsHealArgs, HealReport};
use crate::output::{Printer, Render, table};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct HealArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: CliTarget,
    /// Probe and heal only this environment (default: every environment)
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// A preauthorization grant (local id or token); AUTOSD_PREAUTH_GRANT is the fallback
    #[arg(long, value_name = "GRANT")]
    pub preauth_grant: Option<String>,
    /// Do not ask for confirmation (a rollback rung needs it without a terminal)
    #[arg(long)]
    pub force: bool,
    /// Demand a grant even where the project file does not
    #[arg(long)]
    pub require_preauth: bool,
    /// Keep probing until SIGINT/SIGTERM
    #[arg(long)]
    pub watch: bool,
    /// Seconds between probes with --watch
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub interval: u64,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CliStatus {
    Open,
    Resolved,
    All,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Incidents of the project: id, env, status, trigger, time to detect/mitigate/resolve
    List {
        /// Must match the project file (default: the project file's id)
        #[arg(long, value_name = "ID")]
        project: Option<String>,
        #[arg(long, value_enum, default_value_t = CliStatus::Open)]
        status: CliStatus,
        #[command(flatten)]
        state: StateArgs,
    },
    /// One incident: trigger, evidence, timeline, postmortem
    Show {
        id: String,
        #[arg(long, value_name = "ID")]
        project: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Mark an incident resolved (a human's call; audited)
    Resolve {
        id: String,
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        #[arg(long, value_name = "ID")]
        project: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
}

/// Rollback progress inside heal, as lines on stderr.
struct NoteProgress<'p>(&'p Printer);

impl Progress for NoteProgress<'_> {
    fn phase(&mut self, phase: Phase, detail: &str) {
        self.0.note(&format!("[{}] {detail}", phase.as_str()));
    }
}

struct HealRender<'a> {
    report: &'a HealReport,
    checkpoint: Option<String>,
}

fn outcome_text(o: &EnvOutcome) -> String {
    match o {
        EnvOutcome::Healthy => "healthy".into(),
        EnvOutcome::NotDeployed => "not deployed".into(),
        EnvOutcome::Healed { how } => format!("HEALED: {how}"),
        EnvOutcome::FailedToHeal { reason, .. } => format!("FAILED TO HEAL: {reason}"),
        EnvOutcome::Halted { .. } => "UNHEALTHY, project halted: recorded only".into(),
    }
}

impl Render for HealRender<'_> {
    fn human(&self) -> String {
        let mut out = String::new();
        for e in &self.report.envs {
            out.push_str(&format!(
                "{}/{}: {}\n",
                self.report.project,
                e.env,
                outcome_text(&e.outcome)
            ));
            if !matches!(e.outcome, EnvOutcome::Healthy | EnvOutcome::NotDeployed) {
                out.push_str(&format!("  probe: {}\n", e.detail));
            }
            for s in &e.steps {
                out.push_str(&format!("  step: {s}\n"));
            }
            if let Some(i) = &e.incident {
                out.push_str(&format!("  incident: {i}\n"));
            }
            if let Some(p) = &e.postmortem {
                out.push_str(&format!("  postmortem: {}\n", p.display()));
            }
        }
        out.push_str(&format!(
            "incidents open: {}, healed now: {}\n",
            self.report.incidents_open.len(),
            self.report.healed()
        ));
        if let Some(c) = &self.checkpoint {
            out.push_str(c);
            out.push('\n');
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "project": self.report.project,
            "environments": self.report.envs,
            "incidents_open": self.report.incidents_open.iter().map(|i| &i.id).collect::<Vec<_>>(),
            "healed": self.report.healed(),
            "checkpoint": self.checkpoint,
        })
    }
}

/// Annotations, the step summary and the outputs, for the incidents this pass touched.
fn github(ctx: &Context, printer: &Printer, report: &HealReport) -> Result<()> {
    if !ctx.env.in_github_actions() {
        return Ok(());
    }
    let runtime = ActionsRuntime::from_env(&ctx.env);
    let mut summary = String::new();
    for e in &report.envs {
        let Some(id) = &e.incident else { continue };
        let title = format!("autosd incident {id}");
        let message = format!(
            "{}/{}: {} — {}",
            report.project,
            e.env,
            e.detail,
            outcome_text(&e.outcome)
        );
        // One `::error` per incident, healed or not: an incident happened either way.
        printer.workflow_command(&annotation(
            Level::Error,
            &Location {
                title: Some(&title),
                ..Location::default()
            },
            &message,
        ));
        summary.push_str(&format!(
            "### autosd incident `{id}` — {}/{}\n\n| status | probe | steps |\n|---|---|---|\n| **{}** | {} | {} |\n\n",
            report.project,
            e.env,
            outcome_text(&e.outcome).replace('|', "\\|"),
            e.detail.replace('|', "\\|"),
            e.steps.join("<br>").replace('|', "\\|")
        ));
    }
    if !summary.is_empty() {
        runtime.append_summary(&summary)?;
    }
    runtime.set_outputs(&[
        ("incidents-open", &report.incidents_open.len().to_string()),
        ("healed", &report.healed().to_string()),
    ])
}

fn ops_args(args: &HealArgs) -> OpsHealArgs<'_> {
    OpsHealArgs {
        project: &args.project,
        env: args.env.as_deref(),
        kind: args.target.into(),
        force: args.force,
        grant_flag: args.preauth_grant.as_deref(),
        require_grant: args.require_preauth,
    }
}

pub fn heal(ctx: &Context, printer: &Printer, args: HealArgs) -> Result<()> {
    crate::interrupt::install()?;
    if args.watch {
        return watch(ctx, printer, &args);
    }
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let result = heal::heal(
        &session,
        &mut TtyConfirm { printer },
        &ops_args(&args),
        &mut NoteProgress(printer),
    );
    let checkpoint = finish(ctx, printer).map(|c| c.human());
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(c) = &checkpoint {
                printer.note(c);
            }
            return Err(e);
        }
    };
    github(ctx, printer, &report)?;
    printer.print(&HealRender {
        report: &report,
        checkpoint,
    });
    report.error().map_or(Ok(()), Err)
}

/// `--watch`: a pass every interval until SIGINT or SIGTERM (`crate::interrupt`): an idle
/// watcher stops within 50 ms, a pass in a health gate ends it the quick way first.
fn watch(ctx: &Context, printer: &Printer, args: &HealArgs) -> Result<()> {
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let interval = Duration::from_secs(args.interval);
    printer.note(&format!(
        "heal --watch: probing {} every {} s (SIGINT/SIGTERM stops)",
        args.project, args.interval
    ));
    while crate::interrupt::requested().is_none() {
        let started = Instant::now();
        match heal::heal(
            &session,
            &mut TtyConfirm { printer },
            &ops_args(args),
            &mut NoteProgress(printer),
        ) {
            Ok(report) => {
                let eventful = report
                    .envs
                    .iter()
                    .any(|e| !matches!(e.outcome, EnvOutcome::Healthy | EnvOutcome::NotDeployed));
                if eventful {
                    github(ctx, printer, &report)?;
                    printer.print(&HealRender {
                        report: &report,
                        checkpoint: None,
                    });
                    if let Some(e) = report.error() {
                        printer.error(&e);
                    }
                }
            }
            Err(e) => printer.error(&e),
        }
        crate::interrupt::sleep((started + interval).saturating_duration_since(Instant::now()));
    }
    printer.note("heal --watch: stopped by signal");
    if let Some(c) = finish(ctx, printer) {
        printer.note(&c.human());
    }
    Ok(())
}

struct ListRender {
    incidents: Vec<Incident>,
}

impl Render for ListRender {
    fn human(&self) -> String {
        if self.incidents.is_empty() {
            return "no incidents\n".into();
        }
        let rows: Vec<Vec<String>> = self
            .incidents
            .iter()
            .map(|i| {
                vec![
                    i.id.clone(),
                    i.project.clone(),
                    i.env.clone(),
                    i.status.as_str().to_string(),
                    i.severity.as_str().to_string(),
                    i.trigger.what.chars().take(60).collect(),
                    human_secs(Some(i.time_to_detect())),
                    human_secs(i.time_to_mitigate()),
                    human_secs(i.time_to_resolve()),
                ]
            })
            .collect();
        table(
            &[
                "ID", "PROJECT", "ENV", "STATUS", "SEVERITY", "TRIGGER", "DETECT", "MITIGATE", "RESOLVE",
            ],
            &rows,
        )
    }

    fn json(&self) -> Value {
        json!({ "incidents": self.incidents.iter().map(incident_json).collect::<Vec<_>>() })
    }
}

fn incident_json(i: &Incident) -> Value {
    let mut v = serde_json::to_value(i).unwrap_or(Value::Null);
    v["time_to_detect_s"] = json!(i.time_to_detect());
    v["time_to_mitigate_s"] = json!(i.time_to_mitigate());
    v["time_to_resolve_s"] = json!(i.time_to_resolve());
    v
}

struct ShowRender {
    incident: Incident,
    postmortem: String,
}

impl Render for ShowRender {
    fn human(&self) -> String {
        let i = &self.incident;
        let t = |v: Option<i64>| v.map(rfc3339).unwrap_or_else(|| "—".into());
        let mut out = format!(
            "incident {} — {}/{} ({}, {})\n  trigger: {}\n  release: {}\n  impact started: {}\n  detected: {}\n  acknowledged: {}\n  mitigated: {}\n  resolved: {}\n  time to detect/mitigate/resolve: {} / {} / {}\n",
            i.id,
            i.project,
            i.env,
            i.status.as_str(),
            i.severity.as_str(),
            i.trigger.what,
            i.release_id.as_deref().unwrap_or("unknown"),
            rfc3339(i.impact_started),
            rfc3339(i.detected),
            t(i.acknowledged),
            t(i.mitigated),
            t(i.resolved),
            human_secs(Some(i.time_to_detect())),
            human_secs(i.time_to_mitigate()),
            human_secs(i.time_to_resolve()),
        );
        if let Some(h) = &i.human_action {
            out.push_str(&format!("  A HUMAN MUST ACT: {h}\n"));
        }
        for l in i.trigger.evidence.lines() {
            out.push_str(&format!("  evidence: {l}\n"));
        }
        out.push_str("  timeline:\n");
        for e in &i.timeline {
            out.push_str(&format!("    {} {}\n", rfc3339(e.ts), e.what));
        }
        out.push_str(&format!("  postmortem: {}\n", self.postmortem));
        out
    }

    fn json(&self) -> Value {
        let mut v = incident_json(&self.incident);
        v["postmortem"] = json!(self.postmortem);
        v
    }
}

pub fn incidents(ctx: &Context, printer: &Printer, args: IncidentsArgs) -> Result<()> {
    match args.command {
        IncidentsCommand::List {
            project,
            status,
            state,
        } => {
            let session = open_session(ctx, project.as_deref(), &state)?;
            let all = heal::read_incidents(session.store.as_ref(), &session.config.project)?;
            let incidents = all
                .all
                .into_iter()
                .filter(|i| match status {
                    CliStatus::Open => i.status.is_open(),
                    CliStatus::Resolved => !i.status.is_open(),
                    CliStatus::All => true,
                })
                .collect();
            printer.print(&ListRender { incidents });
            Ok(())
        }
        IncidentsCommand::Show { id, project, state } => {
            let session = open_session(ctx, project.as_deref(), &state)?;
            let all = heal::read_incidents(session.store.as_ref(), &session.config.project)?;
            let incident = all.find(&id).cloned().ok_or_else(|| {
                Error::new(ErrorCode::IncidentNotFound, format!("no incident `{id}`"))
                    .hint("list them with `autosd incidents list --status all`")
            })?;
            printer.print(&ShowRender {
                postmortem: heal::postmortem_path(&session, &id).display().to_string(),
                incident,
            });
            Ok(())
        }
        IncidentsCommand::Resolve {
            id,
            note,
            project,
            state,
        } => {
            let session = open_session(ctx, project.as_deref(), &state)?;
            let incident = heal::resolve(&session, &id, note.as_deref())?;
            printer.print(&ShowRender {
                postmortem: heal::postmortem_path(&session, &id).display().to_string(),
                incident,
            });
            Ok(())
        }
    }
}
