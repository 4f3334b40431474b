//! The linter's configuration file, `.github/autosd-lint.yml` (or `--config FILE`): rule
//! switches and severities, self-hosted runner labels, known configuration variables and the
//! action pinning policy. The file is read with the linter's own spanned parser, every
//! problem is collected with its line, and only a fully valid file becomes a [`Config`].
//!
//! ```yaml
//! rules:
//!   unpinned-uses: off          # off | note | warning | error
//!   runner-label: warning
//! self-hosted-runner:
//!   labels: [linux-gpu, "my-*"]  # `*` matches any run of characters
//! config-variables: [DEPLOY_ENV] # names allowed in `vars.*`; absent = not checked
//! pinning: third-party           # off | third-party | all
//! ```
use super::finding::{LineIndex, Severity};
use super::registry;
use super::yaml::{self, Node};
use std::collections::HashMap;

/// The default location, relative to the repository root.
pub const DEFAULT_PATH: &str = ".github/autosd-lint.yml";

/// Which `uses:` references must be pinned to a full commit SHA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PinPolicy {
    /// Pinning is not checked.
    Off,
    /// Actions outside the `actions/` and `github/` organisations must be SHA-pinned.
    #[default]
    ThirdParty,
    /// Every remote action and reusable workflow must be SHA-pinned.
    All,
}

impl PinPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PinPolicy::Off => "off",
            PinPolicy::ThirdParty => "third-party",
            PinPolicy::All => "all",
        }
    }
}

/// A rule's setting in the `rules:` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetting {
    Off,
    Severity(Severity),
}

/// The checked configuration the linter runs with.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub rules: HashMap<String, RuleSetting>,
    /// Extra `runs-on` labels of the organisation's self-hosted runners (`*` wildcards).
    pub self_hosted_labels: Vec<String>,
    /// Known `vars.*` names; `None` means the list is unknown and references are not checked.
    pub config_variables: Option<Vec<String>>,
    pub pinning: PinPolicy,
    /// Paths (relative to the repository root, `*` wildcards) that repository discovery
    /// skips, e.g. deliberately broken test fixtures. Explicit command-line paths are
    /// always linted.
    pub exclude: Vec<String>,
}

impl Config {
    /// Is `relative` (a path under the repository root, `/`-separated) excluded?
    pub fn is_excluded(&self, relative: &str) -> bool {
        self.exclude.iter().any(|pat| wildcard_match(pat, relative))
    }

    pub fn is_enabled(&self, rule: &str) -> bool {
        self.rules.get(rule) != Some(&RuleSetting::Off)
    }

    /// The configured severity of `rule`, when it overrides the default.
    pub fn severity_of(&self, rule: &str) -> Option<Severity> {
        match self.rules.get(rule) {
            Some(RuleSetting::Severity(s)) => Some(*s),
            _ => None,
        }
    }

    /// Does `label` match a configured self-hosted label (case-insensitive, `*` wildcard)?
    pub fn is_self_hosted_label(&self, label: &str) -> bool {
        self.self_hosted_labels
            .iter()
            .any(|pat| wildcard_match(&pat.to_ascii_lowercase(), &label.to_ascii_lowercase()))
    }

    /// Parses a config file. `Err` holds every problem as `line N: message`.
    pub fn parse(text: &str) -> Result<Config, Vec<String>> {
        let lines = LineIndex::new(text);
        let file = yaml::parse(text, &lines, yaml::Limits::default());
        let mut problems: Vec<String> = file
            .problems
            .iter()
            .map(|p| format!("line {}: {}", p.span.start.line, p.message))
            .collect();
        let mut config = Config::default();
        let Some(root) = file.root() else {
            if problems.is_empty() {
                return Ok(config);
            }
            return Err(problems);
        };
        if root.is_null() {
            return if problems.is_empty() {
                Ok(config)
            } else {
                Err(problems)
            };
        }
        let mut bad =
            |node: &Node, msg: String| problems.push(format!("line {}: {msg}", node.span.start.line));
        if root.as_map().is_none() {
            bad(root, "the config file must be a mapping".into());
        }
        for (key, entry) in root.entries() {
            let value = &entry.value;
            match key {
                "rules" => {
                    for (id, rule) in value.entries() {
                        if registry::find(id).is_none() {
                            bad(&rule.key, format!("unknown rule `{id}`"));
                            continue;
                        }
                        let setting = match rule.value.as_str() {
                            Some("off") | Some("false") | Some("disable") => Some(RuleSetting::Off),
                            Some(s) => Severity::parse(s).map(RuleSetting::Severity),
                            None => None,
                        };
                        match setting {
                            Some(s) => {
                                config.rules.insert(id.to_string(), s);
                            }
                            None => bad(
                                &rule.value,
                                format!("rule `{id}`: expected off, note, warning or error"),
                            ),
                        }
                    }
                    if value.as_map().is_none() && !value.is_null() {
                        bad(
                            value,
                            "`rules` must map rule ids to off, note, warning or error".into(),
                        );
                    }
                }
                "self-hosted-runner" => match value.get("labels") {
                    Some(labels) => match string_list(labels) {
                        Some(l) => config.self_hosted_labels = l,
                        None => bad(
                            labels,
                            "`self-hosted-runner.labels` must be a list of strings".into(),
                        ),
                    },
                    None if value.is_null() => {}
                    None => bad(value, "`self-hosted-runner` takes one key, `labels`".into()),
                },
                "config-variables" => {
                    if value.is_null() {
                        config.config_variables = None;
                    } else {
                        match string_list(value) {
                            Some(l) => config.config_variables = Some(l),
                            None => bad(value, "`config-variables` must be a list of names".into()),
                        }
                    }
                }
                "pinning" => {
                    config.pinning = match value.as_str() {
                        Some("off") => PinPolicy::Off,
                        Some("third-party") => PinPolicy::ThirdParty,
                        Some("all") => PinPolicy::All,
                        _ => {
                            bad(value, "`pinning` must be off, third-party or all".into());
                            PinPolicy::default()
                        }
                    }
                }
                "exclude" => match string_list(value) {
                    Some(l) => config.exclude = l,
                    None => bad(value, "`exclude` must be a list of path patterns".into()),
                },
                other => bad(
                    &entry.key,
                    format!(
                        "unknown key `{other}` (expected rules, self-hosted-runner, config-variables, pinning, exclude)"
                    ),
                ),
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }
}

fn string_list(node: &Node) -> Option<Vec<String>> {
    node.as_seq()?
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// `*` matches any run of characters; everything else matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let cfg = Config::parse(
            "rules:\n  yaml-limits: off\n  yaml-syntax: warning\nself-hosted-runner:\n  labels: [gpu, 'my-*']\nconfig-variables: [A]\npinning: all\n",
        )
        .expect("valid");
        assert!(!cfg.is_enabled("yaml-limits"));
        assert_eq!(cfg.severity_of("yaml-syntax"), Some(Severity::Warning));
        assert!(cfg.is_self_hosted_label("MY-runner") && !cfg.is_self_hosted_label("other"));
        assert_eq!(cfg.config_variables.as_deref(), Some(&["A".to_string()][..]));
        assert_eq!(cfg.pinning, PinPolicy::All);
    }

    #[test]
    fn collects_every_problem_with_lines() {
        let errs =
            Config::parse("rules:\n  no-such-rule: off\n  yaml-syntax: loud\npinning: some\nextra: 1\n")
                .expect_err("invalid");
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].starts_with("line 2:"));
    }

    #[test]
    fn exclude_patterns_match_repository_relative_paths() {
        let cfg = Config::parse("exclude: ['tests/fixtures/*', 'vendor/*/action.yml']\n").expect("valid");
        assert!(cfg.is_excluded("tests/fixtures/lint/err/schema/action.yml"));
        assert!(cfg.is_excluded("vendor/x/action.yml"));
        assert!(!cfg.is_excluded(".github/workflows/ci.yml") && !cfg.is_excluded("action.yml"));
        assert!(Config::parse("exclude: tests\n").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("a*c", "abbc") && wildcard_match("*", "x") && !wildcard_match("a*c", "ab"));
        assert!(wildcard_match("a*b*c", "a-b-c") && !wildcard_match("a*b*c", "a-c"));
    }
}
