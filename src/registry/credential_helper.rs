//! Docker's credential-helper protocol, spoken as the Docker CLI speaks it:
//! `docker-credential-<name> get` reads a registry's server address on stdin and answers
//! `{"ServerURL": …, "Username": …, "Secret": …}` on stdout, or fails with "credentials not
//! found" when it has none. A `Username` of `<token>` marks the secret as an identity token.
//! The answer becomes a `Secret` at once; neither it nor the helper's output is ever shown.
use super::{Credentials, Login};
use crate::error::{Error, ErrorCode, Result};
use crate::process::{Cmd, run};
use crate::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A helper that waits on something (a locked keychain, a prompt) fails instead of hanging.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The marker username of an identity token (OAuth refresh token) instead of a password.
const TOKEN_USERNAME: &str = "<token>";

/// A configured helper: its name and where the config names it, for messages.
pub struct Helper<'a> {
    pub name: &'a str,
    /// E.g. "`credsStore` in /home/u/.docker/config.json".
    pub named_by: String,
}

/// The helper's answer; no `Debug`, so the secret cannot be printed by accident.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl Helper<'_> {
    fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    /// The credentials the helper holds for `server` (`https://index.docker.io/v1/` or a
    /// registry host), None when it has none. `search_path` is the PATH it is looked up in.
    pub fn get(&self, server: &str, search_path: Option<&str>) -> Result<Option<Secret<Credentials>>> {
        let program = self.program();
        let Some(path) = find_executable(&program, search_path) else {
            return Err(self
                .error(format!("`{program}` is not on PATH"))
                .hint(format!(
                    "install {program}, or remove it from the Docker config and give the registry an `auths` entry (`docker login`)"
                )));
        };
        let out = run(&Cmd::new(&path.display().to_string())
            .arg("get")
            .input(server)
            .timeout(HELPER_TIMEOUT)
            .timeout_as_failure())?;
        if out.timed_out {
            return Err(self.error(format!(
                "`{program} get` did not answer within {}",
                humantime::format_duration(HELPER_TIMEOUT)
            )));
        }
        if !out.success() {
            let said = format!("{} {}", out.stdout_str(), out.stderr_str());
            if said.to_lowercase().contains("credentials not found") {
                return Ok(None);
            }
            return Err(self.error(format!(
                "`{program} get` failed for {server}: {}",
                first_line(&said)
            )));
        }
        // serde's message may quote the secret: only the position is reported.
        let answer: Answer = serde_json::from_slice(&out.stdout).map_err(|e| {
            self.error(format!(
                "`{program} get` answered something other than credentials ({:?} error at column {})",
                e.classify(),
                e.column()
            ))
        })?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        let login = if answer.username == TOKEN_USERNAME {
            Login::IdentityToken(answer.secret)
        } else {
            Login::Password {
                username: answer.username,
                password: answer.secret,
            }
        };
        Ok(Some(Secret::new(Credentials {
            server: server.to_string(),
            login,
        })))
    }

    fn error(&self, what: String) -> Error {
        Error::new(
            ErrorCode::RegistryAuthInvalid,
            format!(
                "the credential helper `{}` ({}) cannot give credentials: {what}",
                self.name, self.named_by
            ),
        )
    }
}

/// `program` in the directories of `search_path`, as a shell would find it.
fn find_executable(program: &str, search_path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(search_path?)
        .map(|dir| dir.join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The first non-empty line of a helper's complaint, cut short.
fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    line.chars().take(200).collect()
}

/// A helper named `name` in a directory of its own, running `script` (sh).
#[cfg(test)]
pub(super) fn helper_dir(name: &str, script: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper(name: &str) -> Helper<'_> {
        Helper {
            name,
            named_by: "`credsStore` in cfg.json".into(),
        }
    }

    fn fields(c: &Secret<Credentials>) -> [Option<String>; 4] {
        let c = c.expose();
        let server = Some(c.server.clone());
        match &c.login {
            Login::Password { username, password } => {
                [Some(username.clone()), Some(password.clone()), None, server]
            }
            Login::IdentityToken(token) => [None, None, Some(token.clone()), server],
        }
    }

    #[test]
    fn the_helper_is_asked_for_the_server_on_stdin_and_its_answer_kept_secret() {
        // Answers only for the exact server address it was asked about.
        let dir = helper_dir(
            "t",
            r#"[ "$1" = get ] || exit 2
server=$(cat)
if [ "$server" = "reg.io:5000" ]; then
  printf '{"ServerURL":"%s","Username":"u","Secret":"s3cret"}' "$server"
elif [ "$server" = "tok.io" ]; then
  printf '{"ServerURL":"%s","Username":"<token>","Secret":"t0ken"}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi"#,
        );
        let path = dir.path().display().to_string();
        let found = helper("t")
            .get("reg.io:5000", Some(&path))
            .expect("runs")
            .expect("found");
        assert_eq!(
            fields(&found),
            [
                Some("u".into()),
                Some("s3cret".into()),
                None,
                Some("reg.io:5000".into())
            ]
        );
        assert!(!format!("{found:?}").contains("s3cret"));
        let token = helper("t")
            .get("tok.io", Some(&path))
            .expect("runs")
            .expect("found");
        assert_eq!(
            fields(&token),
            [None, None, Some("t0ken".into()), Some("tok.io".into())]
        );
        assert!(helper("t").get("other.io", Some(&path)).expect("runs").is_none());
    }

    #[test]
    fn a_missing_failing_or_garbled_helper_is_named_without_its_output() {
        let e = helper("absent")
            .get("reg.io", Some("/nonexistent"))
            .expect_err("not on PATH");
        assert_eq!(e.code, ErrorCode::RegistryAuthInvalid);
        assert!(
            e.message.contains("docker-credential-absent") && e.message.contains("credsStore"),
            "{}",
            e.message
        );
        let dir = helper_dir("locked", "echo 'keychain is locked' >&2; exit 3");
        let path = dir.path().display().to_string();
        let e = helper("locked").get("reg.io", Some(&path)).expect_err("fails");
        assert!(e.message.contains("keychain is locked"), "{}", e.message);
        let dir = helper_dir(
            "garbled",
            r#"printf '{"Username":"u","Secret":'"'"'s3cret'"'"'}'"#,
        );
        let path = dir.path().display().to_string();
        let e = helper("garbled").get("reg.io", Some(&path)).expect_err("garbled");
        assert!(
            e.message.contains("other than credentials") && !e.message.contains("s3cret"),
            "{}",
            e.message
        );
    }
}
