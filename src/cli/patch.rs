//! `autosd patch`: flags, the order of the steps (fix → checks → commit, or commit + push as
//! the gate's act → pull request), rendering, and the GitHub outputs (`branch`, `commit`,
//! `pull-request-url`). The fixing, checking and git work are in `ops::patch`.
use crate::cli::confirm::TtyConfirm;
use crate::cli::project::{StateArgs, finish, open_session};
use crate::context::Context;
use crate::error::Result;
use crate::github::rest::{GithubClient, NewPullRequest, RepoSlug};
use crate::github::runtime::ActionsRuntime;
use crate::ops::guard::Privileged;
use crate::ops::patch::{self, CheckResult, FixLine, PatchOptions, Prepared};
use crate::output::{Printer, Render};
use crate::policy::Operation;
use clap::Args;
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// The project to patch; must match the project file
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// Push the branch to the project's remote (gated: needs a grant with auto_push) and,
    /// in GitHub Actions with a token, open a pull request
    #[arg(long)]
    pub auto_push: bool,
    /// A grant (local id or token) with auto_push; AUTOSD_PREAUTH_GRANT is the fallback
    #[arg(long, value_name = "GRANT")]
    pub preauth_grant: Option<String>,
    /// The new branch [default: autosd/patch-<short id>]
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Print the unified diff of the fixes and change nothing (also with --auto-push)
    #[arg(long)]
    pub dry_run: bool,
    /// Accepted for symmetry with the other gated commands: patch never asks for confirmation
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// How a patch run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    NothingToPatch,
    DryRun,
    Committed,
    Pushed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::NothingToPatch => "nothing-to-patch",
            Status::DryRun => "dry-run",
            Status::Committed => "committed",
            Status::Pushed => "pushed",
        }
    }
}

struct PatchReport {
    status: Status,
    project: String,
    branch: Option<String>,
    commit: Option<String>,
    remote: Option<String>,
    pull_request_url: Option<String>,
    fixes: Vec<FixLine>,
    checks: Vec<CheckResult>,
    upgrades: String,
    diff: Option<String>,
    checkpoint: Option<String>,
}

impl Render for PatchReport {
    fn human(&self) -> String {
        if self.status == Status::NothingToPatch {
            return format!(
                "nothing to patch in project `{}` ({})",
                self.project, self.upgrades
            );
        }
        let mut out = String::new();
        if let Some(diff) = &self.diff {
            out.push_str(diff);
        }
        out.push_str(&format!("{} fix(es):\n", self.fixes.len()));
        for f in &self.fixes {
            out.push_str(&format!("  {}\n", f.describe()));
        }
        out.push_str(&format!("project file: {}\n", self.upgrades));
        for c in &self.checks {
            out.push_str(&format!(
                "check {}: {} ({})\n",
                c.name,
                if c.passed { "passed" } else { "FAILED" },
                c.detail
            ));
        }
        match self.status {
            Status::DryRun => out.push_str("dry run: no worktree kept, no branch, no commit, no push\n"),
            Status::Committed => out.push_str(&format!(
                "committed {} on local branch {} (not pushed; push it yourself or rerun with --auto-push)\n",
                self.commit.as_deref().unwrap_or("?"),
                self.branch.as_deref().unwrap_or("?")
            )),
            Status::Pushed => {
                out.push_str(&format!(
                    "pushed {} as branch {} to {}\n",
                    self.commit.as_deref().unwrap_or("?"),
                    self.branch.as_deref().unwrap_or("?"),
                    self.remote.as_deref().unwrap_or("?")
                ));
                if let Some(url) = &self.pull_request_url {
                    out.push_str(&format!("pull request: {url}\n"));
                }
            }
            Status::NothingToPatch => {}
        }
        if let Some(c) = &self.checkpoint {
            out.push_str(c);
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "status": self.status.as_str(),
            "project": self.project,
            "branch": self.branch,
            "commit": self.commit,
            "remote": self.remote,
            "pull_request_url": self.pull_request_url,
            "fixes": self.fixes.iter().map(|f| json!({
                "rule": f.rule, "file": f.file, "line": f.line, "title": f.title,
            })).collect::<Vec<_>>(),
            "checks": self.checks.iter().map(|c| json!({
                "name": c.name, "passed": c.passed, "detail": c.detail,
            })).collect::<Vec<_>>(),
            "project_file": self.upgrades,
            "diff": self.diff,
            "checkpoint": self.checkpoint,
        })
    }
}

pub fn run(ctx: &Context, printer: &Printer, args: PatchArgs) -> Result<()> {
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let config = &session.config;
    let opts = PatchOptions {
        branch: args.branch.as_deref(),
        worktrees: ctx.home.join("worktrees"),
    };
    let mut report = PatchReport {
        status: Status::NothingToPatch,
        project: config.project.clone(),
        branch: None,
        commit: None,
        remote: None,
        pull_request_url: None,
        fixes: Vec::new(),
        checks: Vec::new(),
        upgrades: String::new(),
        diff: None,
        checkpoint: None,
    };
    let patch = match patch::prepare(config, &opts)? {
        Prepared::Nothing { upgrades } => {
            report.upgrades = upgrades;
            printer.print(&report);
            return Ok(());
        }
        Prepared::Fixed(p) => p,
    };
    report.fixes = patch.fixes.clone();
    report.upgrades = patch.upgrades.clone();
    if args.dry_run {
        report.status = Status::DryRun;
        report.diff = Some(patch.diff.clone());
        printer.print(&report);
        return Ok(());
    }

    if !args.auto_push {
        report.checks = patch.run_checks(config)?;
        let sha = patch.commit(&config.project, None)?;
        report.status = Status::Committed;
        report.branch = Some(patch.branch.clone());
        report.commit = Some(sha);
        set_outputs(
            ctx,
            &[
                ("branch", &patch.branch),
                ("commit", report.commit.as_deref().unwrap_or("")),
            ],
        )?;
        printer.print(&report);
        return Ok(());
    }

    // Read-only remote checks first: the default branch is never a target, the branch is new.
    let remote = config.patch.remote.clone();
    let default_branch = patch::check_remote(&patch.repo, &remote, &patch.branch)?;
    report.checks = patch.run_checks(config)?;
    let req = Privileged {
        project: Some(&args.project),
        target: Some(&remote),
        force: args.force,
        grant_flag: args.preauth_grant.as_deref(),
        ..Privileged::new(Operation::Patch)
    };
    let pushed = session.run_with_detail(
        &req,
        &mut TtyConfirm { printer },
        |granted| patch.commit_and_push(&config.project, granted.grant_id(), &remote),
        |sha| format!("pushed commit {sha} as branch {} to {remote}", patch.branch),
    );
    let checkpoint = finish(ctx, printer);
    let sha = match pushed {
        Ok(sha) => sha,
        Err(e) => {
            if let Some(c) = &checkpoint {
                printer.note(&c.human());
            }
            return Err(e);
        }
    };
    report.status = Status::Pushed;
    report.branch = Some(patch.branch.clone());
    report.commit = Some(sha);
    report.remote = Some(remote);
    report.checkpoint = checkpoint.as_ref().map(|c| c.human());
    // The push is done and audited: outputs go out before the pull request, which may fail.
    set_outputs(
        ctx,
        &[
            ("branch", &patch.branch),
            ("commit", report.commit.as_deref().unwrap_or("")),
        ],
    )?;
    let opened =
        open_pull_request(ctx, config, &report, &default_branch, checkpoint.as_ref()).map_err(|e| {
            e.hint(format!(
                "the branch {} (commit {}) was pushed and audited; only the pull request is missing",
                patch.branch,
                report.commit.as_deref().unwrap_or("?")
            ))
        })?;
    if let Some(url) = opened {
        set_outputs(ctx, &[("pull-request-url", &url)])?;
        report.pull_request_url = Some(url);
    }
    printer.print(&report);
    Ok(())
}

/// In GitHub Actions with a token: the pull request from the pushed branch into the
/// remote's default branch, labelled as the project file says. `None` elsewhere.
fn open_pull_request(
    ctx: &Context,
    config: &crate::config::ProjectConfig,
    report: &PatchReport,
    base: &str,
    checkpoint: Option<&crate::audit::checkpoint::SignedCheckpoint>,
) -> Result<Option<String>> {
    let env = &ctx.env;
    if !env.in_github_actions() || env.secret("GITHUB_TOKEN").is_none() {
        return Ok(None);
    }
    let Some(repository) = env.get("GITHUB_REPOSITORY") else {
        return Ok(None);
    };
    let repo = RepoSlug::parse(repository)?;
    let branch = report.branch.clone().unwrap_or_default();
    let mut body = format!(
        "Mechanical fixes by `autosd patch` for project `{}` (commit `{}`).\n\n| rule | file | line | fix |\n|---|---|---|---|\n",
        report.project,
        report.commit.as_deref().unwrap_or("")
    );
    for f in &report.fixes {
        body.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            f.rule,
            f.file,
            f.line,
            f.title.replace('|', "\\|")
        ));
    }
    body.push_str(&format!("\nProject file: {}.\n\n", report.upgrades));
    for c in &report.checks {
        body.push_str(&format!(
            "- check `{}`: {}\n",
            c.name,
            if c.passed { "passed" } else { "failed" }
        ));
    }
    if let Some(c) = checkpoint {
        body.push('\n');
        body.push_str(&c.markdown());
    }
    let n = report.fixes.len();
    let pr = NewPullRequest {
        title: format!(
            "autosd patch: {n} mechanical fix{} in {}",
            if n == 1 { "" } else { "es" },
            report.project
        ),
        head: branch,
        base: base.to_string(),
        body,
    };
    let labels = config.patch.labels.clone();
    crate::github::block_on(async {
        let client = GithubClient::from_env(env)?;
        let (number, url) = client.create_pull_request(&repo, &pr).await?;
        if !labels.is_empty() {
            client.add_labels(&repo, number, &labels).await?;
        }
        Ok(Some(url))
    })?
}

/// `branch`, `commit` and later `pull-request-url` to `$GITHUB_OUTPUT` (no-op outside Actions).
fn set_outputs(ctx: &Context, outputs: &[(&str, &str)]) -> Result<()> {
    ActionsRuntime::from_env(&ctx.env).set_outputs(outputs)
}
