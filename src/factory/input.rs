//! The generator's input: the project file (`.autosd/config.yml`, owned by `config`) plus the
//! optional workflow settings `.autosd/workflows.yml` (owned here), validated into one
//! [`FactoryInput`]. Reads files; decides nothing about what is rendered.
use crate::config::{self, ProjectConfig};
use crate::error::{Error, ErrorCode, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workflow settings file, beside the project file.
pub const SETTINGS_FILE: &str = "workflows.yml";
/// Until a repository pins the autosd release it uses, generated workflows carry this
/// visibly fake pin; `docs/action.md` says to replace it.
pub const PLACEHOLDER_ACTION: &str = "autosd/autosd@0000000000000000000000000000000000000000";
const DEFAULT_RUNNER: &str = "ubuntu-24.04";
const DEFAULT_BRANCH: &str = "main";
const DEFAULT_HEAL_SCHEDULE: &str = "*/5 * * * *";
const MAX_SETTINGS_BYTES: u64 = 256 * 1024;

/// One environment as the generator sees it, in promotion order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvInput {
    pub name: String,
    pub production: bool,
    /// The target kind (`docker`, `generic_container`, …) from `target.kind`.
    pub target: String,
    /// The image repository deployed on push (`target.image`), without a tag.
    pub image: Option<String>,
    /// Shown on the Environments page (`environment:` `url:`).
    pub url: Option<String>,
}

/// Everything a rendering depends on; equal inputs render identical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryInput {
    pub project: String,
    pub environments: Vec<EnvInput>,
    /// `owner/repo@<40-hex sha>` of the autosd action.
    pub action: String,
    /// The branch whose pushes deploy the first environment (`$default-branch` in templates).
    pub branch: String,
    pub runs_on: String,
    pub heal_schedule: String,
    /// The secret holding the grant.
    pub grant_secret: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    version: Option<u32>,
    action: Option<String>,
    branch: Option<String>,
    runs_on: Option<String>,
    heal_schedule: Option<String>,
    grant_secret: Option<String>,
    #[serde(default)]
    environment_urls: BTreeMap<String, String>,
}

/// Loads the input for the project file at `project_file` (and its `workflows.yml`, if any).
pub fn load(project_file: &Path) -> Result<FactoryInput> {
    let project = config::load(project_file)?;
    let settings_path = project_file.with_file_name(SETTINGS_FILE);
    let settings = if settings_path.is_file() {
        let bytes = crate::store::fs::read_limited(&settings_path, MAX_SETTINGS_BYTES)?;
        let text =
            String::from_utf8(bytes).map_err(|_| invalid(&settings_path, 1, "the file is not UTF-8"))?;
        serde_saphyr::from_str::<RawSettings>(&text).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(1).max(1);
            invalid(&settings_path, line, &e.without_snippet().to_string())
        })?
    } else {
        RawSettings::default()
    };
    resolve(&project, settings, &settings_path)
}

/// The project file to use: `--project-file`, or the one found from `cwd` upwards.
pub fn project_file(flag: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    match flag {
        Some(p) if p.is_absolute() => Ok(p.to_path_buf()),
        Some(p) => Ok(cwd.join(p)),
        None => config::find(cwd),
    }
}

fn invalid(path: &Path, line: u64, why: &str) -> Error {
    Error::new(
        ErrorCode::GeneratorInputInvalid,
        format!("{}:{line}: {why}", path.display()),
    )
    .hint("see docs/action.md (generated workflows) for the fields of .autosd/workflows.yml")
}

fn resolve(project: &ProjectConfig, raw: RawSettings, path: &Path) -> Result<FactoryInput> {
    let mut problems = Vec::new();
    if let Some(v) = raw.version
        && v != 1
    {
        problems.push(format!(
            "version {v} is not supported (this autosd reads version 1)"
        ));
    }
    let action = raw.action.unwrap_or_else(|| PLACEHOLDER_ACTION.to_string());
    if !is_pinned_action(&action) {
        problems.push(format!(
            "action `{action}` must be `owner/repo@<full 40-character commit SHA>` (pinned, not a tag)"
        ));
    }
    let branch = raw.branch.unwrap_or_else(|| DEFAULT_BRANCH.to_string());
    if !is_plain(&branch, "/-_.$") {
        problems.push(format!("branch `{branch}` is not a plain branch name"));
    }
    let runs_on = raw.runs_on.unwrap_or_else(|| DEFAULT_RUNNER.to_string());
    if !is_plain(&runs_on, "-_.") {
        problems.push(format!("runs_on `{runs_on}` is not a runner label"));
    }
    let heal_schedule = raw
        .heal_schedule
        .unwrap_or_else(|| DEFAULT_HEAL_SCHEDULE.to_string());
    if heal_schedule.split_whitespace().count() != 5 || !is_plain(&heal_schedule, "*/,- ") {
        problems.push(format!(
            "heal_schedule `{heal_schedule}` is not a five-field cron expression"
        ));
    }
    let grant_secret = raw.grant_secret.unwrap_or_else(|| "AUTOSD_GRANT".to_string());
    if !is_plain(&grant_secret, "_") || grant_secret.starts_with(|c: char| c.is_ascii_digit()) {
        problems.push(format!("grant_secret `{grant_secret}` is not a secret name"));
    }
    for (env, url) in &raw.environment_urls {
        if !project.environments.iter().any(|e| &e.name == env) {
            problems.push(format!(
                "environment_urls names `{env}`, which is not an environment of the project"
            ));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace) {
            problems.push(format!("environment_urls.{env} `{url}` is not an http(s) URL"));
        }
    }
    if project.environments.is_empty() {
        problems.push("the project declares no environment".to_string());
    }
    let mut environments = Vec::new();
    for env in &project.environments {
        let setting = |key: &str| {
            env.target
                .settings
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let target = setting("kind").unwrap_or_else(|| "docker".to_string());
        if !is_plain(&target, "_-") {
            problems.push(format!(
                "environment `{}`: target kind `{target}` is not a name",
                env.name
            ));
        }
        let image = setting("image");
        if let Some(img) = &image
            && !is_plain(img, "/-_.:@")
        {
            problems.push(format!(
                "environment `{}`: image `{img}` is not an image reference",
                env.name
            ));
        }
        environments.push(EnvInput {
            name: env.name.clone(),
            production: env.production,
            target,
            image,
            url: raw.environment_urls.get(&env.name).cloned(),
        });
    }
    if !problems.is_empty() {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect();
        return Err(Error::new(ErrorCode::GeneratorInputInvalid, lines.join("\n"))
            .hint("see docs/action.md (generated workflows) for the fields of .autosd/workflows.yml"));
    }
    Ok(FactoryInput {
        project: project.project.clone(),
        environments,
        action,
        branch,
        runs_on,
        heal_schedule,
        grant_secret,
    })
}

/// Letters, digits and the `extra` characters only: such a value needs no YAML quoting
/// beyond what the renderer adds and cannot smuggle an expression or a new key.
fn is_plain(s: &str, extra: &str) -> bool {
    !s.is_empty() && s.len() <= 200 && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

fn is_pinned_action(s: &str) -> bool {
    let Some((path, sha)) = s.split_once('@') else {
        return false;
    };
    let parts: Vec<&str> = path.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|p| is_plain(p, "-_."))
        && sha.len() == 40
        && sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> ProjectConfig {
        config::parse(text, Path::new("c.yml"), Path::new(".")).expect("valid project file")
    }

    #[test]
    fn defaults_and_target_settings() {
        let p = project(
            "version: 1\nproject: shop\nenvironments:\n  staging:\n    target:\n      kind: docker\n      image: ghcr.io/x/shop\n  prod:\n",
        );
        let input = resolve(&p, RawSettings::default(), Path::new("w.yml")).expect("valid");
        assert_eq!(input.action, PLACEHOLDER_ACTION);
        assert_eq!(input.environments[0].image.as_deref(), Some("ghcr.io/x/shop"));
        assert_eq!(input.environments[1].target, "docker");
        assert!(input.environments[1].production);
    }

    #[test]
    fn every_problem_is_reported() {
        let p = project("version: 1\nproject: shop\n");
        let raw = RawSettings {
            action: Some("autosd/autosd@v1".into()),
            heal_schedule: Some("* * *".into()),
            runs_on: Some("${{ evil }}".into()),
            environment_urls: BTreeMap::from([("nope".into(), "ftp://x".into())]),
            ..RawSettings::default()
        };
        let e = resolve(&p, raw, Path::new("w.yml")).expect_err("invalid");
        assert_eq!(e.code, ErrorCode::GeneratorInputInvalid);
        for needle in ["action", "heal_schedule", "runs_on", "`nope`", "ftp://x"] {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
    }
}
