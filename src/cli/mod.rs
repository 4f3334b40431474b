//! Command-line layer: clap types, dispatch and rendering. It parses and renders only;
//! decisions live in `ops` and the pure modules.
mod audit;
mod ci;
mod confirm;
mod factory;
mod heal;
mod logging;
mod patch;
mod policy;
mod preauth;
mod project;
mod release;

use crate::context::Context;
use crate::error::{Error, ErrorCode};
use crate::output::{OutputFormat, Printer};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "autosd",
    version,
    about = "Safe autonomy for CI/CD",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// autosd's state directory (keys, grants, audit log) [default: ~/.autosd]
    #[arg(long, global = true, env = "AUTOSD_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Debug log, written by tracing; never contains a secret
    #[arg(long, global = true, default_value = "autosd.log", value_name = "PATH")]
    pub log_file: PathBuf,
    /// More detail in the log file and on stderr
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Output format of results on stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keys, signed preauthorization grants and revocation
    Preauth(preauth::PreauthArgs),
    /// CI helpers: lint-workflows
    Ci(ci::CiArgs),
    /// Write a commented project file (.autosd/config.yml) into this repository
    Init(project::InitArgs),
    /// Stop all autonomy for a project at once (the kill switch; needs no grant)
    Halt(project::HaltArgs),
    /// Lift the kill switch (destructive: confirmation, a grant when policy requires one)
    Resume(project::ResumeArgs),
    /// Halt state, recent grant use and the audit log head of a project
    Status(project::StatusArgs),
    /// The resolved policy: what each operation needs where, and what a grant allows
    Policy(policy::PolicyArgs),
    /// Show and verify the tamper-evident audit trail
    Audit(audit::AuditArgs),
    /// Render autosd's GitHub workflows for a project file
    Generate(factory::GenerateArgs),
    /// The release gate: generator conformance, lint and CI mirror; writes both reports
    VerifyFactory(factory::VerifyFactoryArgs),
    /// Deploy an image to an environment: candidate, health gate, then switch-over
    Deploy(release::DeployArgs),
    /// Go back to the last known-good release (or --to RELEASE), health-gated
    Rollback(release::RollbackArgs),
    /// Deploy exactly the digest healthy in --from to --to
    Promote(release::PromoteArgs),
    /// The release ledger of an environment
    Releases(release::ReleasesArgs),
    /// Show or break the per-environment deploy lock
    Lock(release::LockArgs),
    /// Apply the mechanical fixes (lint --fix) on a new branch; --auto-push pushes it (gated)
    Patch(patch::PatchArgs),
    /// Probe environments, open/update incidents, and heal within the grant (restart, rollback)
    Heal(heal::HealArgs),
    /// List, show and resolve incidents
    Incidents(heal::IncidentsArgs),
}

/// Entry point for `main`: every exit code comes from here.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let printer = Printer::new(cli.global.output);
    let _guard = logging::init(&cli.global.log_file, cli.global.verbose);
    let ctx = Context::from_process(cli.global.home.clone());
    tracing::info!(command = ?std::mem::discriminant(&cli.command), "autosd start");
    let result = match cli.command {
        Command::Preauth(args) => preauth::run(&ctx, &printer, args),
        Command::Ci(args) => ci::run(&ctx, &printer, args),
        Command::Init(args) => project::init(&ctx, &printer, args),
        Command::Halt(args) => project::halt(&ctx, &printer, args),
        Command::Resume(args) => project::resume(&ctx, &printer, args),
        Command::Status(args) => project::status(&ctx, &printer, args),
        Command::Policy(args) => policy::run(&ctx, &printer, args),
        Command::Audit(args) => audit::run(&ctx, &printer, args),
        Command::Generate(args) => factory::generate(&ctx, &printer, args),
        Command::VerifyFactory(args) => factory::verify_factory(&ctx, &printer, cli.global.verbose, args),
        Command::Deploy(args) => release::deploy(&ctx, &printer, args),
        Command::Rollback(args) => release::rollback(&ctx, &printer, args),
        Command::Promote(args) => release::promote(&ctx, &printer, args),
        Command::Releases(args) => release::releases(&ctx, &printer, args),
        Command::Lock(args) => release::lock(&ctx, &printer, args),
        Command::Patch(args) => patch::run(&ctx, &printer, args),
        Command::Heal(args) => heal::heal(&ctx, &printer, args),
        Command::Incidents(args) => heal::incidents(&ctx, &printer, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::warn!(code = err.code.as_str(), message = %err.message, "command failed");
            printer.error(&err);
            ExitCode::from(err.code.exit_code())
        }
    }
}

/// clap's own errors, re-rendered in autosd's `error[CODE]` form (help and version exit 0).
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = err.print();
        return ExitCode::from(ErrorCode::Usage.exit_code());
    }
    let rendered = crate::grant::redact_tokens(&err.to_string());
    let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_string();
    let mut report = Error::new(ErrorCode::Usage, first);
    for line in lines {
        report = report.hint(line.trim().trim_start_matches("tip: ").to_string());
    }
    Printer::new(OutputFormat::Human).error(&report);
    ExitCode::from(ErrorCode::Usage.exit_code())
}
