//! The only subprocess spawner. Every external program (today: `git` for the state store)
//! runs through [`run`]: no shell, stdin closed, stdout/stderr captured, a hard timeout after
//! which the child is killed. Nothing here prints; callers get the captured output back and
//! decide what a user may see. Arguments marked secret never reach a log or an error message.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // the sanctioned spawner

use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Output kept per stream; a chatty child cannot grow autosd's memory without bound.
const MAX_CAPTURE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
enum Arg {
    Plain(OsString),
    Secret(Secret<String>),
}

/// A program invocation, built first and run by [`run`]. `Debug` never shows secret args.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<Arg>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    env_removed: Vec<String>,
    /// Written to the child's stdin, which is then closed; None leaves stdin closed from
    /// the start.
    input: Option<Vec<u8>>,
    timeout: Duration,
    timeout_is_error: bool,
}

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            env_removed: Vec::new(),
            input: None,
            timeout: Duration::from_secs(60),
            timeout_is_error: true,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(Arg::Plain(arg.into()));
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(|a| Arg::Plain(a.into())));
        self
    }

    /// An argument that must not appear in logs or errors (a URL with credentials, a token).
    pub fn secret_arg(mut self, arg: Secret<String>) -> Self {
        self.args.push(Arg::Secret(arg));
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Keeps `key` of autosd's own environment from the child (e.g. a secret).
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_removed.push(key.to_string());
        self
    }

    /// What the child reads on stdin (a protocol request, e.g. a credential helper's).
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A child killed at its timeout is a result (`code: None`, `timed_out`), not an error:
    /// for user-configured commands whose failure is an observation.
    pub fn timeout_as_failure(mut self) -> Self {
        self.timeout_is_error = false;
        self
    }

    /// `program arg arg …` with secret arguments replaced by `[redacted]`: safe to log.
    pub fn display(&self) -> String {
        let mut out = self.program.clone();
        for a in &self.args {
            out.push(' ');
            match a {
                Arg::Plain(s) => out.push_str(&s.to_string_lossy()),
                Arg::Secret(_) => out.push_str("[redacted]"),
            }
        }
        out
    }
}

/// What a finished child left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code; `None` when a signal ended the child.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The child was killed at its timeout (only with [`Cmd::timeout_as_failure`]).
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs `cmd` to completion or until its timeout, then kills it. A program that cannot be
/// started or that times out is an error; a non-zero exit is *not* (the caller reads `code`).
pub fn run(cmd: &Cmd) -> Result<Output> {
    let mut command = Command::new(&cmd.program);
    for a in &cmd.args {
        match a {
            Arg::Plain(s) => command.arg(s),
            Arg::Secret(s) => command.arg(s.expose()),
        };
    }
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    for k in &cmd.env_removed {
        command.env_remove(k);
    }
    for (k, v) in &cmd.env {
        command.env(k, v);
    }
    command
        .stdin(if cmd.input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tracing::debug!(command = %cmd.display(), "spawn");
    let mut child = command.spawn().map_err(|e| {
        Error::new(ErrorCode::Io, format!("cannot run {}: {e}", cmd.program))
            .hint(format!("install `{}` and make sure it is on PATH", cmd.program))
    })?;
    feed(child.stdin.take(), cmd.input.clone());
    let out = capture(child.stdout.take());
    let err = capture(child.stderr.take());
    let (code, timed_out) = match wait_with_deadline(&mut child, cmd)? {
        Waited::Exited(code) => (code, false),
        Waited::TimedOut if !cmd.timeout_is_error => (None, true),
        Waited::TimedOut => {
            return Err(Error::new(
                ErrorCode::Io,
                format!("`{}` did not finish within {:?}", cmd.display(), cmd.timeout),
            )
            .hint("check the network and the remote, then try again"));
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    tracing::debug!(command = %cmd.display(), ?code, timed_out, "exited");
    Ok(Output {
        code,
        stdout,
        stderr,
        timed_out,
    })
}

/// Writes `input` to the child's stdin from a thread of its own (a child that never reads
/// cannot block autosd), then closes it. A child that exits without reading is not an error.
fn feed(stdin: Option<std::process::ChildStdin>, input: Option<Vec<u8>>) {
    if let (Some(mut stdin), Some(input)) = (stdin, input) {
        thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &input);
        });
    }
}

fn capture<R: Read + Send + 'static>(stream: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stream {
            let mut limited = s.take(MAX_CAPTURE as u64);
            let _ = limited.read_to_end(&mut buf);
            // Keep draining so a child blocked on a full pipe can still exit.
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        buf
    })
}

enum Waited {
    Exited(Option<i32>),
    TimedOut,
}

fn wait_with_deadline(child: &mut Child, cmd: &Cmd) -> Result<Waited> {
    let deadline = Instant::now() + cmd.timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Waited::Exited(status.code())),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Waited::TimedOut);
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(Error::new(
                    ErrorCode::Io,
                    format!("cannot wait for `{}`: {e}", cmd.display()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let out = run(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).expect("runs");
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout_str(), "out\n");
        assert_eq!(out.stderr_str(), "err\n");
    }

    #[test]
    fn feeds_the_input_on_stdin_and_closes_it() {
        let out = run(&Cmd::new("sh").args(["-c", "cat; echo ."]).input("req")).expect("runs");
        assert_eq!(out.stdout_str(), "req.\n");
        // Without input, stdin is closed at once: `cat` ends instead of waiting.
        let out = run(&Cmd::new("cat").timeout(Duration::from_secs(5))).expect("runs");
        assert!(out.success() && out.stdout.is_empty());
    }

    #[test]
    fn kills_on_timeout() {
        let started = Instant::now();
        let err =
            run(&Cmd::new("sleep").arg("5").timeout(Duration::from_millis(200))).expect_err("times out");
        assert!(err.message.contains("did not finish"), "{}", err.message);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let err = run(&Cmd::new("autosd-no-such-program-xyz")).expect_err("not found");
        assert!(err.message.contains("cannot run autosd-no-such-program-xyz"));
    }

    #[test]
    fn secret_args_are_redacted_in_display_and_debug() {
        let cmd = Cmd::new("git")
            .arg("push")
            .secret_arg(Secret::new("https://x:tok123@h/r".into()));
        assert_eq!(cmd.display(), "git push [redacted]");
        assert!(!format!("{cmd:?}").contains("tok123"));
    }
}
