//! The trust store: public keys with their validity windows and status, and the
//! verifier's lifetime cap. Pure: bytes of `trust/keys.json` in, `TrustStore` out.
//! The file is the root of trust (committed to the repository), so it is not signed.
use super::keys::Kid;
use super::strict::{b64u_decode, b64u_encode, parse_json_lenient_ws};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// Default cap on a normal grant's lifetime (30 days). Configured per trust store by
/// `max_lifetime_hours` in `keys.json` (`autosd preauth init-keys --max-lifetime-hours`).
pub const DEFAULT_MAX_LIFETIME_HOURS: u32 = 720;
/// Break-glass grants never live longer than this, whatever the trust store says.
pub const BREAK_GLASS_MAX_SECS: i64 = 2 * 3600;

/// What a key may still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// The current signing key.
    Active,
    /// Replaced by `rotate-keys`: verifies only grants issued before `not_after`.
    Rotated,
    /// Taken out of service (`init-keys --force`): nothing it signed verifies.
    Retired,
    /// Compromised or killed (`rotate-keys --revoke-old`): nothing it signed verifies.
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Rotated => "rotated",
            KeyStatus::Retired => "retired",
            KeyStatus::Revoked => "revoked",
        }
    }

    /// Whether signatures by a key in this status may be accepted at all.
    pub fn verifies(self) -> bool {
        matches!(self, KeyStatus::Active | KeyStatus::Rotated)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: Kid,
    pub public: VerifyingKey,
    /// A grant's `iat` must lie in `[not_before, not_after]`.
    pub not_before: i64,
    pub not_after: Option<i64>,
    pub status: KeyStatus,
}

impl TrustedKey {
    pub fn issued_in_window(&self, iat: i64) -> bool {
        iat >= self.not_before && self.not_after.is_none_or(|end| iat <= end)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStore {
    pub keys: Vec<TrustedKey>,
    pub max_lifetime_hours: u32,
}

impl Default for TrustStore {
    fn default() -> Self {
        TrustStore {
            keys: Vec::new(),
            max_lifetime_hours: DEFAULT_MAX_LIFETIME_HOURS,
        }
    }
}

impl TrustStore {
    pub fn get(&self, kid: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.kid.as_str() == kid)
    }

    /// The one key in status `active`, if any.
    pub fn active(&self) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.status == KeyStatus::Active)
    }

    pub fn max_lifetime_secs(&self) -> i64 {
        i64::from(self.max_lifetime_hours) * 3600
    }

    /// Combines two stores (home and repository). A kid known to both must name the same
    /// public key; the stricter status, the narrower window and the smaller cap win.
    pub fn merge(mut self, other: &TrustStore) -> Result<TrustStore, String> {
        self.max_lifetime_hours = self.max_lifetime_hours.min(other.max_lifetime_hours);
        for theirs in &other.keys {
            match self.keys.iter_mut().find(|k| k.kid == theirs.kid) {
                None => self.keys.push(theirs.clone()),
                Some(ours) => {
                    if ours.public != theirs.public {
                        return Err(format!("kid {} names two different public keys", ours.kid));
                    }
                    ours.status = ours.status.max(theirs.status);
                    ours.not_before = ours.not_before.max(theirs.not_before);
                    ours.not_after = match (ours.not_after, theirs.not_after) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
        Ok(self)
    }

    /// Parses `keys.json`. Every problem is reported without echoing values.
    pub fn from_bytes(bytes: &[u8]) -> Result<TrustStore, String> {
        let raw: RawTrustFile = parse_json_lenient_ws(bytes).map_err(|p| p.0)?;
        if raw.v != 1 {
            return Err(format!("unsupported trust store version {}", raw.v));
        }
        if raw.max_lifetime_hours == 0 {
            return Err("max_lifetime_hours must be at least 1".into());
        }
        let mut keys: Vec<TrustedKey> = Vec::with_capacity(raw.keys.len());
        for (i, k) in raw.keys.into_iter().enumerate() {
            let kid =
                Kid::parse(&k.kid).ok_or_else(|| format!("keys[{i}]: kid is not of the form k-<16 hex>"))?;
            let bytes: [u8; 32] = b64u_decode(&k.public_key)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("keys[{i}]: public_key is not 32 bytes of canonical base64url"))?;
            let public = VerifyingKey::from_bytes(&bytes)
                .ok()
                .filter(|p| !p.is_weak())
                .ok_or_else(|| format!("keys[{i}]: public_key is not a valid Ed25519 key"))?;
            if Kid::of(&public) != kid {
                return Err(format!("keys[{i}]: kid {kid} does not match its public key"));
            }
            if k.not_after.is_some_and(|end| end < k.not_before) {
                return Err(format!("keys[{i}]: not_after is before not_before"));
            }
            if keys.iter().any(|seen| seen.kid == kid) {
                return Err(format!("keys[{i}]: kid {kid} is listed twice"));
            }
            keys.push(TrustedKey {
                kid,
                public,
                not_before: k.not_before,
                not_after: k.not_after,
                status: k.status,
            });
        }
        if keys.iter().filter(|k| k.status == KeyStatus::Active).count() > 1 {
            return Err("more than one key has status active".into());
        }
        Ok(TrustStore {
            keys,
            max_lifetime_hours: raw.max_lifetime_hours,
        })
    }

    /// The canonical `keys.json` bytes (pretty, trailing newline: it is committed and diffed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let raw = RawTrustFile {
            v: 1,
            max_lifetime_hours: self.max_lifetime_hours,
            keys: self
                .keys
                .iter()
                .map(|k| RawTrustedKey {
                    kid: k.kid.as_str().to_string(),
                    public_key: b64u_encode(k.public.as_bytes()),
                    not_before: k.not_before,
                    not_after: k.not_after,
                    status: k.status,
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&raw).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustFile {
    v: u32,
    max_lifetime_hours: u32,
    keys: Vec<RawTrustedKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustedKey {
    kid: String,
    public_key: String,
    not_before: i64,
    not_after: Option<i64>,
    status: KeyStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::keys::SigningKeyHandle;

    fn store(status: KeyStatus) -> TrustStore {
        let k = SigningKeyHandle::from_seed(&[7; 32]);
        TrustStore {
            keys: vec![TrustedKey {
                kid: k.kid().clone(),
                public: k.public(),
                not_before: 10,
                not_after: None,
                status,
            }],
            max_lifetime_hours: 48,
        }
    }

    #[test]
    fn round_trip_and_strictness() {
        let s = store(KeyStatus::Active);
        let bytes = s.to_bytes();
        assert_eq!(TrustStore::from_bytes(&bytes), Ok(s.clone()));
        let text = String::from_utf8(bytes).expect("utf8");
        let extra = text.replacen("\"v\": 1,", "\"v\": 1, \"x\": 1,", 1);
        assert!(TrustStore::from_bytes(extra.as_bytes()).is_err());
        let wrong_kid = text.replacen("\"kid\": \"k-", "\"kid\": \"k-f", 1);
        assert!(TrustStore::from_bytes(wrong_kid.as_bytes()).is_err());
        assert!(TrustStore::from_bytes(b"{").is_err());
    }

    #[test]
    fn merge_takes_the_stricter_view() {
        let mut home = store(KeyStatus::Active);
        home.keys[0].not_after = Some(100);
        let repo = store(KeyStatus::Revoked);
        let merged = home.merge(&repo).expect("merge");
        assert_eq!(merged.keys[0].status, KeyStatus::Revoked);
        assert_eq!(merged.keys[0].not_after, Some(100));
        assert_eq!(merged.max_lifetime_hours, 48);
    }
}
