//! The `autosd()` runner: a built binary with a scrubbed environment and a temp home.
use assert_cmd::Command;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// A Docker CLI config directory (what DOCKER_CONFIG names) with credential helpers of its
/// own in `bin/`, which [`DockerConfig::search_path`] puts first on autosd's PATH.
pub struct DockerConfig {
    pub dir: std::path::PathBuf,
}

impl DockerConfig {
    pub fn new(dir: std::path::PathBuf) -> DockerConfig {
        std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
        DockerConfig { dir }
    }

    /// Writes `config.json`.
    pub fn write(&self, config: serde_json::Value) {
        std::fs::write(self.dir.join("config.json"), config.to_string()).expect("docker config");
    }

    /// PATH for autosd: this config's helpers first, then the test's own PATH.
    pub fn search_path(&self) -> std::ffi::OsString {
        let system = std::env::var_os("PATH").unwrap_or_default();
        let dirs = [self.dir.join("bin")]
            .into_iter()
            .chain(std::env::split_paths(&system));
        std::env::join_paths(dirs).expect("PATH")
    }

    /// A credential helper `docker-credential-<name>` that answers `username`/`secret` when
    /// asked for exactly `server`, and "credentials not found" for anything else.
    pub fn helper(&self, name: &str, server: &str, username: &str, secret: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.join(format!("bin/docker-credential-{name}"));
        let answer = serde_json::json!({"ServerURL": server, "Username": username, "Secret": secret});
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nif [ \"$(cat)\" = '{server}' ]; then\n  printf '%s' '{answer}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        );
        std::fs::write(&path, script).expect("helper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// The loopback registry that demands a password (ci/docker_env.sh starts it next to the
/// open one, with web:v1 only, as AUTOSD_TEST_AUTH_REGISTRY; user `autosd-test`), or None
/// after a visible notice.
pub fn auth_registry() -> Option<String> {
    let registry = std::env::var("AUTOSD_TEST_AUTH_REGISTRY")
        .ok()
        .filter(|r| !r.is_empty());
    if registry.is_none() {
        if std::env::var("AUTOSD_REQUIRE_DOCKER").as_deref() == Ok("1") {
            panic!(
                "AUTOSD_REQUIRE_DOCKER=1 but AUTOSD_TEST_AUTH_REGISTRY is unset (ci/docker_env.sh sets it)"
            );
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED registry test: AUTOSD_TEST_AUTH_REGISTRY is unset"
        );
    }
    registry
}

/// `autosd ARGS` started in the background in `cwd`, outside CI, with `home` as AUTOSD_HOME
/// and `env` added; its stderr is captured for [`terminate`].
pub fn spawn_autosd(home: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("autosd"));
    cmd.args(args)
        .current_dir(cwd)
        .env("AUTOSD_HOME", home)
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("spawn autosd")
}

/// Sends SIGTERM to `child` and waits for it: its exit code and stderr, and how long it took.
pub fn terminate(child: std::process::Child) -> (Option<i32>, String, Duration) {
    signal(child, "-TERM")
}

/// Sends `kill`'s `signal` option (`-INT`, `-TERM`) to `child`, then as [`terminate`].
pub fn signal(mut child: std::process::Child, signal: &str) -> (Option<i32>, String, Duration) {
    use std::io::Read as _;
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = sent + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not stop within 20 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (code, stderr, took)
}

/// Waits until `done()` or fails after `secs` seconds naming `what`.
#[track_caller]
pub fn wait_until(secs: u64, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A release request by the user `it` to `target` (its kind and strategy), as the library
/// tests of the targets make them.
pub fn user_request(
    scope: autosd::deploy::release::Scope,
    target: &dyn autosd::deploy::target::Target,
    release_id: String,
    gate: autosd::deploy::health::GateSpec,
    keep: usize,
) -> autosd::deploy::plan::Request {
    autosd::deploy::plan::Request {
        scope,
        target: target.kind().into(),
        release_id,
        who: autosd::deploy::release::Who::from_actor(&autosd::context::Actor::User { name: "it".into() }),
        grant_id: None,
        now: autosd::context::unix_now(),
        gate,
        keep,
        strategy: target.strategy(),
    }
}
