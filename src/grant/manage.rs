//! Grant management use cases behind `autosd preauth …`: init-keys, export-trust,
//! create-grant, list/show, revoke, rotate-keys. This is the use-case (ops-level) part of
//! `grant`: it does I/O through `home.rs` and records every change in the audit trail
//! (intent before, outcome after). Each writer holds the home lock (`preauth.lock`) for its
//! whole read-modify-write and writes files atomically, ordered so that a crash between two
//! writes leaves a trust directory that still verifies.
use super::envelope::{ArtifactKind, sign_artifact};
use super::home::{self, GrantCopy};
use super::keys::{Kid, SigningKeyHandle};
use super::model::{AUDIENCE, Bindings, CLAIMS_VERSION, Claims, Rejection, is_env_name, is_name};
use super::revocation::{RevocationList, RevocationSet, RevokedGrant, RevokedKey};
use super::trust::{BREAK_GLASS_MAX_SECS, DEFAULT_MAX_LIFETIME_HOURS, KeyStatus, TrustStore, TrustedKey};
use super::verify::{Verifier, is_gid};
use crate::audit::{AuditEvent, AuditLog, Decision, Outcome, Phase};
use crate::context::{Context, rfc3339};
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs a grant-management change under the audit trail: the intent record must land
/// before anything changes (fail closed: `AUTOSD-AUDIT-UNWRITABLE`, nothing done), the
/// outcome follows. Records name grants and keys by id only, never a token or key.
fn audited<T>(ctx: &Context, intent: AuditEvent, act: impl FnOnce() -> Result<T>) -> Result<T> {
    // The key owner acting on their own home: allowed by construction, recorded as such.
    let intent = intent.decision(Decision::allow());
    let log = AuditLog::open(ctx);
    log.append(&intent)?;
    let started = Instant::now();
    let result = act();
    let mut outcome = intent;
    outcome.phase = Phase::Outcome;
    outcome.outcome = Some(match &result {
        Ok(_) => Outcome::ok(),
        Err(e) => Outcome::failed(e.code),
    });
    outcome.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    if let Err(e) = log.append(&outcome) {
        // The change is done and its intent is on record; failing now would hide its result.
        tracing::warn!(code = e.code.as_str(), message = %e.message, "audit outcome not written");
    }
    result
}

fn io_other(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorCode::Io, format!("cannot {what}: {e}"))
}

/// Rewrites the home trust directory so every intermediate state verifies: first the keys
/// with the outgoing keys still `rotated` (and the new key active), then the revocation list
/// signed by the new key, then the final statuses.
fn publish_home_trust(home: &Path, final_trust: &TrustStore, list_text: &str) -> Result<()> {
    let dir = home::trust_dir(home);
    let mut interim = final_trust.clone();
    for k in &mut interim.keys {
        if !k.status.verifies() {
            k.status = KeyStatus::Rotated;
        }
    }
    crate::store::fs::ensure_dir(&dir, 0o755)?;
    crate::store::fs::write_atomic(&dir.join(home::TRUST_FILE), &interim.to_bytes(), 0o644)?;
    home::write_trust_dir(home, &dir, final_trust, list_text)
}

/// The home's current revocation list, or an empty one when it cannot be read (only
/// `init-keys --force` may start over; its version then restarts above zero).
fn current_list(home: &Path, trust: &TrustStore) -> Result<RevocationList> {
    home::read_revocations(&home::trust_dir(home), trust)
}

#[derive(Debug)]
pub struct InitKeysOutcome {
    pub kid: Kid,
    pub key_path: PathBuf,
    pub trust_dir: PathBuf,
    /// Keys that `--force` took out of service.
    pub retired: Vec<Kid>,
    pub max_lifetime_hours: u32,
}

/// Creates the first signing key (0600), the home trust store and an empty signed
/// revocation list. With an existing key: `KeyExists`, unless `force`, which retires every
/// previous key (their grants stop verifying) and keeps the revocation history.
pub fn init_keys(ctx: &Context, force: bool, max_lifetime_hours: Option<u32>) -> Result<InitKeysOutcome> {
    let home = &ctx.home;
    let _lock = home::lock_home(home)?;
    let now = ctx.now_unix();
    let existing = match home::read_trust_store(&home::trust_dir(home)) {
        Ok(t) => t,
        Err(e) if force => {
            tracing::warn!(error = %e.message, "replacing an unreadable trust store");
            None
        }
        Err(e) => return Err(e),
    };
    let has_key_files = std::fs::read_dir(home::keys_dir(home))
        .map(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".key"))))
        .unwrap_or(false);
    if (existing.is_some() || has_key_files) && !force {
        return Err(Error::new(
            ErrorCode::KeyExists,
            format!("a signing key already exists in {}", home::keys_dir(home).display()),
        )
        .hint("keep it; or rotate it with `autosd preauth rotate-keys`; or replace it (its grants stop working) with --force"));
    }
    if max_lifetime_hours == Some(0) {
        return Err(Error::new(
            ErrorCode::Usage,
            "--max-lifetime-hours must be at least 1",
        ));
    }
    let mut list = match &existing {
        Some(t) => current_list(home, t).unwrap_or_else(|_| RevocationList::empty()),
        None => RevocationList::empty(),
    };
    let mut trust = existing.unwrap_or_default();
    if let Some(h) = max_lifetime_hours {
        trust.max_lifetime_hours = h;
    } else if trust.keys.is_empty() {
        trust.max_lifetime_hours = DEFAULT_MAX_LIFETIME_HOURS;
    }
    let mut retired = Vec::new();
    for k in &mut trust.keys {
        if k.status.verifies() {
            k.status = KeyStatus::Retired;
            k.not_after = Some(k.not_after.unwrap_or(now).min(now).max(k.not_before));
            retired.push(k.kid.clone());
        }
    }
    let key = SigningKeyHandle::generate().map_err(|e| io_other("draw randomness for a key", e))?;
    trust.keys.push(TrustedKey {
        kid: key.kid().clone(),
        public: key.public(),
        not_before: now,
        not_after: None,
        status: KeyStatus::Active,
    });
    let retired_list: Vec<String> = retired.iter().map(ToString::to_string).collect();
    let intent = AuditEvent::new("preauth.init-keys", Phase::Intent)
        .detail("kid", key.kid().as_str())
        .detail("force", if force { "true" } else { "false" })
        .detail("retired_kids", &retired_list.join(","))
        .detail("max_lifetime_hours", &trust.max_lifetime_hours.to_string());
    let key_path = audited(ctx, intent, || {
        let key_path = home::write_signing_key(home, &key, now)?;
        let text = list.sign_next(&key, now);
        publish_home_trust(home, &trust, &text)?;
        for kid in &retired {
            home::remove_signing_key(home, kid);
        }
        Ok(key_path)
    })?;
    tracing::info!(kid = %key.kid(), retired = retired.len(), "signing key created");
    Ok(InitKeysOutcome {
        kid: key.kid().clone(),
        key_path,
        trust_dir: home::trust_dir(home),
        retired,
        max_lifetime_hours: trust.max_lifetime_hours,
    })
}

#[derive(Debug)]
pub struct ExportOutcome {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub kids: Vec<(Kid, KeyStatus)>,
    pub revocations_version: u64,
}

/// Writes the public trust store and the signed revocation list into `dir` (to be
/// committed as `.autosd/trust/`). Refuses to replace a list there with a higher version.
pub fn export_trust(ctx: &Context, dir: &Path) -> Result<ExportOutcome> {
    let home = &ctx.home;
    home::home_trust(home)?; // no home, no key: say so without creating anything
    let _lock = home::lock_home(home)?;
    let trust = home::home_trust(home)?;
    let list = current_list(home, &trust)?;
    let text = home::read_revocations_text(&home::trust_dir(home))?.unwrap_or_default();
    if let Some(theirs) = home::read_revocations_text(dir).ok().flatten()
        && let Ok(old) = RevocationList::open(&trust, &theirs)
        && old.version > list.version
    {
        return Err(Error::new(
            ErrorCode::TrustInvalid,
            format!(
                "{} holds revocation list version {} but this home has only version {}: exporting would undo revocations",
                dir.display(),
                old.version,
                list.version
            ),
        )
        .hint("export from the machine that made the newer list, or remove the file deliberately"));
    }
    home::write_trust_dir(home, dir, &trust, &text)?;
    tracing::info!(dir = %dir.display(), version = list.version, "trust store exported");
    Ok(ExportOutcome {
        dir: dir.to_path_buf(),
        files: vec![
            dir.join(home::TRUST_FILE),
            dir.join(super::revocation::REVOCATIONS_FILE),
        ],
        kids: trust.keys.iter().map(|k| (k.kid.clone(), k.status)).collect(),
        revocations_version: list.version,
    })
}

/// What `create-grant` was asked for, before any check.
#[derive(Debug, Clone, Default)]
pub struct GrantRequest {
    pub projects: Vec<String>,
    pub deploy_envs: Vec<String>,
    pub env_scopes: Vec<String>,
    pub rollback: bool,
    pub heal: bool,
    pub push: bool,
    pub break_glass: bool,
    /// Requested lifetime in seconds (from `--expires-in-hours`).
    pub lifetime_secs: i64,
    pub issuer: Option<String>,
    pub bind: Bindings,
}

#[derive(Debug)]
pub struct CreatedGrant {
    pub claims: Claims,
    pub token: Secret<String>,
    pub path: PathBuf,
}

fn refused(message: impl Into<String>, hint: &str) -> Error {
    Error::new(ErrorCode::GrantRefused, message).hint(hint)
}

fn usage(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Usage, message)
}

fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in list {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// Checks a request against the least-privilege rules and the trust store's caps.
fn checked_claims(
    req: &GrantRequest,
    trust: &TrustStore,
    kid: &Kid,
    now: i64,
    gid: String,
    iss: String,
) -> Result<Claims> {
    let projects = dedup(&req.projects);
    if projects.is_empty() {
        return Err(usage("--project-ids is required: name at least one project"));
    }
    if let Some(bad) = projects.iter().find(|p| !is_name(p)) {
        return Err(usage(format!(
            "invalid project id {bad:?}: use letters, digits, '-', '_' and '.' (at most 64)"
        )));
    }
    let deploy_envs = dedup(&req.deploy_envs);
    let scopes = dedup(&req.env_scopes);
    if let Some(bad) = scopes.iter().find(|e| !is_env_name(e)) {
        return Err(usage(format!(
            "invalid --env-scope {bad:?}: use lowercase letters, digits, '-', '_' and '.'"
        )));
    }
    let mut envs = deploy_envs.clone();
    envs.extend(scopes.iter().filter(|e| !deploy_envs.contains(e)).cloned());
    if req.lifetime_secs <= 0 {
        return Err(refused(
            "--expires-in-hours must be greater than zero",
            "give the grant a short positive lifetime, e.g. --expires-in-hours 2",
        ));
    }
    if req.break_glass && req.lifetime_secs > BREAK_GLASS_MAX_SECS {
        return Err(refused(
            format!(
                "a break-glass grant may live at most 2 hours, not {:.2} hours",
                req.lifetime_secs as f64 / 3600.0
            ),
            "use --expires-in-hours 2 or less with --break-glass",
        ));
    }
    if req.lifetime_secs > trust.max_lifetime_secs() {
        return Err(refused(
            format!(
                "the trust store allows grants of at most {} hours",
                trust.max_lifetime_hours
            ),
            "choose a shorter --expires-in-hours (the cap is max_lifetime_hours in trust/keys.json)",
        ));
    }
    if (req.rollback || req.heal) && envs.is_empty() {
        return Err(refused(
            "--auto-rollback and --auto-heal need an environment to apply to",
            "add --auto-deploy-ENV or --env-scope NAME",
        ));
    }
    if deploy_envs.is_empty() && !req.rollback && !req.heal && !req.push {
        return Err(refused(
            "the grant would allow nothing",
            "add a capability: --auto-deploy-dev|staging|prod, --auto-rollback, --auto-heal or --auto-push",
        ));
    }
    let mut bind = req.bind.clone();
    if let Some(repo) = &bind.repository {
        let ok = repo.split('/').count() == 2 && repo.split('/').all(is_name);
        if !ok {
            return Err(usage(format!(
                "invalid --repository {repo:?}: expected OWNER/REPO"
            )));
        }
    }
    if let Some(r) = &bind.git_ref {
        if r.is_empty() || r.len() > 255 || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(usage("invalid --ref: expected a branch, a tag or refs/…"));
        }
        if !r.starts_with("refs/") {
            bind.git_ref = Some(format!("refs/heads/{r}"));
        }
    }
    if let Some(e) = &bind.environment
        && !is_env_name(e)
    {
        return Err(usage(format!("invalid --environment {e:?}")));
    }
    if iss.is_empty() || iss.len() > 200 || iss.chars().any(char::is_control) {
        return Err(usage("invalid --issuer: 1 to 200 printable characters"));
    }
    Ok(Claims {
        v: CLAIMS_VERSION,
        gid,
        kid: kid.to_string(),
        iss,
        aud: AUDIENCE.to_string(),
        iat: now,
        nbf: now,
        exp: now + req.lifetime_secs,
        projects,
        deploy_envs,
        envs,
        rollback: req.rollback,
        heal: req.heal,
        push: req.push,
        break_glass: req.break_glass,
        bind,
    })
}

fn new_gid() -> Result<String> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::new(ErrorCode::Io, format!("cannot draw randomness: {e}")))?;
    Ok(format!(
        "g-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Signs a least-privilege grant with the home's active key and keeps a copy (0600)
/// under `grants/`.
pub fn create_grant(ctx: &Context, req: &GrantRequest) -> Result<CreatedGrant> {
    let home = &ctx.home;
    // Fail before creating or locking anything when there are no keys at all. The key file
    // itself is read only under the lock: a concurrent rotate-keys replaces it.
    home::home_trust(home)?;
    // Under the lock from here: a concurrent rotate-keys cannot slip between reading the
    // key and recording the grant.
    let _lock = home::lock_home(home)?;
    let key = home::load_signing_key(home)?;
    let trust = home::home_trust(home)?;
    let now = ctx.now_unix();
    let iss = req.issuer.clone().unwrap_or_else(|| match ctx.actor() {
        crate::context::Actor::User { name } => name,
        crate::context::Actor::GithubRun {
            repository, run_id, ..
        } => format!("github:{repository}#{run_id}"),
    });
    let claims = checked_claims(req, &trust, key.kid(), now, new_gid()?, iss)?;
    let payload = serde_json::to_vec(&claims).map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
    let token = Secret::new(sign_artifact(&key, ArtifactKind::Grant, &payload));
    let intent = AuditEvent::new("preauth.create-grant", Phase::Intent)
        .grant(&claims.gid, &claims.kid)
        .detail("issuer", &claims.iss)
        .detail("projects", &claims.projects.join(","))
        .detail("capabilities", &claims.capability_names().join(","))
        .detail("envs", &claims.envs.join(","))
        .detail("break_glass", if claims.break_glass { "true" } else { "false" })
        .detail("expires_at", &rfc3339(claims.exp));
    let path = audited(ctx, intent, || {
        home::write_grant_copy(
            home,
            &GrantCopy {
                gid: claims.gid.clone(),
                created_at: now,
                token: token.clone(),
            },
        )
    })?;
    tracing::info!(gid = %claims.gid, kid = %claims.kid, exp = claims.exp, "grant created");
    Ok(CreatedGrant { claims, token, path })
}

/// A local grant as `list` and `show` describe it.
#[derive(Debug, Clone)]
pub struct GrantView {
    pub gid: String,
    pub created_at: i64,
    /// `None` when the stored token no longer authenticates.
    pub claims: Option<Claims>,
    pub status: GrantStatus,
    pub revocation: Option<RevokedGrant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
    /// The token does not verify for another reason (tampered, unknown key…).
    Invalid(Rejection),
}

impl GrantStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Expired => "expired",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Invalid(_) => "invalid",
        }
    }
}

/// The home's verifier plus its full revocation list (for reasons and dates).
fn home_view(ctx: &Context) -> Result<(Verifier, RevocationList)> {
    let trust = home::home_trust(&ctx.home)?;
    let list = current_list(&ctx.home, &trust)?;
    let mut set = RevocationSet::default();
    set.add(&list);
    Ok((Verifier::new(trust, set), list))
}

fn view(verifier: &Verifier, list: &RevocationList, copy: &GrantCopy, now: i64) -> GrantView {
    let token = copy.token.expose();
    let claims = verifier.authenticate(token).ok();
    let status = match verifier.check_validity(token, now) {
        Ok(_) => GrantStatus::Active,
        Err(Rejection::Expired) => GrantStatus::Expired,
        Err(Rejection::Revoked | Rejection::RetiredKey) => GrantStatus::Revoked,
        Err(r) => GrantStatus::Invalid(r),
    };
    GrantView {
        gid: copy.gid.clone(),
        created_at: copy.created_at,
        claims,
        status,
        revocation: list.is_grant_revoked(&copy.gid).cloned(),
    }
}

/// Every local grant, newest first; with `active_only`, only those that verify now.
pub fn list_grants(ctx: &Context, active_only: bool) -> Result<Vec<GrantView>> {
    let ids = home::list_grant_ids(&ctx.home)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (verifier, list) = home_view(ctx)?;
    let now = ctx.now_unix();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let copy = home::read_grant_copy(&ctx.home, &id)?;
        let v = view(&verifier, &list, &copy, now);
        if !active_only || v.status == GrantStatus::Active {
            out.push(v);
        }
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.gid.cmp(&b.gid)));
    Ok(out)
}

pub fn show_grant(ctx: &Context, gid: &str) -> Result<GrantView> {
    if !is_gid(gid) {
        return Err(usage(
            "a grant id looks like g-<20 hex digits> (see `autosd preauth list`)",
        ));
    }
    let copy = home::read_grant_copy(&ctx.home, gid)?;
    let (verifier, list) = home_view(ctx)?;
    Ok(view(&verifier, &list, &copy, ctx.now_unix()))
}

#[derive(Debug)]
pub struct RevokeOutcome {
    pub gid: String,
    pub already: bool,
    pub revocations_version: u64,
    pub revoked_at: i64,
}

/// Adds `gid` to the home's signed revocation list (effective at once for this home;
/// `export-trust` carries it to a repository). Revoking twice is not an error.
pub fn revoke_grant(ctx: &Context, gid: &str, reason: Option<&str>) -> Result<RevokeOutcome> {
    if !is_gid(gid) {
        return Err(usage(
            "a grant id looks like g-<20 hex digits> (see `autosd preauth list`)",
        ));
    }
    if let Some(r) = reason
        && (r.len() > 500 || r.chars().any(char::is_control))
    {
        return Err(usage("--reason must be at most 500 printable characters"));
    }
    let home = &ctx.home;
    if !home::grant_copy_exists(home, gid) {
        return Err(
            Error::new(ErrorCode::GrantNotFound, format!("no local grant {gid}"))
                .hint("list the local grants with `autosd preauth list`"),
        );
    }
    let _lock = home::lock_home(home)?;
    if !home::grant_copy_exists(home, gid) {
        return Err(
            Error::new(ErrorCode::GrantNotFound, format!("no local grant {gid}"))
                .hint("list the local grants with `autosd preauth list`"),
        );
    }
    let key = home::load_signing_key(home)?;
    let trust = home::home_trust(home)?;
    let mut list = current_list(home, &trust)?;
    if let Some(entry) = list.is_grant_revoked(gid) {
        return Ok(RevokeOutcome {
            gid: gid.to_string(),
            already: true,
            revocations_version: list.version,
            revoked_at: entry.revoked_at,
        });
    }
    let now = ctx.now_unix();
    list.grants.push(RevokedGrant {
        gid: gid.to_string(),
        revoked_at: now,
        reason: reason.map(str::to_string),
    });
    let mut intent = AuditEvent::new("preauth.revoke", Phase::Intent)
        .grant(gid, key.kid().as_str())
        .detail("revocations_version", &(list.version + 1).to_string());
    if let Some(r) = reason {
        intent = intent.detail("reason", r);
    }
    audited(ctx, intent, || {
        let text = list.sign_next(&key, now);
        home::write_trust_dir(home, &home::trust_dir(home), &trust, &text)
    })?;
    tracing::info!(gid, version = list.version, "grant revoked");
    Ok(RevokeOutcome {
        gid: gid.to_string(),
        already: false,
        revocations_version: list.version,
        revoked_at: now,
    })
}

#[derive(Debug)]
pub struct RotateOutcome {
    pub old_kid: Kid,
    pub new_kid: Kid,
    pub revoked_old: bool,
    pub revocations_version: u64,
}

/// Issues a new active key. The old one becomes `rotated` (verifies only grants issued
/// before now, until they expire) or, with `revoke_old`, `revoked` (its grants die at once,
/// also through the revocation list).
pub fn rotate_keys(ctx: &Context, revoke_old: bool) -> Result<RotateOutcome> {
    let home = &ctx.home;
    // Fail before creating or locking anything when there are no keys at all. The key file
    // itself is read only under the lock: a concurrent rotate-keys replaces it.
    home::home_trust(home)?;
    let _lock = home::lock_home(home)?;
    let old = home::load_signing_key(home)?;
    let mut trust = home::home_trust(home)?;
    let mut list = current_list(home, &trust)?;
    let now = ctx.now_unix();
    let new = SigningKeyHandle::generate().map_err(|e| io_other("draw randomness for a key", e))?;
    for k in &mut trust.keys {
        if k.kid == *old.kid() {
            k.status = if revoke_old {
                KeyStatus::Revoked
            } else {
                KeyStatus::Rotated
            };
            k.not_after = Some(now.max(k.not_before));
        }
    }
    trust.keys.push(TrustedKey {
        kid: new.kid().clone(),
        public: new.public(),
        not_before: now,
        not_after: None,
        status: KeyStatus::Active,
    });
    if revoke_old {
        list.keys.push(RevokedKey {
            kid: old.kid().to_string(),
            revoked_at: now,
        });
    }
    let intent = AuditEvent::new("preauth.rotate-keys", Phase::Intent)
        .detail("old_kid", old.kid().as_str())
        .detail("new_kid", new.kid().as_str())
        .detail("old_status", if revoke_old { "revoked" } else { "rotated" });
    audited(ctx, intent, || {
        home::write_signing_key(home, &new, now)?;
        let text = list.sign_next(&new, now);
        publish_home_trust(home, &trust, &text)?;
        home::remove_signing_key(home, old.kid());
        Ok(())
    })?;
    tracing::info!(old = %old.kid(), new = %new.kid(), revoke_old, "signing key rotated");
    Ok(RotateOutcome {
        old_kid: old.kid().clone(),
        new_kid: new.kid().clone(),
        revoked_old: revoke_old,
        revocations_version: list.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> GrantRequest {
        GrantRequest {
            projects: vec!["a".into(), "b".into(), "a".into()],
            deploy_envs: vec!["prod".into()],
            env_scopes: vec!["qa".into(), "prod".into()],
            rollback: true,
            lifetime_secs: 3600,
            ..GrantRequest::default()
        }
    }

    fn claims_for(r: &GrantRequest) -> Result<Claims> {
        let kid = SigningKeyHandle::from_seed(&[5; 32]).kid().clone();
        checked_claims(
            r,
            &TrustStore::default(),
            &kid,
            1000,
            "g-00000000000000000000".into(),
            "me".into(),
        )
    }

    #[test]
    fn claims_are_deduplicated_and_scoped() {
        let c = claims_for(&req()).expect("valid");
        assert_eq!(c.projects, ["a", "b"]);
        assert_eq!(c.deploy_envs, ["prod"]);
        assert_eq!(c.envs, ["prod", "qa"]);
        assert_eq!((c.iat, c.nbf, c.exp), (1000, 1000, 4600));
        assert!(!c.heal && !c.push && !c.break_glass && c.bind.is_empty());
        let mut r = req();
        r.bind.git_ref = Some("main".into());
        assert_eq!(
            claims_for(&r).expect("valid").bind.git_ref.as_deref(),
            Some("refs/heads/main")
        );
    }

    #[test]
    fn refusals_carry_the_right_codes() {
        let code = |r: GrantRequest| claims_for(&r).expect_err("refused").code;
        let mut r = req();
        r.lifetime_secs = 0;
        assert_eq!(code(r), ErrorCode::GrantRefused);
        let mut r = req();
        r.break_glass = true;
        r.lifetime_secs = BREAK_GLASS_MAX_SECS + 1;
        assert_eq!(code(r), ErrorCode::GrantRefused);
        let mut r = req();
        r.lifetime_secs = i64::from(DEFAULT_MAX_LIFETIME_HOURS) * 3600 + 1;
        assert_eq!(code(r), ErrorCode::GrantRefused);
        let mut r = req();
        r.env_scopes = vec!["Prod".into()];
        assert_eq!(code(r), ErrorCode::Usage);
        let mut r = req();
        r.projects.clear();
        assert_eq!(code(r), ErrorCode::Usage);
        let mut r = req();
        r.bind.repository = Some("a/b/c".into());
        assert_eq!(code(r), ErrorCode::Usage);
        let nothing = GrantRequest {
            projects: vec!["a".into()],
            lifetime_secs: 60,
            ..GrantRequest::default()
        };
        assert_eq!(code(nothing), ErrorCode::GrantRefused);
    }
}
