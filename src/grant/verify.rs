//! THE grant verifier every command uses. `Verifier::verify` is pure (token, time and
//! runtime facts in; verdict out); `Verifier::load` gathers the trust stores and signed
//! revocation lists of the home and of the repository.
use super::envelope::{ArtifactKind, decode, pae};
use super::home;
use super::keys::Kid;
use super::model::{AUDIENCE, CLAIMS_VERSION, Capability, Claims, Rejection, is_env_name, is_name};
use super::revocation::RevocationSet;
use super::strict::parse_json;
use super::trust::{BREAK_GLASS_MAX_SECS, TrustStore};
use crate::context::{Context, Env};
use crate::error::{Error, ErrorCode, Result};
use std::path::Path;

/// Clock skew tolerated between the issuing machine and the verifier, in seconds.
pub const CLOCK_LEEWAY_SECS: i64 = 60;

/// Facts about where the grant is being used, compared with the grant's bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeBindings {
    /// `GITHUB_REPOSITORY` (`owner/repo`).
    pub repository: Option<String>,
    /// `GITHUB_REF` (`refs/heads/main`).
    pub git_ref: Option<String>,
    /// `AUTOSD_ENVIRONMENT`, set by a workflow to its job's `environment:` (GitHub does
    /// not export that name itself).
    pub environment: Option<String>,
}

impl RuntimeBindings {
    pub fn from_env(env: &Env) -> Self {
        RuntimeBindings {
            repository: env.get("GITHUB_REPOSITORY").map(str::to_string),
            git_ref: env.get("GITHUB_REF").map(str::to_string),
            environment: env.get("AUTOSD_ENVIRONMENT").map(str::to_string),
        }
    }
}

/// What the caller is about to do with the grant. Unset fields are not checked.
#[derive(Debug, Clone, Default)]
pub struct Check<'a> {
    pub project: Option<&'a str>,
    pub env: Option<&'a str>,
    pub capability: Option<Capability>,
    pub runtime: RuntimeBindings,
}

/// A grant that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    pub gid: String,
    pub kid: Kid,
    pub claims: Claims,
}

/// Trusted keys and revocations, merged from every source, ready to verify many tokens.
#[derive(Debug, Clone)]
pub struct Verifier {
    trust: TrustStore,
    revoked: RevocationSet,
}

impl Verifier {
    pub fn new(trust: TrustStore, revoked: RevocationSet) -> Self {
        Verifier { trust, revoked }
    }

    /// Loads `$AUTOSD_HOME/trust/` and, when `repo_root` is given, `repo_root/.autosd/trust/`.
    /// Either may be absent, not both. A trust directory without a valid signed revocation
    /// list is refused (fail closed: revocation must not silently stop working).
    pub fn load(ctx: &Context, repo_root: Option<&Path>) -> Result<Verifier> {
        let home_dir = home::trust_dir(&ctx.home);
        let home = home::read_trust_dir(&home_dir)?;
        let repo_dir = repo_root.map(home::repo_trust_dir);
        let repo = match &repo_dir {
            Some(dir) => home::read_trust_dir(dir)?,
            None => None,
        };
        let (trust, revoked) = match (home, repo) {
            (None, None) => {
                let mut err = Error::new(
                    ErrorCode::TrustInvalid,
                    format!("no trust store: {} does not exist", home_dir.display()),
                );
                if let Some(dir) = &repo_dir {
                    err.message
                        .push_str(&format!(" and neither does {}", dir.display()));
                }
                return Err(err.hint(
                    "run `autosd preauth init-keys` here, or commit `autosd preauth export-trust .autosd/trust` to the repository",
                ));
            }
            (Some((t, r)), None) | (None, Some((t, r))) => (t, r),
            (Some((ht, hr)), Some((rt, rr))) => {
                let trust = ht.merge(&rt).map_err(|m| {
                    Error::new(
                        ErrorCode::TrustInvalid,
                        format!("the home and repository trust stores disagree: {m}"),
                    )
                    .hint("export the home trust store again: autosd preauth export-trust .autosd/trust")
                })?;
                let mut revoked = hr;
                revoked.gids.extend(rr.gids);
                revoked.kids.extend(rr.kids);
                revoked.version = revoked.version.max(rr.version);
                (trust, revoked)
            }
        };
        tracing::debug!(
            keys = trust.keys.len(),
            revocations_version = revoked.version,
            "verifier loaded"
        );
        Ok(Verifier { trust, revoked })
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    pub fn revocations(&self) -> &RevocationSet {
        &self.revoked
    }

    /// Verifies `token` at `now` (Unix seconds) for `check`. Order: shape, key, signature
    /// over the exact bytes (`verify_strict`), strict parse, key status and window,
    /// lifetime caps, time, revocation, bindings, scope.
    pub fn verify(&self, token: &str, now: i64, check: &Check) -> Result<VerifiedGrant, Rejection> {
        let claims = self.authenticate(token)?;
        self.check_claims(claims, now, check)
    }

    /// Signature and strict parsing only: the claims a genuine token carries, whatever its
    /// status (used by `preauth list/show` to describe expired or revoked grants).
    pub fn authenticate(&self, token: &str) -> Result<Claims, Rejection> {
        let env = decode(ArtifactKind::Grant, token)?;
        let key = self.trust.get(env.kid.as_str()).ok_or(Rejection::UnknownKey)?;
        key.public
            .verify_strict(
                &pae(ArtifactKind::Grant.payload_type(), &env.payload),
                &env.signature,
            )
            .map_err(|_| Rejection::BadSignature)?;
        let claims: Claims = parse_json(&env.payload).map_err(|_| Rejection::Malformed)?;
        if claims.v != CLAIMS_VERSION || claims.kid != env.kid.as_str() || !well_formed(&claims) {
            return Err(Rejection::Malformed);
        }
        Ok(claims)
    }

    /// Authenticity, key, lifetime, time and revocation: is this grant alive at `now`,
    /// wherever it is used? (`preauth list` status; `verify` adds bindings and scope.)
    pub fn check_validity(&self, token: &str, now: i64) -> Result<Claims, Rejection> {
        let claims = self.authenticate(token)?;
        self.check_alive(&claims, now)?;
        Ok(claims)
    }

    fn check_claims(&self, claims: Claims, now: i64, check: &Check) -> Result<VerifiedGrant, Rejection> {
        let kid = self.check_alive(&claims, now)?;
        check_bindings(&claims, check)?;
        check_scope(&claims, check)?;
        Ok(VerifiedGrant {
            gid: claims.gid.clone(),
            kid,
            claims,
        })
    }

    fn check_alive(&self, claims: &Claims, now: i64) -> Result<Kid, Rejection> {
        let kid = Kid::parse(&claims.kid).ok_or(Rejection::Malformed)?;
        let key = self.trust.get(kid.as_str()).ok_or(Rejection::UnknownKey)?;
        if claims.aud != AUDIENCE {
            return Err(Rejection::BindingMismatch);
        }
        if !key.status.verifies() || self.revoked.kids.contains(&kid) || !key.issued_in_window(claims.iat) {
            return Err(Rejection::RetiredKey);
        }
        let cap = if claims.break_glass {
            BREAK_GLASS_MAX_SECS
        } else {
            self.trust.max_lifetime_secs()
        };
        if claims.lifetime_secs() > cap {
            return Err(Rejection::LifetimeExceeded);
        }
        if now.saturating_add(CLOCK_LEEWAY_SECS) < claims.nbf
            || claims.iat > now.saturating_add(CLOCK_LEEWAY_SECS)
        {
            return Err(Rejection::NotYetValid);
        }
        if now > claims.exp.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(Rejection::Expired);
        }
        if self.revoked.gids.contains(&claims.gid) {
            return Err(Rejection::Revoked);
        }
        Ok(kid)
    }
}

/// Grant ids are `g-` and 20 lowercase hex digits: safe as file names and in messages.
pub fn is_gid(text: &str) -> bool {
    text.strip_prefix("g-").is_some_and(|h| {
        h.len() == 20
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Structural rules a genuine grant always satisfies; anything else was not made by autosd.
fn well_formed(c: &Claims) -> bool {
    is_gid(&c.gid)
        && !c.projects.is_empty()
        && c.projects.iter().all(|p| is_name(p))
        && c.deploy_envs.iter().all(|e| is_env_name(e))
        && c.envs.iter().all(|e| is_env_name(e))
        && c.deploy_envs.iter().all(|e| c.envs.contains(e))
        && c.iat <= c.nbf
        && c.nbf < c.exp
        && !c.iss.is_empty()
        && c.iss.len() <= 200
}

fn check_bindings(claims: &Claims, check: &Check) -> Result<(), Rejection> {
    let bind = &claims.bind;
    let rt = &check.runtime;
    if let Some(repo) = &bind.repository
        && !rt
            .repository
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(repo))
    {
        return Err(Rejection::BindingMismatch);
    }
    if let Some(git_ref) = &bind.git_ref
        && rt.git_ref.as_deref() != Some(git_ref.as_str())
    {
        return Err(Rejection::BindingMismatch);
    }
    if let Some(environment) = &bind.environment {
        let op_env_ok = check.env.is_none_or(|e| e == environment);
        let job_env_ok = rt.environment.as_deref().is_none_or(|e| e == environment);
        let known = check.env.is_some() || rt.environment.is_some();
        if !(op_env_ok && job_env_ok && known) {
            return Err(Rejection::BindingMismatch);
        }
    }
    Ok(())
}

fn check_scope(claims: &Claims, check: &Check) -> Result<(), Rejection> {
    match check.project {
        Some(project) => claims.allows_scope(project, check.env, check.capability),
        // Without a project, check env and capability against the grant's first project's
        // rules, which are the same for every project it lists.
        None if check.env.is_some() || check.capability.is_some() => {
            claims.allows_scope(&claims.projects[0], check.env, check.capability)
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::envelope::sign_artifact;
    use crate::grant::keys::SigningKeyHandle;
    use crate::grant::model::Bindings;
    use crate::grant::trust::{KeyStatus, TrustedKey};

    const NOW: i64 = 1_800_000_000;

    fn key() -> SigningKeyHandle {
        SigningKeyHandle::from_seed(&[1; 32])
    }

    fn verifier() -> Verifier {
        let k = key();
        let trust = TrustStore {
            keys: vec![TrustedKey {
                kid: k.kid().clone(),
                public: k.public(),
                not_before: NOW - 86_400,
                not_after: None,
                status: KeyStatus::Active,
            }],
            ..TrustStore::default()
        };
        Verifier::new(trust, RevocationSet::default())
    }

    fn claims() -> Claims {
        Claims {
            v: 1,
            gid: "g-0123456789abcdef0123".into(),
            kid: key().kid().to_string(),
            iss: "tester".into(),
            aud: AUDIENCE.into(),
            iat: NOW - 10,
            nbf: NOW - 10,
            exp: NOW + 3600,
            projects: vec!["p".into()],
            deploy_envs: vec!["prod".into()],
            envs: vec!["prod".into()],
            rollback: true,
            heal: false,
            push: false,
            break_glass: false,
            bind: Bindings::default(),
        }
    }

    fn token(c: &Claims) -> String {
        sign_artifact(&key(), ArtifactKind::Grant, &serde_json::to_vec(c).expect("json"))
    }

    fn check(project: &'static str, env: &'static str, cap: Capability) -> Check<'static> {
        Check {
            project: Some(project),
            env: Some(env),
            capability: Some(cap),
            runtime: RuntimeBindings::default(),
        }
    }

    #[test]
    fn accepts_a_good_grant() {
        let v = verifier();
        let got = v
            .verify(&token(&claims()), NOW, &check("p", "prod", Capability::Deploy))
            .expect("valid");
        assert_eq!(got.gid, "g-0123456789abcdef0123");
    }

    #[test]
    fn time_rules_with_bounded_leeway() {
        let v = verifier();
        let t = token(&claims());
        let any = Check::default();
        assert!(v.verify(&t, NOW + 3600 + CLOCK_LEEWAY_SECS, &any).is_ok());
        assert_eq!(
            v.verify(&t, NOW + 3601 + CLOCK_LEEWAY_SECS, &any),
            Err(Rejection::Expired)
        );
        assert_eq!(
            v.verify(&t, NOW - 10 - CLOCK_LEEWAY_SECS - 1, &any),
            Err(Rejection::NotYetValid)
        );
        let mut bg = claims();
        bg.break_glass = true;
        bg.exp = bg.iat + 3 * 3600;
        assert_eq!(v.verify(&token(&bg), NOW, &any), Err(Rejection::LifetimeExceeded));
        let mut long = claims();
        long.exp = long.iat + 721 * 3600;
        assert_eq!(
            v.verify(&token(&long), NOW, &any),
            Err(Rejection::LifetimeExceeded)
        );
    }

    #[test]
    fn bindings_fail_closed() {
        let v = verifier();
        let mut c = claims();
        c.bind.repository = Some("Acme/Site".into());
        c.bind.git_ref = Some("refs/heads/main".into());
        let t = token(&c);
        let mut ok = check("p", "prod", Capability::Deploy);
        assert_eq!(
            v.verify(&t, NOW, &ok),
            Err(Rejection::BindingMismatch),
            "no runtime facts"
        );
        ok.runtime.repository = Some("acme/site".into());
        ok.runtime.git_ref = Some("refs/heads/main".into());
        assert!(v.verify(&t, NOW, &ok).is_ok());
        ok.runtime.git_ref = Some("refs/heads/dev".into());
        assert_eq!(v.verify(&t, NOW, &ok), Err(Rejection::BindingMismatch));
        let mut e = claims();
        e.bind.environment = Some("prod".into());
        let te = token(&e);
        assert!(
            v.verify(&te, NOW, &check("p", "prod", Capability::Deploy))
                .is_ok()
        );
        assert_eq!(
            v.verify(&te, NOW, &Check::default()),
            Err(Rejection::BindingMismatch)
        );
    }

    #[test]
    fn revocation_of_grant_and_key() {
        let mut v = verifier();
        let t = token(&claims());
        v.revoked.gids.insert("g-0123456789abcdef0123".into());
        assert_eq!(v.verify(&t, NOW, &Check::default()), Err(Rejection::Revoked));
        let mut v = verifier();
        v.revoked.kids.insert(key().kid().clone());
        assert_eq!(v.verify(&t, NOW, &Check::default()), Err(Rejection::RetiredKey));
    }

    #[test]
    fn gid_shape() {
        assert!(is_gid("g-0123456789abcdef0123"));
        assert!(!is_gid("g-0123456789ABCDEF0123"));
        assert!(!is_gid("g-../../x"));
    }
}
