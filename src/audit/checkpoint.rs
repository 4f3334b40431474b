//! Signed audit checkpoints: `{v, log, size, head, ts}` signed as an
//! `ArtifactKind::Checkpoint` envelope with GRANT's [`sign_artifact`], printed at the end of
//! every privileged command and appended to `$GITHUB_STEP_SUMMARY`, so a copy of the log's
//! size and head hash lives outside the machine and truncation can be detected later.
//!
//! The signing key is a per-home *audit* key, `$AUTOSD_HOME/keys/audit/checkpoint.key`
//! (0600), created automatically on first use, with its public half next to it. It is not the
//! grant signing key on purpose: CI must sign checkpoints but must never hold the key that
//! mints grants, and a leaked checkpoint key must not be able to mint grants. A fresh CI home
//! gets a fresh key, so there the signature proves only that the summary was written by that
//! run; the external copy of size and head is what detects truncation.
use super::log::AuditLog;
use super::verify::Anchor;
use crate::context::{Context, rfc3339, unix_now};
use crate::error::{Error, ErrorCode, Result};
use crate::grant::{
    ArtifactKind, KeyStatus, Kid, SigningKeyHandle, TrustStore, TrustedKey, open_artifact, sign_artifact,
};
use crate::store::fs as sfs;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Version of the checkpoint payload.
pub const CHECKPOINT_VERSION: u32 = 1;

/// The signed statement "this log had `size` records and record `size` hashed to `head`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub v: u32,
    /// Which log: `local` or the store key it was read from.
    pub log: String,
    pub size: u64,
    pub head: String,
    pub ts: String,
}

impl Checkpoint {
    pub fn anchor(&self) -> Anchor {
        Anchor {
            size: self.size,
            head: self.head.clone(),
        }
    }
}

/// A checkpoint with its envelope (the text to keep) and signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub kid: Kid,
    pub envelope: String,
}

impl SignedCheckpoint {
    /// Two lines for a terminal or log: the summary, then the envelope to save.
    pub fn human(&self) -> String {
        format!(
            "audit checkpoint: size={} head={} signed-by={}\n{}",
            self.checkpoint.size, self.checkpoint.head, self.kid, self.envelope
        )
    }

    /// A Markdown block for `$GITHUB_STEP_SUMMARY`.
    pub fn markdown(&self) -> String {
        format!(
            "### autosd audit checkpoint\n\n| log | size | head | signed by | at |\n|---|---|---|---|---|\n| {} | {} | `{}` | `{}` | {} |\n\n```\n{}\n```\n",
            self.checkpoint.log,
            self.checkpoint.size,
            self.checkpoint.head,
            self.kid,
            self.checkpoint.ts,
            self.envelope
        )
    }
}

fn audit_key_dir(home: &Path) -> PathBuf {
    home.join("keys").join("audit")
}

/// The per-home audit checkpoint key, created (0600) on first use.
pub fn audit_key(home: &Path) -> Result<SigningKeyHandle> {
    let dir = audit_key_dir(home);
    let path = dir.join("checkpoint.key");
    if path.exists() {
        let mode = std::fs::metadata(&path)
            .map_err(|e| Error::io("stat", &path, &e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::new(
                ErrorCode::KeyInsecure,
                format!(
                    "the audit checkpoint key {} is readable by others",
                    path.display()
                ),
            )
            .hint(format!("chmod 600 {}", path.display())));
        }
        let bytes = sfs::read_limited(&path, 64 * 1024)?;
        return SigningKeyHandle::from_file_bytes(&bytes).map_err(|why| {
            Error::new(
                ErrorCode::StateCorrupt,
                format!("the audit checkpoint key {} is unreadable: {why}", path.display()),
            )
        });
    }
    sfs::ensure_dir(&dir, 0o700)?;
    let _lock = sfs::lock_exclusive(&dir.join(".lock"))?;
    if path.exists() {
        return audit_key(home); // another process created it while we waited
    }
    let key = SigningKeyHandle::generate().map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("no randomness for the audit key: {e}"),
        )
    })?;
    sfs::write_atomic(&path, key.to_file_bytes(unix_now()).expose(), 0o600)?;
    let public = serde_json::json!({
        "kid": key.kid().as_str(),
        "public": crate::grant::strict::b64u_encode(key.public().as_bytes()),
    });
    sfs::write_atomic(
        &dir.join("checkpoint.pub.json"),
        format!("{public}\n").as_bytes(),
        0o644,
    )?;
    Ok(key)
}

/// Signs the current head of `log` (`label` names the log in the payload).
pub fn sign_current(home: &Path, log: &AuditLog, label: &str) -> Result<SignedCheckpoint> {
    let (size, head) = log.head()?;
    let checkpoint = Checkpoint {
        v: CHECKPOINT_VERSION,
        log: label.to_string(),
        size,
        head,
        ts: rfc3339(unix_now()),
    };
    let key = audit_key(home)?;
    // Serialising a plain struct into a Vec cannot fail.
    let payload = serde_json::to_vec(&checkpoint).unwrap_or_default();
    Ok(SignedCheckpoint {
        envelope: sign_artifact(&key, ArtifactKind::Checkpoint, &payload),
        kid: key.kid().clone(),
        checkpoint,
    })
}

/// Opens a checkpoint envelope: the signature must verify with this home's audit key.
/// `text` may be the whole printed block; the envelope is the line starting `autosd.checkpoint.`.
pub fn open(home: &Path, text: &str) -> Result<SignedCheckpoint> {
    let envelope = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("autosd.checkpoint."))
        .ok_or_else(|| bad_checkpoint("it holds no `autosd.checkpoint.` envelope line"))?;
    let key = audit_key(home)?;
    let trust = TrustStore {
        keys: vec![TrustedKey {
            kid: key.kid().clone(),
            public: key.public(),
            not_before: 0,
            not_after: None,
            status: KeyStatus::Active,
        }],
        ..TrustStore::default()
    };
    let (payload, kid) = open_artifact(&trust, ArtifactKind::Checkpoint, envelope).map_err(|r| {
        bad_checkpoint(&format!(
            "its signature does not verify with this home's audit key ({})",
            r.description()
        ))
    })?;
    let checkpoint: Checkpoint = serde_json::from_slice(&payload)
        .map_err(|e| bad_checkpoint(&format!("its payload is not a checkpoint: {e}")))?;
    if checkpoint.v != CHECKPOINT_VERSION {
        return Err(bad_checkpoint(&format!(
            "unknown checkpoint version {}",
            checkpoint.v
        )));
    }
    Ok(SignedCheckpoint {
        checkpoint,
        kid,
        envelope: envelope.to_string(),
    })
}

fn bad_checkpoint(why: &str) -> Error {
    Error::new(
        ErrorCode::AuditCheckpointMismatch,
        format!("the checkpoint cannot be used: {why}"),
    )
    .hint("pass the checkpoint printed by autosd on this machine (the `autosd.checkpoint.` line)")
}

/// What GATE calls at the end of every privileged command: signs the local log's head,
/// and appends the Markdown block to `$GITHUB_STEP_SUMMARY` when that is set. The caller
/// prints [`SignedCheckpoint::human`] through its printer.
pub fn finish_command(ctx: &Context) -> Result<SignedCheckpoint> {
    let log = AuditLog::open(ctx);
    let signed = sign_current(&ctx.home, &log, "local")?;
    if let Some(summary) = ctx.env.get("GITHUB_STEP_SUMMARY") {
        let path = PathBuf::from(summary);
        crate::store::local::append_line(&path, signed.markdown().trim_end().as_bytes())?;
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::super::record::{AuditEvent, Phase, RecordActor};
    use super::super::verify::{AnchorCheck, verify};
    use super::*;

    #[test]
    fn sign_open_and_anchor_round_trip() {
        let home = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::at(
            &home.path().join("audit.log.jsonl"),
            RecordActor::User { name: "t".into() },
        );
        log.append(&AuditEvent::new("halt", Phase::Event))
            .expect("append");
        let signed = sign_current(home.path(), &log, "local").expect("sign");
        assert_eq!(signed.checkpoint.size, 1);
        let opened = open(home.path(), &signed.human()).expect("open");
        assert_eq!(opened, signed);
        let report = verify(&log.read_all().expect("read"), Some(&opened.checkpoint.anchor()));
        assert_eq!(report.anchor, Some(AnchorCheck::Matches));
        let mode = std::fs::metadata(home.path().join("keys/audit/checkpoint.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn foreign_or_forged_checkpoints_are_refused() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::at(
            &a.path().join("audit.log.jsonl"),
            RecordActor::User { name: "t".into() },
        );
        let signed = sign_current(a.path(), &log, "local").expect("sign");
        let err = open(b.path(), &signed.envelope).expect_err("other home's key");
        assert_eq!(err.code, ErrorCode::AuditCheckpointMismatch);
        let forged = signed.envelope.replace(".autosd", ".x");
        assert!(open(a.path(), &format!("{forged}x")).is_err());
        assert!(open(a.path(), "no envelope here").is_err());
    }
}
