//! Ed25519 signing keys: key ids, generation, and the private key file's byte format.
//! Pure apart from drawing randomness; reading and writing the file is `home.rs`'s job.
use super::strict::{b64u_decode, b64u_encode, parse_json_lenient_ws};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A key id: `k-` and 16 lowercase hex digits of SHA-256 over the public key, so a kid
/// names exactly one public key and the trust store can check that it does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kid(String);

impl Kid {
    pub fn of(public: &VerifyingKey) -> Kid {
        let digest = Sha256::digest(public.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Kid(format!("k-{hex}"))
    }

    /// Accepts only the exact `k-<16 hex>` shape (safe in file names and messages).
    pub fn parse(text: &str) -> Option<Kid> {
        let hex = text.strip_prefix("k-")?;
        let ok = hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Kid(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A private signing key with its kid. Never printed: `Debug` shows the kid only.
pub struct SigningKeyHandle {
    key: SigningKey,
    kid: Kid,
}

impl fmt::Debug for SigningKeyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKeyHandle({})", self.kid)
    }
}

impl SigningKeyHandle {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let kid = Kid::of(&key.verifying_key());
        SigningKeyHandle { key, kid }
    }

    /// A fresh key from the operating system's randomness.
    pub fn generate() -> std::io::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.key.sign(message).to_bytes()
    }

    /// The private key file's content. The result is secret: write it with mode 0600.
    pub fn to_file_bytes(&self, created_at: i64) -> crate::secret::Secret<Vec<u8>> {
        let file = RawKeyFile {
            v: 1,
            kid: self.kid.clone(),
            seed: b64u_encode(self.key.as_bytes()),
            created_at,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        bytes.push(b'\n');
        crate::secret::Secret::new(bytes)
    }

    /// Parses a private key file; the error text never contains key material.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, String> {
        let raw: RawKeyFile = parse_json_lenient_ws(bytes).map_err(|p| p.0)?;
        if raw.v != 1 {
            return Err(format!("unsupported key file version {}", raw.v));
        }
        let seed: [u8; 32] = b64u_decode(&raw.seed)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| "the seed is not 32 bytes of canonical base64url".to_string())?;
        let handle = Self::from_seed(&seed);
        if handle.kid != raw.kid {
            return Err("the kid does not match the key".to_string());
        }
        Ok(handle)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyFile {
    v: u32,
    kid: Kid,
    seed: String,
    created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_hides_seed() {
        let k = SigningKeyHandle::generate().expect("rng");
        let bytes = k.to_file_bytes(5);
        let back = SigningKeyHandle::from_file_bytes(bytes.expose()).expect("parse");
        assert_eq!(back.kid(), k.kid());
        assert!(!format!("{k:?}").contains("seed"));
        assert!(Kid::parse(k.kid().as_str()).is_some());
        assert!(Kid::parse("k-../../etc").is_none());
        let mut tampered = String::from_utf8(bytes.expose().clone()).expect("utf8");
        tampered = tampered.replacen("\"kid\": \"k-", "\"kid\": \"k-0", 1);
        assert!(SigningKeyHandle::from_file_bytes(tampered.as_bytes()).is_err());
    }
}
