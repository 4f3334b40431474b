//! `autosd generate workflows`, `autosd verify-factory` and `autosd ci mirror`: flags in,
//! factory calls, rendering out. Posting the `autosd/verify-factory` commit status and writing
//! the job summary happen here because they are reporting, not gating.
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::factory::{self, mirror, verify};
use crate::github::rest::StatusState;
use crate::github::runtime::ActionsRuntime;
use crate::github::{self, StatusReporter};
use crate::output::{OutputFormat, Printer};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub command: GenerateCommand,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Render the autosd workflows (deploy, heal, lint, verify-factory) for a project file
    Workflows(WorkflowsArgs),
}

#[derive(Debug, Args)]
pub struct WorkflowsArgs {
    /// The project file [default: .autosd/config.yml found from the current directory up]
    #[arg(long, value_name = "FILE")]
    pub project_file: Option<PathBuf>,
    /// Where to write the workflows [default: .github/workflows of the project's repository]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyFactoryArgs {
    /// Post the commit status `autosd/verify-factory` (pending, then success/failure);
    /// needs GITHUB_TOKEN with `statuses: write`, GITHUB_REPOSITORY and GITHUB_SHA
    #[arg(long)]
    pub report_status: bool,
    /// The commit the status is posted on [default: GITHUB_SHA]; on pull requests pass the
    /// head SHA so the check shows on the pull request
    #[arg(long, value_name = "SHA", requires = "report_status")]
    pub sha: Option<String>,
    /// Rewrite conformance/expected/ (and workflows-templates/) from the generator, on purpose
    #[arg(long)]
    pub update: bool,
    /// CI stages the mirror gate runs, comma-separated [default: those the fixtures declare]
    #[arg(
        long,
        value_name = "STAGES",
        value_delimiter = ',',
        conflicts_with = "no_mirror"
    )]
    pub mirror_stages: Option<Vec<String>>,
    /// Skip the CI mirror gate
    #[arg(long)]
    pub no_mirror: bool,
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Only these stages of ci/run_ci.sh (comma-separated); default: the whole script
    #[arg(long, value_name = "STAGES", value_delimiter = ',')]
    pub stages: Vec<String>,
}

pub fn generate(ctx: &Context, printer: &Printer, args: GenerateArgs) -> Result<()> {
    let GenerateCommand::Workflows(a) = args.command;
    let project_file = factory::input::project_file(a.project_file.as_deref(), &ctx.cwd)?;
    let out = match a.out {
        Some(p) if p.is_absolute() => p,
        Some(p) => ctx.cwd.join(p),
        None => {
            let root = project_file
                .parent()
                .and_then(|p| p.parent())
                .map(PathBuf::from)
                .unwrap_or_else(|| ctx.cwd.clone());
            root.join(".github").join("workflows")
        }
    };
    let written = factory::generate(&project_file, &out)?;
    let rows: Vec<Vec<String>> = written
        .iter()
        .map(|(p, changed)| {
            vec![
                display(ctx, p),
                if *changed { "written" } else { "unchanged" }.to_string(),
            ]
        })
        .collect();
    match printer.format {
        OutputFormat::Json => printer.text(
            &serde_json::json!({
                "schema_version": crate::output::JSON_SCHEMA_VERSION,
                "files": written.iter().map(|(p, c)| serde_json::json!({"path": display(ctx, p), "changed": c})).collect::<Vec<_>>(),
            })
            .to_string(),
        ),
        OutputFormat::Human => printer.text(&crate::output::table(&["FILE", "RESULT"], &rows)),
    }
    Ok(())
}

fn display(ctx: &Context, p: &std::path::Path) -> String {
    p.strip_prefix(&ctx.cwd).unwrap_or(p).display().to_string()
}

pub fn verify_factory(
    ctx: &Context,
    printer: &Printer,
    verbose: bool,
    args: VerifyFactoryArgs,
) -> Result<()> {
    let root = factory::repo_root(&ctx.cwd);
    let inside = mirror::inside_mirror(&ctx.env);
    let opts = verify::VerifyOptions {
        root: root.clone(),
        update: args.update,
        mirror_stages: if args.no_mirror {
            Some(Vec::new())
        } else {
            args.mirror_stages
        },
        inside_mirror: inside,
    };
    // Set up the reporter before any gate runs: a missing token or permission should fail
    // fast, not after minutes of gates.
    let result = github::block_on(async {
        let status = match args.report_status {
            true => {
                let r = StatusReporter::from_env(&ctx.env, args.sha.as_deref())?;
                r.post(StatusState::Pending, "verify-factory is running").await?;
                Some(r)
            }
            false => None,
        };
        let verification = verify::verify(&opts)?;
        if let Some(r) = &status {
            let (state, description) = if verification.passed() {
                (
                    StatusState::Success,
                    format!("all {} gates passed", verification.gates.len()),
                )
            } else {
                (
                    StatusState::Failure,
                    format!("failed gate: {}", verification.failing_gates().join(", ")),
                )
            };
            r.post(state, &description).await?;
        }
        Ok::<_, Error>(verification)
    })??;
    write_report(
        &root.join(verify::CONFORMANCE_REPORT),
        &result.conformance_report(),
    )?;
    write_report(&root.join(verify::FACTORY_REPORT), &result.factory_report())?;
    let runtime = ActionsRuntime::from_env(&ctx.env);
    runtime.append_summary(&result.markdown())?;
    runtime.set_outputs(&[
        ("status", if result.passed() { "success" } else { "failure" }),
        (
            "report-path",
            &root.join(verify::FACTORY_REPORT).display().to_string(),
        ),
    ])?;
    match printer.format {
        OutputFormat::Json => printer.text(&result.factory_report().to_string()),
        OutputFormat::Human => printer.text(&result.human(verbose)),
    }
    if result.passed() {
        return Ok(());
    }
    let failing: Vec<String> = result
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| format!("{} ({})", g.name, g.summary))
        .collect();
    Err(Error::new(
        ErrorCode::FactoryGateFailed,
        format!("verify-factory failed: {}", failing.join("; ")),
    )
    .hint(format!(
        "details per gate in {}; rerun with --verbose",
        verify::FACTORY_REPORT
    ))
    .hint("if a generator change is intended, run `autosd verify-factory --update` and commit the result"))
}

fn write_report(path: &std::path::Path, doc: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::store::fs::ensure_dir(dir, 0o755)?;
    }
    let mut text = serde_json::to_string_pretty(doc)
        .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot serialise a report: {e}")))?;
    text.push('\n');
    crate::store::fs::write_atomic(path, text.as_bytes(), 0o644)
}

pub fn ci_mirror(ctx: &Context, printer: &Printer, args: MirrorArgs) -> Result<()> {
    if mirror::inside_mirror(&ctx.env) {
        return Err(Error::new(
            ErrorCode::Usage,
            "`autosd ci mirror` is already running further up this process tree; refusing to recurse",
        )
        .hint(format!(
            "unset {} only if this is really a separate run",
            mirror::MIRROR_ENV
        )));
    }
    let root = factory::repo_root(&ctx.cwd);
    let outcome = mirror::run(&root, &args.stages)?;
    printer.text(&outcome.tail);
    if outcome.passed {
        printer.note(&format!(
            "ci mirror passed: stages {}",
            outcome.stages_run.join(", ")
        ));
        return Ok(());
    }
    Err(Error::new(ErrorCode::CiStageFailed, outcome.failure_message())
        .hint("run `bash ci/run_ci.sh` to see the full output"))
}
