//! `autosd ci …`: CI helpers. `lint-workflows` parses its flags into a resolved run
//! (config, targets, format), calls the linter and prints the rendered result. Exit codes
//! follow the linter's contract: 0 clean, 1 findings at or above `--min-severity`,
//! 2 usage, configuration or I/O error.
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::lint::config::{self, Config};
use crate::lint::finding::Severity;
use crate::lint::fix::{self, FixedFile};
use crate::lint::format::{self, Format, Run};
use crate::lint::source::{self, Target};
use crate::lint::{FileReport, ParsedFile, lint_parsed, registry};
use crate::output::Printer;
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Lint GitHub Actions workflows and action metadata (docs/lint.md)
    LintWorkflows(LintArgs),
    /// Run ci/run_ci.sh the way CI does and name the failing stage
    Mirror(super::factory::MirrorArgs),
}

/// What was typed for `lint-workflows`; resolved into a run by [`lint_workflows`].
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or directories to lint; `-` reads stdin. Default: the repository's
    /// `.github/workflows/*.{yml,yaml}` and every `action.{yml,yaml}`
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Output format [default: github when GITHUB_ACTIONS=true, else human]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Show and fail on findings at or above this severity
    #[arg(long, value_enum, default_value_t = CliSeverity::Warning)]
    pub min_severity: CliSeverity,
    /// Config file [default: .github/autosd-lint.yml in the repository, if present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Apply the mechanical fixes attached to findings, in place
    #[arg(long)]
    pub fix: bool,
    /// With --fix: print a unified diff instead of writing files
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
    /// Print every rule with its default severity and exit
    #[arg(long)]
    pub list_rules: bool,
}

/// clap's mirror of [`Severity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CliSeverity {
    Note,
    Warning,
    Error,
}

impl From<CliSeverity> for Severity {
    fn from(s: CliSeverity) -> Severity {
        match s {
            CliSeverity::Note => Severity::Note,
            CliSeverity::Warning => Severity::Warning,
            CliSeverity::Error => Severity::Error,
        }
    }
}

pub fn run(ctx: &Context, printer: &Printer, args: CiArgs) -> Result<()> {
    match args.command {
        CiCommand::LintWorkflows(a) => lint_workflows(ctx, printer, a),
        CiCommand::Mirror(a) => super::factory::ci_mirror(ctx, printer, a),
    }
}

fn lint_workflows(ctx: &Context, printer: &Printer, args: LintArgs) -> Result<()> {
    if args.list_rules {
        let rows: Vec<Vec<String>> = registry::RULES
            .iter()
            .map(|r| {
                let m = r.meta();
                vec![m.id.to_string(), m.severity.to_string(), m.summary.to_string()]
            })
            .collect();
        printer.text(&crate::output::table(&["RULE", "SEVERITY", "CHECKS"], &rows));
        return Ok(());
    }
    let min: Severity = args.min_severity.into();
    let format = args.format.unwrap_or(if ctx.env.in_github_actions() {
        Format::Github
    } else {
        Format::Human
    });
    let repo_root = find_repo_root(&ctx.cwd);
    let config = load_config(args.config.as_deref(), &repo_root, &ctx.cwd)?;
    let stdin = args.paths.iter().any(|p| p.as_os_str() == "-");
    if stdin && args.fix && !args.dry_run {
        return Err(Error::new(ErrorCode::Usage, "--fix cannot write back to stdin")
            .hint("use --fix --dry-run to see the diff"));
    }
    let files: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    let targets: Vec<Target> = if args.paths.is_empty() {
        let mut found = source::discover_repository(&repo_root, &display_base(&repo_root, &ctx.cwd))
            .map_err(source_error)?;
        found.retain(|t| {
            let relative = t.path.strip_prefix(&repo_root).unwrap_or(&t.path);
            !config.is_excluded(&relative.to_string_lossy())
        });
        found
    } else {
        source::expand_paths(&files, &ctx.cwd).map_err(source_error)?
    };
    if targets.is_empty() && !stdin {
        printer.note("no workflow or action metadata files found");
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut reports = source::lint_targets(&targets, &config, threads).map_err(source_error)?;
    if stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| io_usage("read", Path::new("-"), &e))?;
        reports.push(source::lint_stdin(&bytes, &config, &ctx.cwd, None));
    }
    if args.fix {
        reports = apply_fixes(printer, reports, &targets, &config, min, args.dry_run)?;
    }
    let run = Run {
        reports: &reports,
        min_severity: min,
    };
    printer.text(&format::render(format, &run));
    let failing: usize = run.counts().iter().sum();
    if failing > 0 {
        return Err(Error::new(
            ErrorCode::LintFindings,
            format!(
                "{failing} finding{} at or above severity {min}",
                if failing == 1 { "" } else { "s" }
            ),
        )
        .hint("fix them, or silence one with `# autosd-lint: ignore[rule-id]` (docs/lint.md)"));
    }
    Ok(())
}

/// Applies (or with `dry_run` shows) fixes, then lints the fixed text again so the report
/// and exit code describe what remains.
fn apply_fixes(
    printer: &Printer,
    reports: Vec<FileReport>,
    targets: &[Target],
    config: &Config,
    min: Severity,
    dry_run: bool,
) -> Result<Vec<FileReport>> {
    let mut out = Vec::with_capacity(reports.len());
    let (mut fixed_files, mut fixed_count) = (0, 0);
    for report in reports {
        let Some(fixed) = fix::fix_report(&report, min) else {
            out.push(report);
            continue;
        };
        fixed_files += 1;
        fixed_count += fixed.applied.len();
        let target = targets.iter().find(|t| t.display == report.path);
        if dry_run {
            printer.text(&fix::unified_diff(&report.path, &fixed.original, &fixed.fixed));
        } else if let Some(t) = target {
            write_fixed(&t.path, &fixed)?;
        }
        let local: Box<dyn crate::lint::LocalFiles> = match target {
            Some(t) => Box::new(source::FsLocalFiles::new(t.root.clone())),
            None => Box::new(crate::lint::NoLocalFiles),
        };
        let parsed = Arc::new(ParsedFile::parse(fixed.fixed.as_bytes()));
        out.push(lint_parsed(
            &report.path,
            parsed,
            Some(report.kind),
            config,
            local.as_ref(),
        ));
    }
    let verb = if dry_run { "would fix" } else { "fixed" };
    printer.note(&format!(
        "{verb} {fixed_count} finding(s) in {fixed_files} file(s)"
    ));
    Ok(out)
}

fn write_fixed(path: &Path, fixed: &FixedFile) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    crate::store::fs::write_atomic(path, fixed.fixed.as_bytes(), mode)
}

/// The nearest directory at or above `cwd` holding `.github/`, else `cwd` itself.
fn find_repo_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|a| a.join(".github").is_dir())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// How discovered paths are shown: relative to the working directory.
fn display_base(root: &Path, cwd: &Path) -> String {
    if root == cwd {
        return String::new();
    }
    match cwd.strip_prefix(root) {
        Ok(rel) => rel.components().map(|_| "..").collect::<Vec<_>>().join("/"),
        Err(_) => root.to_string_lossy().into_owned(),
    }
}

fn load_config(flag: Option<&Path>, repo_root: &Path, cwd: &Path) -> Result<Config> {
    let (path, required) = match flag {
        Some(p) => (cwd.join(p), true),
        None => (repo_root.join(config::DEFAULT_PATH), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(io_usage("read config", &path, &e)),
    };
    Config::parse(&text).map_err(|problems| {
        let mut err = Error::new(
            ErrorCode::Usage,
            format!("invalid lint config {}", path.display()),
        );
        for p in problems {
            err = err.hint(p);
        }
        err
    })
}

fn source_error(e: source::SourceError) -> Error {
    Error::new(
        ErrorCode::Usage,
        format!("cannot read {}: {}", e.path.display(), e.message),
    )
    .hint("check the paths given to lint-workflows")
}

/// The linter's contract puts I/O failures on exit code 2, with usage errors.
fn io_usage(what: &str, path: &Path, err: &std::io::Error) -> Error {
    let mut e = Error::io(what, path, err);
    e.code = ErrorCode::Usage;
    e
}
