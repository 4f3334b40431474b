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

/// `preauth create-grant --output json --project-ids PROJECT FLAGS…`: how the tests of gated
/// commands get their grant.
pub fn create_grant_json<'a>(project: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "preauth",
        "create-grant",
        "--output",
        "json",
        "--project-ids",
        project,
    ];
    args.extend_from_slice(flags);
    args
}

/// What a finished `autosd` run left behind, for the black-box tests.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// A panic inside autosd fails the test here, whatever exit code the caller expects.
    pub fn from_output(out: std::process::Output) -> Out {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "autosd panicked: {stderr}");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        }
    }

    /// Fails the test unless autosd exited with `code`, showing `args` and both outputs.
    #[track_caller]
    pub fn exited(self, code: i32, args: &[&str]) -> Out {
        assert_eq!(
            self.code, code,
            "autosd {args:?}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Runs `cmd` (an `autosd` invocation with `args`) and checks that it exited with
    /// `code` and did not panic.
    #[track_caller]
    pub fn expect(cmd: &mut Command, args: &[&str], code: i32) -> Out {
        Out::from_output(cmd.output().expect("run autosd")).exited(code, args)
    }

    /// Stdout parsed as the one JSON document `--output json` prints.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}
