//! `--preauth-grant VALUE` resolution: a local grant id or a token, with the secret env
//! var `AUTOSD_PREAUTH_GRANT` as the fallback (how a GitHub secret reaches a step).
use super::home::read_grant_copy;
use super::verify::is_gid;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;

/// The env var a workflow sets from its secret.
pub const GRANT_ENV_VAR: &str = "AUTOSD_PREAUTH_GRANT";
/// Every compact grant token starts with this.
pub const TOKEN_PREFIX: &str = "autosd.grant.";

/// Resolves `--preauth-grant` (or, when absent, `AUTOSD_PREAUTH_GRANT`) to a token.
/// `Ok(None)`: no grant was supplied. A grant id is looked up under `$AUTOSD_HOME/grants/`;
/// a token is returned as is (the verifier judges it). Anything else is refused without
/// repeating the value, which may be a mangled secret.
pub fn resolve_grant_value(ctx: &Context, flag: Option<&str>) -> Result<Option<Secret<String>>> {
    let (value, source) = match flag {
        Some(v) => (v.trim().to_string(), "the grant value"),
        None => match ctx.env.secret(GRANT_ENV_VAR) {
            Some(s) => (s.expose().trim().to_string(), GRANT_ENV_VAR),
            None => return Ok(None),
        },
    };
    if value.is_empty() {
        return Ok(None);
    }
    if value.starts_with(TOKEN_PREFIX) {
        return Ok(Some(Secret::new(value)));
    }
    if is_gid(&value) {
        let copy = read_grant_copy(&ctx.home, &value)?;
        return Ok(Some(copy.token));
    }
    Err(Error::new(
        ErrorCode::PreauthInvalid,
        format!("grant rejected: malformed: {source} is neither a grant id (g-…) nor a grant token (autosd.grant.…)"),
    )
    .hint("pass the grant id or the token exactly as `autosd preauth create-grant` printed it"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Env;

    fn ctx(pairs: &[(&'static str, &str)]) -> Context {
        Context {
            home: std::path::PathBuf::from("/nonexistent-autosd-home"),
            env: Env::from_pairs(pairs),
            cwd: std::path::PathBuf::from("/"),
            stdin_is_tty: false,
            stderr_is_tty: false,
        }
    }

    #[test]
    fn flag_wins_then_env_then_nothing() {
        let c = ctx(&[(GRANT_ENV_VAR, "autosd.grant.from-env")]);
        let got = resolve_grant_value(&c, Some("autosd.grant.from-flag")).expect("ok");
        assert_eq!(
            got.map(|s| s.expose().clone()).as_deref(),
            Some("autosd.grant.from-flag")
        );
        let got = resolve_grant_value(&c, None).expect("ok");
        assert_eq!(
            got.map(|s| s.expose().clone()).as_deref(),
            Some("autosd.grant.from-env")
        );
        assert!(resolve_grant_value(&ctx(&[]), None).expect("ok").is_none());
    }

    #[test]
    fn unknown_id_and_garbage_are_refused_without_echo() {
        let c = ctx(&[]);
        let err = resolve_grant_value(&c, Some("g-0123456789abcdef0123")).expect_err("missing");
        assert_eq!(err.code, ErrorCode::GrantNotFound);
        let err = resolve_grant_value(&c, Some("hunter2-secret")).expect_err("garbage");
        assert_eq!(err.code, ErrorCode::PreauthInvalid);
        assert!(!err.message.contains("hunter2"));
    }
}
