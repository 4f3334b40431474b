//! The project file `.autosd/config.yml`: finding it (from the current directory upwards, like
//! git), loading it with serde-saphyr, and validating the file-shaped `raw` structs into the
//! checked `ProjectConfig` the rest of autosd uses. Every problem is reported with its line,
//! all at once. This module decides nothing about permissions: that is `policy`.
mod lines;
mod raw;
mod template;

pub use template::template;

use crate::error::{Error, ErrorCode, Result};
use raw::{RawConfig, RawEnvironment, RawPatch, RawState};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the project file lives, relative to the repository root.
pub const CONFIG_DIR: &str = ".autosd";
pub const CONFIG_FILE: &str = "config.yml";
/// The only file format version this build reads.
pub const CONFIG_VERSION: u32 = 1;
/// The default environments of a new project, in promotion order.
pub const DEFAULT_ENVIRONMENTS: &[&str] = &["dev", "staging", "prod"];
/// The branch the git state store uses unless the project file names another.
pub const DEFAULT_STATE_BRANCH: &str = "autosd-state";
/// A project file is a few hundred bytes; anything this large is not one.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A validated project file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// The directory holding `.autosd/`: the repository root.
    pub root: PathBuf,
    pub project: String,
    /// In file order; names are unique.
    pub environments: Vec<Environment>,
    pub state: StateSettings,
    pub patch: PatchSettings,
}

/// The `patch:` section: the check `autosd patch` runs on its fixes before committing,
/// the remote it pushes to, and the labels of the pull request it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchSettings {
    /// argv of the project's check, run in the patched worktree (no shell); `None`: lint only.
    pub check: Option<Vec<String>>,
    pub timeout_secs: u64,
    /// The git remote (a name in the repository) the branch is pushed to.
    pub remote: String,
    pub labels: Vec<String>,
}

/// Default and ceiling of `patch.timeout_secs`.
pub const DEFAULT_PATCH_TIMEOUT_SECS: u64 = 600;
pub const MAX_PATCH_TIMEOUT_SECS: u64 = 6 * 3600;

impl Default for PatchSettings {
    fn default() -> Self {
        PatchSettings {
            check: None,
            timeout_secs: DEFAULT_PATCH_TIMEOUT_SECS,
            remote: "origin".to_string(),
            labels: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    /// Production environments always require a grant and their deploys need confirmation.
    pub production: bool,
    /// Whether every privileged operation here needs a grant (always true in production).
    pub require_grant: bool,
    /// Whether `require_grant` was written in the file (rather than defaulted).
    pub require_grant_explicit: bool,
    /// The environment's public URL (`url:`), reported as a GitHub deployment's environment_url.
    pub url: Option<String>,
    pub target: TargetSettings,
    /// Restarts of one release per rolling hour before `heal` escalates to a rollback.
    pub max_restarts_per_hour: u32,
    pub line: u64,
}

/// Restarts of the same release per hour before heal rolls back instead (crash-loop cap).
pub const DEFAULT_MAX_RESTARTS_PER_HOUR: u32 = 3;

/// The per-environment `target:` section, kept open: the target kind that reads it validates
/// it (and reports problems at `line`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetSettings {
    pub line: u64,
    pub settings: BTreeMap<String, serde_json::Value>,
    /// The project file's text and this section's key path in it
    /// (`environments.prod.target`): lines of keys are looked up only for a problem.
    source: Option<(std::sync::Arc<str>, String)>,
}

impl TargetSettings {
    /// Settings given as a JSON mapping rather than read from a file (tests, tools); every
    /// problem is reported at `line`. Anything but a mapping gives no settings.
    pub fn from_json(value: serde_json::Value, line: u64) -> Self {
        TargetSettings {
            line,
            settings: serde_json::from_value(value).unwrap_or_default(),
            source: None,
        }
    }

    /// The line of every key below `target:`, by dotted path (`update.parallelism`). The
    /// file is read again for it, which only a wrong setting asks for.
    pub fn key_lines(&self) -> BTreeMap<String, u64> {
        let Some((text, path)) = &self.source else {
            return BTreeMap::new();
        };
        let prefix = format!("{path}.");
        lines::key_lines(text)
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, l)| (k[prefix.len()..].to_string(), *l))
            .collect()
    }
}

/// Which `Store` backend holds shared state (halts, revocations, ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSettings {
    /// `$AUTOSD_HOME/state/` on this machine.
    Local,
    /// A dedicated branch of a git remote (a URL or a path, never a remote name: the store
    /// works in its own cache, outside the repository).
    Git { remote: String, branch: String },
}

impl StateSettings {
    pub fn backend_name(&self) -> &'static str {
        match self {
            StateSettings::Local => "local",
            StateSettings::Git { .. } => "git",
        }
    }
}

impl ProjectConfig {
    /// The environment called `name`, or `AUTOSD-ENV-INVALID` naming the known ones:
    /// an unknown name is never treated as non-production.
    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.environments.iter().find(|e| e.name == name).ok_or_else(|| {
            Error::new(
                ErrorCode::EnvInvalid,
                format!(
                    "environment `{name}` is not one of project `{}`'s environments ({})",
                    self.project,
                    self.environment_names().join(", ")
                ),
            )
            .hint(format!("environments are declared in {}", self.path.display()))
        })
    }

    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.iter().map(|e| e.name.as_str()).collect()
    }

    /// `AUTOSD-PROJECT-MISMATCH` unless `flag` (when given) names this project.
    pub fn check_project(&self, flag: Option<&str>) -> Result<()> {
        match flag {
            Some(id) if id != self.project => Err(Error::new(
                ErrorCode::ProjectMismatch,
                format!(
                    "--project {id} does not match project `{}` of {}",
                    self.project,
                    self.path.display()
                ),
            )
            .hint("run the command inside the repository of that project, or fix --project")),
            _ => Ok(()),
        }
    }
}

/// The project file of the repository containing `start`: `.autosd/config.yml` in `start` or
/// the nearest ancestor that has one.
pub fn find(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(CONFIG_DIR).join(CONFIG_FILE);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::new(
        ErrorCode::ConfigMissing,
        format!(
            "no {CONFIG_DIR}/{CONFIG_FILE} in {} or any parent directory",
            start.display()
        ),
    )
    .hint("run `autosd init --project ID` at the root of the repository"))
}

/// Finds and loads the project file from `cwd` and checks `--project` against it.
pub fn discover(cwd: &Path, project_flag: Option<&str>) -> Result<ProjectConfig> {
    let config = load(&find(cwd)?)?;
    config.check_project(project_flag)?;
    Ok(config)
}

pub fn load(path: &Path) -> Result<ProjectConfig> {
    let bytes = crate::store::fs::read_limited(path, MAX_CONFIG_BYTES).map_err(|e| {
        if e.code == ErrorCode::StateCorrupt {
            Error::new(ErrorCode::ConfigInvalid, e.message)
        } else {
            e
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorCode::ConfigInvalid,
            format!("{}:1: the file is not UTF-8", path.display()),
        )
    })?;
    let root = path
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    parse(&text, path, &root)
}

/// Parses and validates project-file text; `path` only names the file in messages.
pub fn parse(text: &str, path: &Path, root: &Path) -> Result<ProjectConfig> {
    let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(1).max(1);
        let problem = Problem {
            line,
            message: yaml_message(&e),
        };
        invalid(path, vec![problem])
    })?;
    let mut config = validate(raw, path, root).map_err(|problems| invalid(path, problems))?;
    let text: std::sync::Arc<str> = text.into();
    for env in &mut config.environments {
        env.target.source = Some((text.clone(), format!("environments.{}.target", env.name)));
    }
    Ok(config)
}

/// One thing wrong with the file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    line: u64,
    message: String,
}

fn invalid(path: &Path, mut problems: Vec<Problem>) -> Error {
    problems.sort_by_key(|p| p.line);
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{}: {}", path.display(), p.line, p.message))
        .collect();
    Error::new(ErrorCode::ConfigInvalid, lines.join("\n"))
        .hint("see docs/configuration.md for every field of the project file")
}

/// serde-saphyr's message without its snippet and its trailing position (we print our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn line_of<T>(s: &Spanned<T>) -> u64 {
    s.referenced.line().max(1)
}

fn validate(raw: RawConfig, path: &Path, root: &Path) -> std::result::Result<ProjectConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |line: u64, message: String| problems.push(Problem { line, message });

    if raw.version.value != CONFIG_VERSION {
        problem(
            line_of(&raw.version),
            format!(
                "version {} is not supported (this autosd reads version {CONFIG_VERSION})",
                raw.version.value
            ),
        );
    }
    if let Err(why) = check_project_id(&raw.project.value) {
        problem(line_of(&raw.project), why);
    }

    let mut environments = Vec::new();
    match raw.environments {
        None => {
            environments = DEFAULT_ENVIRONMENTS
                .iter()
                .map(|name| default_environment(name, 0))
                .collect();
        }
        Some(envs) => {
            if envs.value.0.is_empty() {
                problem(
                    line_of(&envs),
                    "`environments` is empty: declare at least one environment".into(),
                );
            }
            for (name, body) in envs.value.0 {
                let line = line_of(&name);
                if let Err(why) = check_env_name(&name.value) {
                    problem(line, why);
                    continue;
                }
                if environments.iter().any(|e: &Environment| e.name == name.value) {
                    problem(line, format!("environment `{}` is declared twice", name.value));
                    continue;
                }
                match body {
                    None => environments.push(default_environment(&name.value, line)),
                    Some(body) => match environment(&name.value, line, body.value) {
                        Ok(env) => environments.push(env),
                        Err(p) => problems_push(&mut problem, p),
                    },
                }
            }
        }
    }

    let state = match raw.state {
        None => StateSettings::Local,
        Some(s) => match state(s.value) {
            Ok(state) => state,
            Err(p) => {
                problems_push(&mut problem, p);
                StateSettings::Local
            }
        },
    };

    let patch = match raw.patch {
        None => PatchSettings::default(),
        Some(p) => match patch_settings(p.value) {
            Ok(p) => p,
            Err(p) => {
                problems_push(&mut problem, p);
                PatchSettings::default()
            }
        },
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ProjectConfig {
        path: path.to_path_buf(),
        root: root.to_path_buf(),
        project: raw.project.value,
        environments,
        state,
        patch,
    })
}

fn problems_push(sink: &mut impl FnMut(u64, String), problems: Vec<Problem>) {
    for p in problems {
        sink(p.line, p.message);
    }
}

/// `prod` and `production` are production unless the file says otherwise: the safe default
/// for the names people use for it.
fn production_by_default(name: &str) -> bool {
    matches!(name, "prod" | "production")
}

fn default_environment(name: &str, line: u64) -> Environment {
    let production = production_by_default(name);
    Environment {
        name: name.to_string(),
        production,
        require_grant: production,
        require_grant_explicit: false,
        url: None,
        target: TargetSettings {
            line,
            ..TargetSettings::default()
        },
        max_restarts_per_hour: DEFAULT_MAX_RESTARTS_PER_HOUR,
        line,
    }
}

fn environment(name: &str, line: u64, raw: RawEnvironment) -> std::result::Result<Environment, Vec<Problem>> {
    let mut problems = Vec::new();
    let production = raw
        .production
        .as_ref()
        .map(|p| p.value)
        .unwrap_or_else(|| production_by_default(name));
    let require_grant = match &raw.require_grant {
        Some(r) if production && !r.value => {
            problems.push(Problem {
                line: line_of(r),
                message: format!(
                    "environment `{name}` is production: production always requires a grant, \
                     so `require_grant: false` is not allowed"
                ),
            });
            true
        }
        Some(r) => r.value || production,
        None => production,
    };
    let url = raw.url.map(|u| {
        if !(u.value.starts_with("https://") || u.value.starts_with("http://")) {
            problems.push(Problem {
                line: line_of(&u),
                message: format!("environment `{name}`: url `{}` is not an http(s) URL", u.value),
            });
        }
        u.value
    });
    let target = match raw.target {
        Some(t) => TargetSettings {
            line: line_of(&t),
            settings: t.value,
            source: None,
        },
        None => TargetSettings {
            line,
            ..TargetSettings::default()
        },
    };
    let max_restarts_per_hour = raw
        .heal
        .and_then(|h| h.value.max_restarts_per_hour)
        .map_or(DEFAULT_MAX_RESTARTS_PER_HOUR, |m| m.value);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Environment {
        name: name.to_string(),
        production,
        require_grant,
        require_grant_explicit: raw.require_grant.is_some(),
        url,
        target,
        max_restarts_per_hour,
        line,
    })
}

fn state(raw: RawState) -> std::result::Result<StateSettings, Vec<Problem>> {
    let mut problems = Vec::new();
    let result = match raw.backend.value.as_str() {
        "local" => {
            for extra in [&raw.remote, &raw.branch].into_iter().flatten() {
                problems.push(Problem {
                    line: line_of(extra),
                    message: "`remote` and `branch` apply only to `backend: git`".into(),
                });
            }
            StateSettings::Local
        }
        "git" => {
            let remote = match raw.remote {
                Some(r) if !r.value.trim().is_empty() && !r.value.starts_with('-') => r.value,
                Some(r) => {
                    problems.push(Problem {
                        line: line_of(&r),
                        message: "`remote` must be a git URL or path".into(),
                    });
                    String::new()
                }
                None => {
                    problems.push(Problem {
                        line: line_of(&raw.backend),
                        message: "`backend: git` needs `remote:` (the URL of the state repository)".into(),
                    });
                    String::new()
                }
            };
            let branch = raw
                .branch
                .map(|b| (line_of(&b), b.value))
                .unwrap_or((0, DEFAULT_STATE_BRANCH.to_string()));
            if let Err(why) = check_branch(&branch.1) {
                problems.push(Problem {
                    line: branch.0.max(line_of(&raw.backend)),
                    message: why,
                });
            }
            StateSettings::Git {
                remote,
                branch: branch.1,
            }
        }
        other => {
            problems.push(Problem {
                line: line_of(&raw.backend),
                message: format!("unknown state backend `{other}` (expected `local` or `git`)"),
            });
            StateSettings::Local
        }
    };
    if problems.is_empty() {
        Ok(result)
    } else {
        Err(problems)
    }
}

fn patch_settings(raw: RawPatch) -> std::result::Result<PatchSettings, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out = PatchSettings::default();
    if let Some(check) = raw.check {
        if check.value.is_empty() || check.value[0].trim().is_empty() {
            problems.push(Problem {
                line: line_of(&check),
                message: "`patch.check` must be a non-empty list: the program, then its arguments \
                          (no shell; write [sh, -c, \"...\"] for one)"
                    .into(),
            });
        } else {
            out.check = Some(check.value);
        }
    }
    if let Some(t) = raw.timeout_secs {
        if t.value == 0 || t.value > MAX_PATCH_TIMEOUT_SECS {
            problems.push(Problem {
                line: line_of(&t),
                message: format!("`patch.timeout_secs` must be between 1 and {MAX_PATCH_TIMEOUT_SECS}"),
            });
        } else {
            out.timeout_secs = t.value;
        }
    }
    if let Some(r) = raw.remote {
        let ok = !r.value.is_empty()
            && !r.value.starts_with('-')
            && r.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            out.remote = r.value;
        } else {
            problems.push(Problem {
                line: line_of(&r),
                message: format!(
                    "`patch.remote` `{}` is not a git remote name (letters, digits, `-`, `_`, `.`)",
                    r.value
                ),
            });
        }
    }
    if let Some(labels) = raw.labels {
        if labels.value.iter().any(|l| l.trim().is_empty() || l.len() > 50) {
            problems.push(Problem {
                line: line_of(&labels),
                message: "`patch.labels` entries must be non-empty and at most 50 characters".into(),
            });
        } else {
            out.labels = labels.value;
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Project ids appear in grants, store keys and file names: a conservative alphabet.
pub fn check_project_id(id: &str) -> std::result::Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "project id `{id}` is not valid: use 1-64 letters, digits, `-`, `_` or `.`, \
             starting with a letter or digit"
        ))
    }
}

/// Environment names become grant flags (`--auto-deploy-NAME`): lowercase and short.
pub fn check_env_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "environment name `{name}` is not valid: use 1-32 lowercase letters, digits, `-` \
             or `_`, starting with a letter"
        ))
    }
}

fn check_branch(branch: &str) -> std::result::Result<(), String> {
    let ok = !branch.is_empty()
        && !branch.starts_with(['-', '/', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.contains("..")
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{branch}` is not a usable branch name"))
    }
}

#[cfg(test)]
mod tests;
