//! The signed revocation list: revoked grant ids and key ids with a version that only
//! grows. Pure: signs to and opens from the compact envelope (`ArtifactKind::Revocations`).
//! It lives next to the trust store (`trust/revocations.dsse`), so committing it to a
//! repository makes the next CI run refuse a grant without touching any secret.
use super::envelope::{ArtifactKind, open_artifact, sign_artifact};
use super::keys::{Kid, SigningKeyHandle};
use super::strict::parse_json;
use super::trust::TrustStore;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// File name of the revocation list inside a trust directory.
pub const REVOCATIONS_FILE: &str = "revocations.dsse";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedGrant {
    pub gid: String,
    pub revoked_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedKey {
    pub kid: String,
    pub revoked_at: i64,
}

/// The signed payload. `version` increases by one with every change; a writer refuses to
/// replace a list with a lower version (no silent rollback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    pub v: u32,
    pub version: u64,
    pub issued_at: i64,
    /// The signer, inside the signed bytes.
    pub kid: String,
    pub grants: Vec<RevokedGrant>,
    pub keys: Vec<RevokedKey>,
}

impl RevocationList {
    pub fn empty() -> Self {
        RevocationList {
            v: 1,
            version: 0,
            issued_at: 0,
            kid: String::new(),
            grants: Vec::new(),
            keys: Vec::new(),
        }
    }

    pub fn is_grant_revoked(&self, gid: &str) -> Option<&RevokedGrant> {
        self.grants.iter().find(|g| g.gid == gid)
    }

    /// The next version, re-signed by `key` at `now`.
    pub fn sign_next(&mut self, key: &SigningKeyHandle, now: i64) -> String {
        self.v = 1;
        self.version += 1;
        self.issued_at = now;
        self.kid = key.kid().to_string();
        let payload = serde_json::to_vec(self).unwrap_or_default();
        sign_artifact(key, ArtifactKind::Revocations, &payload)
    }

    /// Authenticates and parses a list; errors name the problem, never the content.
    pub fn open(trust: &TrustStore, envelope: &str) -> Result<RevocationList, String> {
        let (payload, kid) = open_artifact(trust, ArtifactKind::Revocations, envelope.trim_end())
            .map_err(|r| format!("the revocation list is refused: {}", r.description()))?;
        let list: RevocationList =
            parse_json(&payload).map_err(|p| format!("the revocation list is malformed: {p}"))?;
        if list.v != 1 {
            return Err(format!("unsupported revocation list version v={}", list.v));
        }
        if list.kid != kid.as_str() {
            return Err("the revocation list names a signer other than the key that signed it".into());
        }
        Ok(list)
    }
}

/// Revocations from every list the verifier loaded, for O(1) lookups.
#[derive(Debug, Clone, Default)]
pub struct RevocationSet {
    pub gids: HashSet<String>,
    pub kids: HashSet<Kid>,
    /// The highest list version seen (0 when none).
    pub version: u64,
}

impl RevocationSet {
    pub fn add(&mut self, list: &RevocationList) {
        self.gids.extend(list.grants.iter().map(|g| g.gid.clone()));
        self.kids
            .extend(list.keys.iter().filter_map(|k| Kid::parse(&k.kid)));
        self.version = self.version.max(list.version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::trust::{KeyStatus, TrustedKey};

    #[test]
    fn sign_open_and_version_growth() {
        let k = SigningKeyHandle::from_seed(&[9; 32]);
        let trust = TrustStore {
            keys: vec![TrustedKey {
                kid: k.kid().clone(),
                public: k.public(),
                not_before: 0,
                not_after: None,
                status: KeyStatus::Active,
            }],
            ..TrustStore::default()
        };
        let mut list = RevocationList::empty();
        let first = list.sign_next(&k, 10);
        list.grants.push(RevokedGrant {
            gid: "g-1".into(),
            revoked_at: 11,
            reason: None,
        });
        let second = list.sign_next(&k, 11);
        assert_eq!(RevocationList::open(&trust, &first).expect("first").version, 1);
        let opened = RevocationList::open(&trust, &second).expect("second");
        assert_eq!(opened.version, 2);
        assert!(opened.is_grant_revoked("g-1").is_some());
        let as_grant = second.replacen(".revocations.", ".grant.", 1);
        assert!(RevocationList::open(&trust, &as_grant).is_err());
    }
}
