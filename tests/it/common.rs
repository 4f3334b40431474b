//! The `autosd()` runner: a built binary with a scrubbed environment and a temp home.
use assert_cmd::Command;
use std::path::Path;

/// Variables that would leak the developer's or CI's own context into a test.
const SCRUBBED_PREFIXES: &[&str] = &["GITHUB_", "AUTOSD_", "RUNNER_"];
const SCRUBBED: &[&str] = &["CI", "NO_COLOR", "DOCKER_HOST"];

/// `autosd` with a clean environment, `AUTOSD_HOME` at `home`, run from `home`
/// so the default `autosd.log` lands in the temp dir.
pub fn autosd(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("autosd").expect("autosd binary is built");
    for (key, _) in std::env::vars() {
        if SCRUBBED.contains(&key.as_str()) || SCRUBBED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
    cmd.env("AUTOSD_HOME", home).current_dir(home);
    cmd
}

/// What a finished `autosd` run left behind, for the black-box tests.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Runs `cmd` (an `autosd` invocation with `args`) and checks that it exited with
    /// `code` and did not panic.
    #[track_caller]
    pub fn expect(cmd: &mut Command, args: &[&str], code: i32) -> Out {
        let out = cmd.output().expect("run autosd");
        let out = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert_eq!(
            out.code, code,
            "autosd {args:?}\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out
    }

    /// Stdout parsed as the one JSON document `--output json` prints.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}
