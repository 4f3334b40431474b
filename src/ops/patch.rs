//! `autosd patch`: computes the mechanical fixes of a repository (every `--fix` of the
//! workflow linter; the project file has no migration to apply yet), applies them in a
//! temporary `git worktree` under `$AUTOSD_HOME/worktrees/` — never in the user's working
//! tree or index — checks the result there, and commits it on a new branch. Pushing is the
//! privileged part: the CLI runs [`Prepared::commit_and_push`] as the gate's act.
//!
//! Every git call goes through `process` (no shell). Nothing here prints or decides policy.
use crate::config::{CONFIG_VERSION, ProjectConfig};
use crate::error::{Error, ErrorCode, Result};
use crate::lint::config::{self as lint_config, Config as LintConfig};
use crate::lint::finding::Severity;
use crate::lint::fix;
use crate::lint::{FileReport, source};
use crate::process::{self, Cmd, Output};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// git calls that touch only the local repository.
const GIT_LOCAL_TIMEOUT: Duration = Duration::from_secs(60);
/// git calls that talk to the remote (ls-remote, push).
const GIT_REMOTE_TIMEOUT: Duration = Duration::from_secs(180);
/// How much of a failing command's output goes into the report.
const OUTPUT_TAIL_LINES: usize = 20;

/// One fix taken: which rule, in which file (repository-relative) and at which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixLine {
    pub rule: String,
    pub file: String,
    pub line: u32,
    pub title: String,
}

impl FixLine {
    /// `rule-id path:line: title`, the form used in the commit message and reports.
    pub fn describe(&self) -> String {
        format!("{} {}:{}: {}", self.rule, self.file, self.line, self.title)
    }
}

/// One check run on the patched tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// The project file's own mechanical upgrades. There is one file format version today, so
/// there is never a migration to apply; this says so instead of pretending.
pub fn project_file_upgrades(config: &ProjectConfig) -> String {
    format!(
        "{}: format version {CONFIG_VERSION} is the only one; no migration applies",
        config.path.file_name().map_or_else(
            || "project file".to_string(),
            |n| format!(".autosd/{}", n.to_string_lossy())
        )
    )
}

/// A temporary worktree, removed (with `--force`, it is ours) when dropped.
struct Worktree {
    repo: PathBuf,
    dir: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let removed = git(&self.repo)
            .args(["worktree", "remove", "--force"])
            .arg(self.dir.as_os_str())
            .run_quiet();
        if removed.is_err() {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = git(&self.repo).args(["worktree", "prune"]).run_quiet();
        }
    }
}

/// What [`prepare`] found.
pub enum Prepared {
    /// No fix applies: no branch, no commit, no push.
    Nothing {
        upgrades: String,
    },
    Fixed(Box<Patch>),
}

/// Fixes applied in a temporary worktree, not yet committed.
pub struct Patch {
    worktree: Worktree,
    /// The user's repository root.
    pub repo: PathBuf,
    /// The commit the fixes are based on (the user's `HEAD`).
    pub base: String,
    pub branch: String,
    pub fixes: Vec<FixLine>,
    /// Repository-relative paths of the changed files.
    pub files: Vec<String>,
    /// Unified diff of every changed file.
    pub diff: String,
    pub upgrades: String,
    /// Findings (at warning or above) per file and rule, before and after: a fix must never
    /// add one.
    lint_before: BTreeMap<(String, String), usize>,
    lint_after: BTreeMap<(String, String), usize>,
}

/// Options of a patch run.
#[derive(Debug, Clone)]
pub struct PatchOptions<'a> {
    /// `--branch`; default `autosd/patch-<short id>`.
    pub branch: Option<&'a str>,
    /// Where temporary worktrees live (`$AUTOSD_HOME/worktrees`).
    pub worktrees: PathBuf,
}

/// Finds the repository around the project file, checks out its `HEAD` into a temporary
/// worktree and applies every lint fix there.
pub fn prepare(config: &ProjectConfig, opts: &PatchOptions<'_>) -> Result<Prepared> {
    let repo = PathBuf::from(
        git(&config.root)
            .args(["rev-parse", "--show-toplevel"])
            .stdout()
            .map_err(|e| {
                Error::new(
                    ErrorCode::PatchGit,
                    format!(
                        "{} is not inside a git repository: {}",
                        config.root.display(),
                        e.message
                    ),
                )
                .hint("autosd patch works on a git checkout: run it inside the repository")
            })?
            .trim(),
    );
    let base = git(&repo)
        .args(["rev-parse", "--verify", "HEAD^{commit}"])
        .stdout()
        .map_err(|e| {
            Error::new(
                ErrorCode::PatchGit,
                format!("the repository has no commit to patch: {}", e.message),
            )
        })?
        .trim()
        .to_string();
    let id = short_id();
    let branch = match opts.branch {
        Some(b) => b.to_string(),
        None => format!("autosd/patch-{id}"),
    };
    check_branch_name(&repo, &branch)?;

    crate::store::fs::ensure_dir(&opts.worktrees, 0o700)?;
    let dir = opts.worktrees.join(format!("patch-{id}"));
    git(&repo)
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(dir.as_os_str())
        .arg(&base)
        .check(ErrorCode::PatchGit, "create the temporary worktree")?;
    let worktree = Worktree {
        repo: repo.clone(),
        dir: dir.clone(),
    };

    let lint = lint_config_at(&dir)?;
    let before = lint_tree(&dir, &lint)?;
    let lint_before = counts(&before);
    let mut fixes = Vec::new();
    let mut files = Vec::new();
    let mut diff = String::new();
    for report in &before {
        let Some(fixed) = fix::fix_report(report, Severity::Note) else {
            continue;
        };
        let path = dir.join(&report.path);
        write_keeping_mode(&path, fixed.fixed.as_bytes())?;
        diff.push_str(&fix::unified_diff(&report.path, &fixed.original, &fixed.fixed));
        files.push(report.path.clone());
        fixes.extend(fixed.fixes.iter().map(|f| FixLine {
            rule: f.rule.to_string(),
            file: report.path.clone(),
            line: f.line,
            title: f.title.clone(),
        }));
    }
    let upgrades = project_file_upgrades(config);
    if fixes.is_empty() {
        return Ok(Prepared::Nothing { upgrades });
    }
    let lint_after = counts(&lint_tree(&dir, &lint)?);
    Ok(Prepared::Fixed(Box::new(Patch {
        worktree,
        repo,
        base,
        branch,
        fixes,
        files,
        diff,
        upgrades,
        lint_before,
        lint_after,
    })))
}

impl Patch {
    /// The worktree the fixes live in (checks run there).
    pub fn dir(&self) -> &Path {
        &self.worktree.dir
    }

    /// Lint on the result (no finding may be new), then the project's check command with
    /// its timeout. `AUTOSD-PATCH-CHECKS-FAILED` names the failing check.
    pub fn run_checks(&self, config: &ProjectConfig) -> Result<Vec<CheckResult>> {
        let mut results = Vec::new();
        let new: Vec<String> = self
            .lint_after
            .iter()
            .filter(|(k, n)| **n > self.lint_before.get(*k).copied().unwrap_or(0))
            .map(|((file, rule), _)| format!("{rule} in {file}"))
            .collect();
        let lint = CheckResult {
            name: "lint-workflows".to_string(),
            passed: new.is_empty(),
            detail: if new.is_empty() {
                "no new finding after the fixes".to_string()
            } else {
                format!("new findings after the fixes: {}", new.join(", "))
            },
        };
        if !lint.passed {
            return Err(checks_failed(&lint));
        }
        results.push(lint);
        if let Some(argv) = &config.patch.check {
            let timeout = Duration::from_secs(config.patch.timeout_secs);
            let cmd = Cmd::new(&argv[0])
                .args(&argv[1..])
                .current_dir(self.dir())
                .timeout(timeout);
            let name = argv.join(" ");
            let result = match process::run(&cmd) {
                Ok(out) if out.success() => CheckResult {
                    name,
                    passed: true,
                    detail: "exit 0".to_string(),
                },
                Ok(out) => CheckResult {
                    name,
                    passed: false,
                    detail: format!(
                        "{}\n{}",
                        exit_text(&out),
                        tail(&format!("{}{}", out.stdout_str(), out.stderr_str()))
                    )
                    .trim_end()
                    .to_string(),
                },
                Err(e) => CheckResult {
                    name,
                    passed: false,
                    detail: e.message,
                },
            };
            if !result.passed {
                return Err(checks_failed(&result));
            }
            results.push(result);
        }
        Ok(results)
    }

    /// The commit message: a subject, every fix (rule, file, line), the project file note,
    /// and the trailer naming the grant.
    pub fn message(&self, project: &str, grant_id: Option<&str>) -> String {
        let n = self.fixes.len();
        let mut msg = format!(
            "autosd patch: {n} mechanical fix{} in {project}\n\n",
            if n == 1 { "" } else { "es" }
        );
        msg.push_str("Fixes (rule file:line: what):\n");
        for f in &self.fixes {
            msg.push_str(&format!("- {}\n", f.describe()));
        }
        msg.push_str(&format!("\nProject file: {}.\n\n", self.upgrades));
        msg.push_str(&format!(
            "Autosd-Grant: {}\nAutosd-Base: {}\n",
            grant_id.unwrap_or("none"),
            self.base
        ));
        msg
    }

    /// Commits the fixes on the new branch (created here, in the shared refs; the user's
    /// checkout is untouched) and returns the commit id.
    pub fn commit(&self, project: &str, grant_id: Option<&str>) -> Result<String> {
        if ref_exists(&self.repo, &format!("refs/heads/{}", self.branch))? {
            return Err(branch_exists_locally(&self.branch));
        }
        let dir = self.dir();
        git(dir)
            .args(["switch", "--quiet", "-c", &self.branch])
            .check(ErrorCode::PatchGit, "create the patch branch")?;
        git(dir)
            .args(["add", "--"])
            .args(&self.files)
            .check(ErrorCode::PatchGit, "stage the fixes")?;
        let mut commit = git(dir);
        if !has_identity(dir) {
            // CI runners have no identity configured; the trailer names the grant anyway.
            commit = commit.args(["-c", "user.name=autosd", "-c", "user.email=autosd@localhost"]);
        }
        commit
            .args(["commit", "--quiet", "--no-verify", "-m"])
            .arg(self.message(project, grant_id))
            .check(ErrorCode::PatchGit, "commit the fixes")?;
        Ok(git(dir).args(["rev-parse", "HEAD"]).stdout()?.trim().to_string())
    }

    /// Commits, then pushes the branch to `remote` without force. A rejected push is
    /// `AUTOSD-PATCH-PUSH-REJECTED`; it is never retried, and never with force.
    pub fn commit_and_push(&self, project: &str, grant_id: Option<&str>, remote: &str) -> Result<String> {
        let sha = self.commit(project, grant_id)?;
        // An explicit refspec without `+`: git refuses anything but a fast-forward (and the
        // branch is new), and nothing but this branch is pushed.
        let refspec = format!("refs/heads/{0}:refs/heads/{0}", self.branch);
        let out = git(&self.repo)
            .args(["push", "--porcelain", "--no-verify", remote, &refspec])
            .timeout(GIT_REMOTE_TIMEOUT)
            .output()?;
        if !out.success() {
            return Err(Error::new(
                ErrorCode::PatchPushRejected,
                format!(
                    "the remote `{remote}` rejected the push of branch `{}` (commit {sha}): {}",
                    self.branch,
                    tail(&format!("{}{}", out.stderr_str(), out.stdout_str()))
                ),
            )
            .hint(format!(
                "nothing was force-pushed; the commit stays on the local branch `{}`",
                self.branch
            ))
            .hint("check the remote's rules (protected branches, hooks, permissions) and push it yourself"));
        }
        Ok(sha)
    }
}

/// The remote's default branch and whether `branch` already exists there: a patch branch
/// must be new, and must never be the default branch.
pub fn check_remote(repo: &Path, remote: &str, branch: &str) -> Result<String> {
    let out = git(repo)
        .args([
            "ls-remote",
            "--symref",
            remote,
            "HEAD",
            &format!("refs/heads/{branch}"),
        ])
        .timeout(GIT_REMOTE_TIMEOUT)
        .output()?;
    if !out.success() {
        return Err(Error::new(
            ErrorCode::PatchGit,
            format!("cannot read the remote `{remote}`: {}", tail(&out.stderr_str())),
        )
        .hint(format!(
            "`git remote -v` must list `{remote}`; set `patch.remote` in the project file to another remote"
        )));
    }
    let text = out.stdout_str();
    let default = text
        .lines()
        .find_map(|l| l.strip_prefix("ref: refs/heads/")?.strip_suffix("\tHEAD"))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::PatchGit,
                format!("the remote `{remote}` does not say which branch is its default (no HEAD)"),
            )
        })?;
    if default == branch {
        return Err(Error::new(
            ErrorCode::PatchBranchRefused,
            format!("`{branch}` is the default branch of `{remote}`: patch never pushes to it"),
        )
        .hint("omit --branch to get a new autosd/patch-<id> branch"));
    }
    let exists = text
        .lines()
        .any(|l| l.ends_with(&format!("\trefs/heads/{branch}")));
    if exists {
        return Err(Error::new(
            ErrorCode::PatchBranchRefused,
            format!("branch `{branch}` already exists on `{remote}`; patch pushes only new branches"),
        )
        .hint("omit --branch to get a fresh name, or delete the old branch"));
    }
    Ok(default)
}

fn check_branch_name(repo: &Path, branch: &str) -> Result<()> {
    let valid = !branch.starts_with('-')
        && git(repo)
            .args(["check-ref-format", "--branch", branch])
            .output()?
            .success();
    if !valid {
        return Err(Error::new(
            ErrorCode::PatchBranchRefused,
            format!("`{branch}` is not a valid branch name"),
        ));
    }
    if ref_exists(repo, &format!("refs/heads/{branch}"))? {
        return Err(branch_exists_locally(branch));
    }
    Ok(())
}

fn branch_exists_locally(branch: &str) -> Error {
    Error::new(
        ErrorCode::PatchBranchRefused,
        format!("branch `{branch}` already exists in this repository; patch creates only new branches"),
    )
    .hint("omit --branch to get a fresh autosd/patch-<id> name")
}

fn ref_exists(repo: &Path, name: &str) -> Result<bool> {
    Ok(git(repo)
        .args(["rev-parse", "--verify", "--quiet", name])
        .output()?
        .success())
}

fn has_identity(dir: &Path) -> bool {
    ["user.name", "user.email"].iter().all(|k| {
        git(dir)
            .args(["config", "--get", k])
            .output()
            .is_ok_and(|o| o.success() && !o.stdout_str().trim().is_empty())
    })
}

/// The linter's config of the patched tree (`.github/autosd-lint.yml`), if it has one.
fn lint_config_at(root: &Path) -> Result<LintConfig> {
    let path = root.join(lint_config::DEFAULT_PATH);
    match std::fs::read_to_string(&path) {
        Ok(text) => LintConfig::parse(&text).map_err(|problems| {
            Error::new(
                ErrorCode::PatchChecksFailed,
                format!(
                    "the lint config {} is not valid: {}",
                    lint_config::DEFAULT_PATH,
                    problems.join("; ")
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LintConfig::default()),
        Err(e) => Err(Error::io("read", &path, &e)),
    }
}

fn lint_tree(root: &Path, config: &LintConfig) -> Result<Vec<FileReport>> {
    let io = |e: source::SourceError| {
        Error::new(
            ErrorCode::Io,
            format!("cannot read {}: {}", e.path.display(), e.message),
        )
    };
    let targets = source::discover_repository(root, "").map_err(io)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    source::lint_targets(&targets, config, threads).map_err(io)
}

fn counts(reports: &[FileReport]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in reports {
        for f in r.findings.iter().filter(|f| f.severity >= Severity::Warning) {
            *out.entry((r.path.clone(), f.rule.to_string())).or_insert(0) += 1;
        }
    }
    out
}

fn write_keeping_mode(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    crate::store::fs::write_atomic(path, bytes, mode)
}

fn checks_failed(check: &CheckResult) -> Error {
    Error::new(
        ErrorCode::PatchChecksFailed,
        format!(
            "check `{}` failed on the patched tree; nothing was committed: {}",
            check.name, check.detail
        ),
    )
    .hint("run `autosd patch --dry-run` to see the fixes, and the check by hand to see why")
}

fn exit_text(out: &Output) -> String {
    match out.code {
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".to_string(),
    }
}

/// The last lines of a command's output, for a report.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(OUTPUT_TAIL_LINES);
    lines[start..].join("\n")
}

/// 8 hex characters: unique enough for branch names of one repository.
fn short_id() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A git invocation in `dir`, never prompting for credentials.
struct Git(Cmd);

fn git(dir: &Path) -> Git {
    Git(Cmd::new("git")
        .arg("-C")
        .arg(dir.as_os_str())
        .env("GIT_TERMINAL_PROMPT", "0")
        .timeout(GIT_LOCAL_TIMEOUT))
}

impl Git {
    fn arg(self, a: impl Into<std::ffi::OsString>) -> Git {
        Git(self.0.arg(a))
    }

    fn args<I, S>(self, a: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        Git(self.0.args(a))
    }

    fn timeout(self, t: Duration) -> Git {
        Git(self.0.timeout(t))
    }

    fn output(self) -> Result<Output> {
        process::run(&self.0).map_err(|e| Error::new(ErrorCode::PatchGit, e.message).hint("install git"))
    }

    /// Runs and returns stdout; a non-zero exit is an error carrying git's stderr.
    fn stdout(self) -> Result<String> {
        let display = self.0.display();
        let out = self.output()?;
        if out.success() {
            Ok(out.stdout_str())
        } else {
            Err(Error::new(
                ErrorCode::PatchGit,
                format!("`{display}` failed: {}", tail(&out.stderr_str())),
            ))
        }
    }

    fn check(self, code: ErrorCode, what: &str) -> Result<()> {
        let out = self.output()?;
        if out.success() {
            Ok(())
        } else {
            Err(Error::new(
                code,
                format!("cannot {what}: {}", tail(&out.stderr_str())),
            ))
        }
    }

    fn run_quiet(self) -> Result<()> {
        if self.output()?.success() {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::PatchGit, "git failed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        let text: String = (1..=30).map(|i| format!("line {i}\n\n")).collect();
        let t = tail(&text);
        assert_eq!(t.lines().count(), OUTPUT_TAIL_LINES);
        assert!(t.starts_with("line 11") && t.ends_with("line 30"));
    }

    #[test]
    fn fix_lines_name_rule_file_and_line() {
        let f = FixLine {
            rule: "persist-credentials".into(),
            file: ".github/workflows/ci.yml".into(),
            line: 9,
            title: "set `persist-credentials: false`".into(),
        };
        assert_eq!(
            f.describe(),
            "persist-credentials .github/workflows/ci.yml:9: set `persist-credentials: false`"
        );
        assert_eq!(short_id().len(), 8);
    }
}
