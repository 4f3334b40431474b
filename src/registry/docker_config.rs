//! Registry credentials, read from the Docker CLI config the user already has (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the
//! credential helper it names for an image's registry (`credHelpers`, else `credsStore`), as
//! the Docker CLI asks it, else the `auths.<registry>.auth` entry (base64 of
//! `user:password`). Every credential stays in a `Secret` until the request that sends it.
use super::credential_helper::Helper;
use super::{Credentials, Login};
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Docker Hub's canonical name; `index.docker.io` and `registry-1.docker.io` are the same.
const DOCKER_HUB: &str = "docker.io";
/// The key `docker login` writes for Docker Hub, and the server address the engine expects.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The file's shape; no `Debug`, so an `auth` value cannot be printed by accident.
#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawAuth {
    auth: Option<String>,
}

/// The registry credentials of the Docker CLI config (none when there is no file).
#[derive(Debug, Default, Clone)]
pub struct RegistryAuth {
    /// The file they came from, for messages.
    path: Option<PathBuf>,
    /// `auth` values by normalized registry host.
    auths: BTreeMap<String, Secret<String>>,
    /// Credential helpers by normalized registry host.
    helpers: BTreeMap<String, String>,
    /// The helper for every registry without its own.
    store: Option<String>,
    /// The PATH helpers are found in (autosd's own, from the `Context`).
    search_path: Option<String>,
}

/// How a registry host is written in the config's keys (`https://reg:5000/v1/`, `reg:5000`)
/// or an image reference, reduced to one name: no scheme, no path, lower case, Docker Hub's
/// aliases as `docker.io`.
fn normalize(key: &str) -> String {
    let host = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

/// The registry of an image reference, by Docker's rule: the first path component when it
/// has a `.` or `:` or is `localhost`, else Docker Hub.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => normalize(first),
        _ => DOCKER_HUB.to_string(),
    }
}

impl RegistryAuth {
    /// Reads the Docker CLI config found through `env` (DOCKER_CONFIG, HOME). A missing file
    /// means no credentials; an unreadable or malformed one is an error that quotes none of it.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<RegistryAuth> {
        let path = match (env("DOCKER_CONFIG"), env("HOME")) {
            (Some(dir), _) => PathBuf::from(dir).join("config.json"),
            (None, Some(home)) => PathBuf::from(home).join(".docker/config.json"),
            (None, None) => return Ok(RegistryAuth::default()),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::default()),
            Err(e) => {
                return Err(Error::new(
                    ErrorCode::RegistryAuthInvalid,
                    format!("cannot read the Docker config {}: {e}", path.display()),
                ));
            }
        };
        // serde's message may quote the offending value, which can be a credential: only
        // its position is reported.
        let raw: RawConfig = serde_json::from_str(&text).map_err(|e| {
            Error::new(
                ErrorCode::RegistryAuthInvalid,
                format!(
                    "the Docker config {} is not valid ({:?} error at line {}, column {})",
                    path.display(),
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
            .hint("fix or remove the file; `docker login` rewrites it")
        })?;
        Ok(RegistryAuth {
            auths: raw
                .auths
                .into_iter()
                .filter_map(|(key, a)| Some((normalize(&key), Secret::new(a.auth?))))
                .filter(|(_, auth)| !auth.expose().is_empty())
                .collect(),
            helpers: raw
                .cred_helpers
                .into_iter()
                .map(|(key, helper)| (normalize(&key), helper))
                .collect(),
            store: raw.creds_store.filter(|s| !s.is_empty()),
            path: Some(path),
            search_path: env("PATH"),
        })
    }

    fn path(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "the Docker config".into(), |p| p.display().to_string())
    }

    /// The credential helper the config names for `registry`: its own in `credHelpers`,
    /// else the `credsStore` for all, as the Docker CLI picks it.
    fn helper(&self, registry: &str) -> Option<Helper<'_>> {
        let (name, key) = match self.helpers.get(registry) {
            Some(name) => (name, "credHelpers"),
            None => (self.store.as_ref()?, "credsStore"),
        };
        Some(Helper {
            name,
            named_by: format!("`{key}` in {}", self.path()),
        })
    }

    /// The credentials for `image`'s registry: its credential helper's, else its `auths`
    /// entry's; None for an anonymous pull. A helper that cannot answer, or a malformed
    /// entry, is an error naming the registry, never a secret.
    pub fn credentials(&self, image: &str) -> Result<Option<Secret<Credentials>>> {
        let registry = registry_of(image);
        let server = if registry == DOCKER_HUB {
            DOCKER_HUB_SERVER.to_string()
        } else {
            registry.clone()
        };
        if let Some(helper) = self.helper(&registry)
            && let Some(found) = helper.get(&server, self.search_path.as_deref())?
        {
            return Ok(Some(found));
        }
        let Some(auth) = self.auths.get(&registry) else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.expose().trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(Error::new(
                ErrorCode::RegistryAuthInvalid,
                format!(
                    "the `auths` entry for {registry} in {} is not base64 of user:password",
                    self.path()
                ),
            )
            .hint(format!("run `docker login {registry}` again to rewrite it")));
        };
        Ok(Some(Secret::new(Credentials {
            server,
            login: Login::Password {
                username: user.to_string(),
                password: password.to_string(),
            },
        })))
    }

    /// What to tell a user whose registry refused a request for `image`.
    pub fn refusal_hint(&self, image: &str) -> String {
        let registry = registry_of(image);
        if let Some(helper) = self.helper(&registry) {
            return format!(
                "{registry} takes its credentials from `docker-credential-{}` ({}), which has none for it or whose credentials the registry refused: run `docker login {registry}` as the user running autosd",
                helper.name, helper.named_by
            );
        }
        if self.auths.contains_key(&registry) {
            return format!(
                "the registry {registry} refused the credentials of `auths` in {}: run `docker login {registry}` again",
                self.path()
            );
        }
        format!(
            "no credentials for {registry} in {}: run `docker login {registry}` as the user running autosd",
            self.path()
        )
    }
}

/// A registry's answer that means "who are you" or "not you".
pub fn is_refusal(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "unauthorized",
        "denied",
        "authentication required",
        "no basic auth credentials",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::credential_helper::helper_dir;

    const USER_PW: &str = "dXNlcjpodW50ZXIy"; // user:hunter2

    fn env_of(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        move |name: &str| vars.get(name).cloned()
    }

    fn config(text: &str) -> (tempfile::TempDir, Result<RegistryAuth>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.json"), text).expect("write");
        let env = env_of(&[("DOCKER_CONFIG", dir.path().display().to_string())]);
        let auth = RegistryAuth::load(&env);
        (dir, auth)
    }

    fn user_and_password(c: &Secret<Credentials>) -> (String, String, String) {
        let c = c.expose();
        match &c.login {
            Login::Password { username, password } => (username.clone(), password.clone(), c.server.clone()),
            Login::IdentityToken(_) => panic!("a password was expected"),
        }
    }

    #[test]
    fn images_name_their_registry_as_docker_does() {
        assert_eq!(registry_of("shop"), "docker.io");
        assert_eq!(registry_of("library/shop:1"), "docker.io");
        assert_eq!(registry_of("docker.io/library/shop"), "docker.io");
        assert_eq!(registry_of("index.docker.io/a/b"), "docker.io");
        assert_eq!(registry_of("localhost/shop"), "localhost");
        assert_eq!(registry_of("127.0.0.1:5000/a/shop@sha256:ab"), "127.0.0.1:5000");
        assert_eq!(registry_of("Reg.Example.com/shop:v1"), "reg.example.com");
        assert_eq!(normalize("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize("http://reg:5000/v2/"), "reg:5000");
    }

    #[test]
    fn the_entry_of_the_images_registry_is_used_docker_hub_under_any_alias() {
        let text = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{USER_PW}"}},
                "reg.example.com:5000": {{"auth": "{USER_PW}"}}, "other.io": {{}}}},
               "credHelpers": {{"gcr.io": "gcloud"}}}}"#
        );
        let (_dir, auth) = config(&text);
        let auth = auth.expect("config");
        let hub = auth.credentials("shop:v1").expect("ok").expect("hub credentials");
        assert_eq!(
            user_and_password(&hub),
            ("user".into(), "hunter2".into(), DOCKER_HUB_SERVER.into())
        );
        assert!(
            auth.credentials("registry-1.docker.io/a/b")
                .expect("ok")
                .is_some()
        );
        let private = auth
            .credentials("reg.example.com:5000/shop@sha256:ab")
            .expect("ok")
            .expect("credentials");
        assert_eq!(user_and_password(&private).2, "reg.example.com:5000");
        // Another port is another registry; an entry without `auth` is no credential.
        assert!(auth.credentials("reg.example.com/shop").expect("ok").is_none());
        assert!(auth.credentials("other.io/shop").expect("ok").is_none());
        assert!(
            auth.refusal_hint("gcr.io/p/shop")
                .contains("docker-credential-gcloud")
        );
        assert!(auth.refusal_hint("quay.io/shop").contains("docker login quay.io"));
        assert!(auth.refusal_hint("shop").contains("refused the credentials"));
    }

    #[test]
    fn home_is_the_fallback_and_a_missing_file_means_no_credentials() {
        let home = tempfile::tempdir().expect("tempdir");
        let env = env_of(&[("HOME", home.path().display().to_string())]);
        let auth = RegistryAuth::load(&env).expect("no file is fine");
        assert!(auth.credentials("reg.io/shop").expect("ok").is_none());
        std::fs::create_dir(home.path().join(".docker")).expect("mkdir");
        std::fs::write(
            home.path().join(".docker/config.json"),
            format!(r#"{{"auths": {{"reg.io": {{"auth": "{USER_PW}"}}}}, "credsStore": "desktop"}}"#),
        )
        .expect("write");
        let auth = RegistryAuth::load(&env).expect("config");
        // The store is asked first, as the Docker CLI asks it, and it is not on this PATH.
        let e = auth.credentials("reg.io/shop").expect_err("no helper");
        assert!(
            e.message.contains("docker-credential-desktop") && e.message.contains("credsStore"),
            "{}",
            e.message
        );
        assert!(
            auth.refusal_hint("quay.io/shop")
                .contains("docker-credential-desktop")
        );
        assert!(RegistryAuth::load(&env_of(&[])).expect("no env").auths.is_empty());
    }

    #[test]
    fn a_registrys_helper_is_asked_before_its_auths_entry_which_is_the_fallback() {
        // `own` knows only own.io; the store `all` knows nothing.
        let own = helper_dir(
            "own",
            r#"[ "$(cat)" = own.io ] && printf '{"Username":"h","Secret":"from-helper"}' && exit 0
echo "credentials not found in native keychain"; exit 1"#,
        );
        let all = helper_dir("all", "echo 'credentials not found in native keychain'; exit 1");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"auths": {{"own.io": {{"auth": "{USER_PW}"}}, "reg.io": {{"auth": "{USER_PW}"}}}},
                   "credHelpers": {{"own.io": "own"}}, "credsStore": "all"}}"#
            ),
        )
        .expect("write");
        let search_path = std::env::join_paths([own.path(), all.path()]).expect("paths");
        let env = env_of(&[
            ("DOCKER_CONFIG", dir.path().display().to_string()),
            ("PATH", search_path.to_string_lossy().into_owned()),
        ]);
        let auth = RegistryAuth::load(&env).expect("config");
        let from_helper = auth.credentials("own.io/shop").expect("ok").expect("some");
        assert_eq!(
            user_and_password(&from_helper),
            ("h".into(), "from-helper".into(), "own.io".into())
        );
        // The store has nothing for reg.io: its `auths` entry is used.
        let fallback = auth.credentials("reg.io/shop").expect("ok").expect("some");
        assert_eq!(user_and_password(&fallback).1, "hunter2");
        // Nothing anywhere: an anonymous pull, and the hint names the store.
        assert!(auth.credentials("quay.io/shop").expect("ok").is_none());
        assert!(
            auth.refusal_hint("quay.io/shop")
                .contains("docker-credential-all")
        );
    }

    #[test]
    fn malformed_entries_are_errors_that_never_show_a_secret() {
        // Valid base64, but of `hunter2` alone: no user:password.
        let (_dir, auth) = config(r#"{"auths": {"reg.io": {"auth": "aHVudGVyMg=="}}}"#);
        let auth = auth.expect("the file parses");
        let e = auth.credentials("reg.io/shop").expect_err("no colon");
        assert_eq!(e.code, ErrorCode::RegistryAuthInvalid);
        assert!(
            e.message.contains("reg.io") && !e.message.contains("aHVudGVyMg"),
            "{}",
            e.message
        );
        let (_dir, auth) = config(r#"{"auths": {"reg.io": {"auth": "not base64!"}}}"#);
        let e = auth
            .expect("parses")
            .credentials("reg.io/shop")
            .expect_err("bad base64");
        assert!(!e.message.contains("not base64!"), "{}", e.message);
        // A credential where an object belongs: serde would quote it; autosd does not.
        let (_dir, auth) = config(&format!(r#"{{"auths": {{"reg.io": "{USER_PW}"}}}}"#));
        let e = auth.expect_err("malformed");
        assert_eq!(e.code, ErrorCode::RegistryAuthInvalid);
        assert!(e.message.contains("line 1"), "{}", e.message);
        assert!(!format!("{e:?}").contains(USER_PW), "{e:?}");
        // Debug of the loaded config and of the credentials shows no secret.
        let (_dir, auth) = config(&format!(r#"{{"auths": {{"reg.io": {{"auth": "{USER_PW}"}}}}}}"#));
        let auth = auth.expect("config");
        let creds = auth.credentials("reg.io/x").expect("ok").expect("some");
        let shown = format!("{auth:?} {creds:?}");
        assert!(!shown.contains(USER_PW) && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn refusals_are_recognized() {
        assert!(is_refusal("unauthorized: authentication required"));
        assert!(is_refusal(
            "errors:\ndenied: requested access to the resource is denied"
        ));
        assert!(!is_refusal("manifest unknown"));
    }
}
