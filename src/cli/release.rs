//! `autosd deploy | rollback | promote | releases | lock`: flags, progress (a line per phase
//! on a terminal, `::group::`s in GitHub Actions), rendering, and the GitHub outputs
//! (`release-id`, `digest`, `status`) and step summary. Decisions are in `ops::release`.
use crate::cli::confirm::TtyConfirm;
use crate::cli::project::{StateArgs, finish, open_session};
use crate::context::{Context, rfc3339};
use crate::deploy::execute::Operation;
use crate::deploy::ledger::Ledger;
use crate::deploy::settings::TargetKind;
use crate::deploy::target::{LockHolder, Outcome, Phase, Progress};
use crate::error::{Error, Result};
use crate::github::{self, ReleaseInfo};
use crate::ops::release::{self, DryRun, ReleaseArgs, Released};
use crate::output::{Printer, Render, table};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CliTarget {
    Docker,
    #[value(name = "generic_container")]
    GenericContainer,
    Swarm,
    Kubernetes,
}

impl From<CliTarget> for TargetKind {
    fn from(t: CliTarget) -> TargetKind {
        match t {
            CliTarget::Docker => TargetKind::Docker,
            CliTarget::GenericContainer => TargetKind::GenericContainer,
            CliTarget::Swarm => TargetKind::Swarm,
            CliTarget::Kubernetes => TargetKind::Kubernetes,
        }
    }
}

/// Flags every release operation shares.
#[derive(Debug, Args)]
pub struct GateFlags {
    /// A preauthorization grant (local id or token); AUTOSD_PREAUTH_GRANT is the fallback
    #[arg(long, value_name = "GRANT")]
    pub preauth_grant: Option<String>,
    /// Do not ask for confirmation (required without a terminal for destructive actions)
    #[arg(long)]
    pub force: bool,
    /// Demand a grant even where the project file does not
    #[arg(long)]
    pub require_preauth: bool,
    /// Print the plan (from → to digest, grant decision, lock) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for another operation's deploy lock before failing
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_wait: Duration,
    /// Do not open a GitHub deployment for this release (in GitHub Actions with a token)
    #[arg(long)]
    pub no_github_deployment: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: CliTarget,
    /// IMAGE[:TAG|@DIGEST]; defaults to the environment's `image:` target setting
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    #[command(flatten)]
    pub gate: GateFlags,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: CliTarget,
    /// A release id from `autosd releases`; default: the last known-good release
    #[arg(long, value_name = "RELEASE")]
    pub to: Option<String>,
    #[command(flatten)]
    pub gate: GateFlags,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// The environment whose healthy digest is promoted
    #[arg(long, value_name = "ENV")]
    pub from: String,
    /// The environment it is deployed to
    #[arg(long, value_name = "ENV")]
    pub to: String,
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: CliTarget,
    #[command(flatten)]
    pub gate: GateFlags,
}

#[derive(Debug, Args)]
pub struct ReleasesArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCommand,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Remove a deploy lock whoever holds it (privileged, audited); for stale locks
    Break(LockBreakArgs),
    /// Who holds the deploy lock of an environment
    Show(LockShowArgs),
}

#[derive(Debug, Args)]
pub struct LockBreakArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: CliTarget,
    #[arg(long, value_name = "GRANT")]
    pub preauth_grant: Option<String>,
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub require_preauth: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct LockShowArgs {
    #[arg(long, value_name = "ID")]
    pub project: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[arg(long, value_enum, value_name = "TARGET")]
    pub target: CliTarget,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Progress as phase lines on stderr, or `::group::`s in GitHub Actions.
struct CliProgress<'p> {
    printer: &'p Printer,
    github: bool,
    open: bool,
}

impl Progress for CliProgress<'_> {
    fn phase(&mut self, phase: Phase, detail: &str) {
        if self.github {
            if self.open {
                self.printer.workflow_command("::endgroup::");
            }
            self.printer
                .workflow_command(&format!("::group::{}: {detail}", phase.as_str()));
            self.open = true;
        } else {
            self.printer.note(&format!("[{}] {detail}", phase.as_str()));
        }
    }
}

impl CliProgress<'_> {
    fn close(&mut self) {
        if self.open {
            self.printer.workflow_command("::endgroup::");
            self.open = false;
        }
    }
}

struct ReleaseReport {
    released: Released,
    checkpoint: Option<String>,
}

impl ReleaseReport {
    fn status(&self) -> &'static str {
        match self.released.executed.outcome {
            Outcome::Healthy { .. } => "healthy",
            Outcome::GateFailed { .. } => "failed",
        }
    }
}

impl Render for ReleaseReport {
    fn human(&self) -> String {
        let e = &self.released.executed;
        let r = &e.plan.release;
        let mut out = match &e.outcome {
            Outcome::Healthy { ready_after_ms } => format!(
                "{} {} to {}/{} ({}): healthy, ready after {ready_after_ms} ms\n",
                e.plan.kind.as_str(),
                r.id,
                r.project,
                r.env,
                r.target
            ),
            Outcome::GateFailed {
                failure,
                previous_serving,
            } => format!(
                "{} {} to {}/{} ({}): FAILED its health gate: {}\n  previous release serving: {}\n",
                e.plan.kind.as_str(),
                r.id,
                r.project,
                r.env,
                r.target,
                failure.describe(),
                if *previous_serving { "yes" } else { "no" }
            ),
        };
        out.push_str(&format!("  image:  {}\n  digest: {}\n", r.image, r.digest));
        if let Some(from) = &e.plan.from {
            out.push_str(&format!("  from:   {} ({})\n", from.id, from.digest));
        }
        if let Some(g) = &r.grant_id {
            out.push_str(&format!("  grant:  {g}\n"));
        }
        if let Some(i) = &self.released.incident {
            out.push_str(&format!("  incident: {} opened\n", i.id));
        }
        for n in &e.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        if let Some(c) = &self.checkpoint {
            out.push_str(c);
            out.push('\n');
        }
        out
    }

    fn json(&self) -> Value {
        let e = &self.released.executed;
        let r = &e.plan.release;
        let (ready, reason, previous_serving) = match &e.outcome {
            Outcome::Healthy { ready_after_ms } => (Some(*ready_after_ms), None, None),
            Outcome::GateFailed {
                failure,
                previous_serving,
            } => (None, Some(failure.describe()), Some(*previous_serving)),
        };
        json!({
            "operation": e.plan.kind.as_str(),
            "status": self.status(),
            "release": r,
            "previous_release": e.plan.from.as_ref().map(|f| &f.id),
            "previous_serving": previous_serving,
            "ready_after_ms": ready,
            "reason": reason,
            "incident": self.released.incident.as_ref().map(|i| &i.id),
            "steps": e.plan.steps,
            "notes": e.notes,
            "checkpoint": self.checkpoint,
        })
    }
}

/// `release-id`, `digest`, `status` to `$GITHUB_OUTPUT` and a table to the step summary.
fn github_outputs(ctx: &Context, report: &ReleaseReport) -> Result<()> {
    let r = &report.released.executed.plan.release;
    if let Some(path) = ctx.env.get("GITHUB_OUTPUT") {
        let path = std::path::Path::new(path);
        for (k, v) in [
            ("release-id", r.id.as_str()),
            ("digest", r.digest.as_str()),
            ("status", report.status()),
        ] {
            crate::store::local::append_line(path, format!("{k}={v}").as_bytes())?;
        }
    }
    if let Some(path) = ctx.env.get("GITHUB_STEP_SUMMARY") {
        let e = &report.released.executed;
        let from = e.plan.from.as_ref().map(|f| f.digest.as_str()).unwrap_or("—");
        let text = format!(
            "### autosd {}: {}/{}\n\n| release | status | from | to | image |\n|---|---|---|---|---|\n| `{}` | **{}** | `{from}` | `{}` | `{}` |\n",
            e.plan.kind.as_str(),
            r.project,
            r.env,
            r.id,
            report.status(),
            r.digest,
            r.image
        );
        crate::store::local::append_line(std::path::Path::new(path), text.trim_end().as_bytes())?;
    }
    Ok(())
}

struct DryRunReport(DryRun);

impl Render for DryRunReport {
    fn human(&self) -> String {
        let d = &self.0;
        let mut out = d.plan.describe();
        if let Some(change) = &d.change {
            let text = serde_json::to_string_pretty(&change.body).unwrap_or_default();
            out.push_str(&format!("{} that would be applied:\n", change.what));
            for line in text.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out.push_str(&match &d.decision {
            Ok(why) => format!("grant decision: {why}\n"),
            Err(e) => format!("grant decision: DENIED — {e}\n"),
        });
        if let Some(reason) = &d.halted {
            out.push_str(&format!("halt: the project is HALTED ({reason})\n"));
        }
        out.push_str(&match &d.lock {
            Some(h) => format!("lock: held by {}\n", h.describe()),
            None => "lock: free\n".into(),
        });
        out.push_str("dry run: nothing was changed\n");
        out
    }

    fn json(&self) -> Value {
        let d = &self.0;
        json!({
            "dry_run": true,
            "plan": d.plan,
            "change": d.change.as_ref().map(|c| &c.body),
            "allowed": d.decision.is_ok(),
            "decision": match &d.decision { Ok(s) => s.clone(), Err(e) => e.to_string() },
            "halted": d.halted,
            "lock": d.lock,
        })
    }
}

fn run_release(ctx: &Context, printer: &Printer, args: ReleaseArgs<'_>, flags: &GateFlags) -> Result<()> {
    let session = open_session(ctx, Some(args.project), &flags.state)?;
    let mut progress = CliProgress {
        printer,
        github: ctx.env.in_github_actions(),
        open: false,
    };
    if flags.dry_run {
        let plan = release::dry_run(&session, &args, &mut progress);
        progress.close();
        printer.print(&DryRunReport(plan?));
        return Ok(());
    }
    crate::interrupt::install()?;
    // An unknown environment is the gate's to refuse (with the operation's own code), and
    // no GitHub deployment is opened for it.
    let environment = session.config.environment(args.env).ok();
    let deployment = ReleaseInfo {
        project: args.project.to_string(),
        environment: args.env.to_string(),
        production: environment.is_some_and(|e| e.production),
        description: describe(&args.op),
        environment_url: environment.and_then(|e| e.url.clone()),
        payload: json!({ "target": args.kind.as_str() }),
    };
    // The GitHub deployment wraps the whole operation; its outcome is kept even when
    // recording the verdict on GitHub fails afterwards.
    let mut outcome = None;
    let tracked = github::track_release(
        &ctx.env,
        !flags.no_github_deployment && environment.is_some(),
        &deployment,
        || {
            let ran = release::run(&session, &mut TtyConfirm { printer }, &args, &mut progress);
            let healthy = ran.1.is_none();
            outcome = Some(ran);
            Ok(healthy)
        },
        |healthy| *healthy,
    );
    progress.close();
    let (released, mut error) = outcome.unwrap_or((None, None));
    if let Err(e) = tracked {
        error.get_or_insert(e);
    }
    let checkpoint = finish(ctx, printer).map(|c| c.human());
    match released {
        Some(released) => {
            let report = ReleaseReport { released, checkpoint };
            github_outputs(ctx, &report)?;
            // With JSON output a failure's document is the error one (stdout stays one
            // document); humans get the report and the error.
            if error.is_none() || printer.format == crate::output::OutputFormat::Human {
                printer.print(&report);
            }
        }
        None => {
            if let Some(c) = checkpoint {
                printer.note(&c);
            }
        }
    }
    error.map_or(Ok(()), Err)
}

/// The GitHub deployment's description of an operation.
fn describe(op: &Operation) -> String {
    match op {
        Operation::Deploy { image } => format!("autosd deploy {image}"),
        Operation::Rollback { to: Some(id) } => format!("autosd rollback to {id}"),
        Operation::Rollback { to: None } => "autosd rollback to the last known-good release".into(),
        Operation::Promote { from_env } => format!("autosd promote from {from_env}"),
    }
}

/// One release operation in `env` of `project`, with the gate flags every operation shares.
fn run_operation(
    ctx: &Context,
    printer: &Printer,
    (project, env, target): (&str, &str, CliTarget),
    op: Operation,
    gate: &GateFlags,
) -> Result<()> {
    let release = ReleaseArgs {
        project,
        op,
        env,
        kind: target.into(),
        force: gate.force,
        grant_flag: gate.preauth_grant.as_deref(),
        require_grant: gate.require_preauth,
        lock_wait: gate.lock_wait,
    };
    run_release(ctx, printer, release, gate)
}

pub fn deploy(ctx: &Context, printer: &Printer, args: DeployArgs) -> Result<()> {
    let op = Operation::Deploy {
        image: args.image.clone().unwrap_or_default(),
    };
    run_operation(
        ctx,
        printer,
        (&args.project, &args.env, args.target),
        op,
        &args.gate,
    )
}

pub fn rollback(ctx: &Context, printer: &Printer, args: RollbackArgs) -> Result<()> {
    let op = Operation::Rollback { to: args.to.clone() };
    run_operation(
        ctx,
        printer,
        (&args.project, &args.env, args.target),
        op,
        &args.gate,
    )
}

pub fn promote(ctx: &Context, printer: &Printer, args: PromoteArgs) -> Result<()> {
    let op = Operation::Promote {
        from_env: args.from.clone(),
    };
    run_operation(
        ctx,
        printer,
        (&args.project, &args.to, args.target),
        op,
        &args.gate,
    )
}

struct ReleasesReport {
    project: String,
    env: String,
    ledger: Ledger,
}

impl Render for ReleasesReport {
    fn human(&self) -> String {
        if self.ledger.releases.is_empty() {
            return format!("no releases in {}/{} yet", self.project, self.env);
        }
        let serving = self.ledger.serving().map(|r| r.id.clone());
        let rows: Vec<Vec<String>> = self
            .ledger
            .releases
            .iter()
            .rev()
            .map(|r| {
                let mark = if Some(&r.id) == serving.as_ref() { "*" } else { "" };
                vec![
                    format!("{mark}{}", r.id),
                    r.verdict.as_str().to_string(),
                    r.origin.label().to_string(),
                    r.digest.chars().take(19).collect(),
                    r.image.clone(),
                    r.who.describe(),
                    rfc3339(r.when),
                    r.grant_id.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let mut out = table(
            &[
                "RELEASE", "VERDICT", "ORIGIN", "DIGEST", "IMAGE", "WHO", "WHEN", "GRANT",
            ],
            &rows,
        );
        out.push_str("* serving\n");
        out
    }

    fn json(&self) -> Value {
        json!({
            "project": self.project,
            "env": self.env,
            "serving": self.ledger.serving().map(|r| &r.id),
            "releases": self.ledger.releases,
        })
    }
}

pub fn releases(ctx: &Context, printer: &Printer, args: ReleasesArgs) -> Result<()> {
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let ledger = release::releases(&session, &args.project, &args.env)?;
    printer.print(&ReleasesReport {
        project: session.config.project.clone(),
        env: args.env,
        ledger,
    });
    Ok(())
}

struct LockReport {
    action: &'static str,
    holder: Option<LockHolder>,
    removed: Option<bool>,
    checkpoint: Option<String>,
}

impl Render for LockReport {
    fn human(&self) -> String {
        let mut out = match (&self.holder, self.removed) {
            (Some(h), Some(true)) => format!("broke the deploy lock held by {}\n", h.describe()),
            (_, Some(_)) => "no deploy lock was held\n".to_string(),
            (Some(h), None) => format!("held by {}\n", h.describe()),
            (None, None) => "free\n".to_string(),
        };
        if let Some(c) = &self.checkpoint {
            out.push_str(c);
            out.push('\n');
        }
        out
    }

    fn json(&self) -> Value {
        json!({ "action": self.action, "holder": self.holder, "removed": self.removed, "checkpoint": self.checkpoint })
    }
}

pub fn lock(ctx: &Context, printer: &Printer, args: LockArgs) -> Result<()> {
    match args.command {
        LockCommand::Show(a) => {
            let session = open_session(ctx, Some(&a.project), &a.state)?;
            let holder = release::lock_holder(&session, &a.project, &a.env, a.target.into())?;
            printer.print(&LockReport {
                action: "show",
                holder,
                removed: None,
                checkpoint: None,
            });
            Ok(())
        }
        LockCommand::Break(a) => {
            let session = open_session(ctx, Some(&a.project), &a.state)?;
            let release = ReleaseArgs {
                project: &a.project,
                op: Operation::Rollback { to: None },
                env: &a.env,
                kind: a.target.into(),
                force: a.force,
                grant_flag: a.preauth_grant.as_deref(),
                require_grant: a.require_preauth,
                lock_wait: Duration::ZERO,
            };
            let result = release::break_lock(&session, &mut TtyConfirm { printer }, &release);
            let checkpoint = finish(ctx, printer).map(|c| c.human());
            let (holder, removed) = result.inspect_err(|_: &Error| {
                if let Some(c) = &checkpoint {
                    printer.note(c);
                }
            })?;
            printer.print(&LockReport {
                action: "break",
                holder,
                removed: Some(removed),
                checkpoint,
            });
            Ok(())
        }
    }
}
