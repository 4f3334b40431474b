//! `autosd ci mirror`: runs `ci/run_ci.sh` the way CI does and names the failing stage.
//!
//! The script's contract is that every stage starts with a `stage NAME` call printing
//! `=== stage: NAME ===`. A full mirror runs the script itself; a partial one (the stages the
//! conformance fixtures declare) runs the script's prelude — everything before the first
//! stage — followed by the chosen stages' blocks, verbatim, so nothing is re-implemented.
//! `AUTOSD_CI_MIRROR=1` is set for the child: a verify-factory started inside it (by the test
//! stage) skips its own mirror gate, so the mirror never recurses into itself.
use crate::error::{Error, ErrorCode, Result};
use crate::process::{self, Cmd};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SCRIPT: &str = "ci/run_ci.sh";
/// The variable marking a process tree as running inside a mirror.
pub const MIRROR_ENV: &str = "AUTOSD_CI_MIRROR";
const MARKER: &str = "=== stage: ";
/// CI's own limit is 90 minutes; a mirror never outlives it.
const TIMEOUT: Duration = Duration::from_secs(90 * 60);
const TAIL_LINES: usize = 40;

/// The script split at its top-level `stage NAME` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub prelude: String,
    /// `(name, block)` in script order; a block starts with its `stage NAME` line.
    pub stages: Vec<(String, String)>,
}

pub fn parse_script(text: &str) -> Script {
    let mut prelude = String::new();
    let mut stages: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = stage_call(line) {
            stages.push((name, String::new()));
        }
        match stages.last_mut() {
            Some((_, block)) => block.push_str(line),
            None => prelude.push_str(line),
        }
    }
    Script { prelude, stages }
}

/// `stage NAME` at the start of a line (the definition `stage() {` does not match).
fn stage_call(line: &str) -> Option<String> {
    let rest = line.strip_prefix("stage ")?;
    let name = rest.trim();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    ok.then(|| name.to_string())
}

impl Script {
    pub fn names(&self) -> Vec<&str> {
        self.stages.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The prelude plus the chosen stages in script order; unknown names are an error.
    pub fn select(&self, wanted: &[String]) -> Result<String> {
        for w in wanted {
            if !self.stages.iter().any(|(n, _)| n == w) {
                return Err(Error::new(
                    ErrorCode::Usage,
                    format!(
                        "{SCRIPT} has no stage `{w}` (it has: {})",
                        self.names().join(", ")
                    ),
                ));
            }
        }
        let mut out = self.prelude.clone();
        for (name, block) in &self.stages {
            if wanted.contains(name) {
                out.push_str(block);
            }
        }
        Ok(out)
    }
}

/// What a mirror run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorOutcome {
    pub passed: bool,
    /// The stages that started, in order.
    pub stages_run: Vec<String>,
    /// The stage running when the script failed (`None` if it failed before any stage).
    pub failing_stage: Option<String>,
    pub exit_code: Option<i32>,
    /// The last lines of output, for the report.
    pub tail: String,
}

impl MirrorOutcome {
    pub fn failure_message(&self) -> String {
        let code = self
            .exit_code
            .map_or("a signal".to_string(), |c| format!("exit {c}"));
        match &self.failing_stage {
            Some(s) => format!("ci/run_ci.sh failed in stage `{s}` ({code})"),
            None => format!("ci/run_ci.sh failed before its first stage ({code})"),
        }
    }
}

/// True when this process already runs inside a mirror.
pub fn inside_mirror(env: &crate::context::Env) -> bool {
    env.get(MIRROR_ENV).is_some()
}

/// Runs the whole script (`stages` empty) or only `stages`, from `root`.
pub fn run(root: &Path, stages: &[String]) -> Result<MirrorOutcome> {
    let script_path = root.join(SCRIPT);
    let text = std::fs::read_to_string(&script_path).map_err(|e| Error::io("read", &script_path, &e))?;
    let (path, temp) = if stages.is_empty() {
        (script_path.clone(), None)
    } else {
        let selected = parse_script(&text).select(stages)?;
        // Beside the original, so `cd "$(dirname "$0")/.."` and relative `source` lines
        // resolve exactly as they do for the real script.
        let tmp = script_path.with_file_name(format!(".run_ci.mirror.{}.sh", std::process::id()));
        crate::store::fs::write_atomic(&tmp, selected.as_bytes(), 0o700)?;
        (tmp.clone(), Some(TempFile(tmp)))
    };
    let out = process::run(
        &Cmd::new("bash")
            .arg(path.as_os_str())
            .current_dir(root)
            .env(MIRROR_ENV, "1")
            .env("CI", "true")
            .timeout(TIMEOUT),
    );
    drop(temp);
    let out = out?;
    let mut text = out.stdout_str();
    text.push_str(&out.stderr_str());
    let stages_run: Vec<String> = out
        .stdout_str()
        .lines()
        .filter_map(|l| l.strip_prefix(MARKER).and_then(|r| r.strip_suffix(" ===")))
        .map(str::to_string)
        .collect();
    let passed = out.success();
    Ok(MirrorOutcome {
        passed,
        failing_stage: if passed { None } else { stages_run.last().cloned() },
        stages_run,
        exit_code: out.code,
        tail: tail(&text, TAIL_LINES),
    })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Removes the partial script however the run ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT_TEXT: &str = "#!/usr/bin/env bash\nset -e\nstage() { printf '\\n=== stage: %s ===\\n' \"$1\"; }\n\nstage fmt\necho f\n\nstage test\necho t\nfalse\n";

    #[test]
    fn splits_prelude_and_stages() {
        let s = parse_script(SCRIPT_TEXT);
        assert_eq!(s.names(), vec!["fmt", "test"]);
        assert!(s.prelude.contains("stage() {"));
        let only_fmt = s.select(&["fmt".to_string()]).expect("known stage");
        assert!(only_fmt.contains("echo f") && !only_fmt.contains("echo t"));
        assert!(s.select(&["nope".to_string()]).is_err());
    }

    #[test]
    fn runs_and_names_the_failing_stage() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("ci")).expect("mkdir");
        std::fs::write(dir.path().join(SCRIPT), SCRIPT_TEXT).expect("write");
        let all = run(dir.path(), &[]).expect("runs");
        assert!(!all.passed);
        assert_eq!(all.failing_stage.as_deref(), Some("test"));
        assert_eq!(all.stages_run, vec!["fmt", "test"]);
        assert!(all.failure_message().contains("stage `test`"));
        let fmt = run(dir.path(), &["fmt".to_string()]).expect("runs");
        assert!(fmt.passed, "{}", fmt.tail);
        assert_eq!(fmt.stages_run, vec!["fmt"]);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("ci")).expect("ls").collect();
        assert_eq!(left.len(), 1, "partial script removed");
    }
}
