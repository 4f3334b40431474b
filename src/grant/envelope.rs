//! The signed envelope shared by every autosd artifact (grant, revocation list, audit
//! checkpoint, halt record): DSSE-style Ed25519 over `PAE(payloadType, payload)`, in one
//! compact line `autosd.<kind>.<kid>.<b64url payload>.<b64url signature>`.
//!
//! The signature is checked over the exact payload bytes before anything parses them,
//! with `verify_strict`; a signature for one kind never verifies as another because the
//! payloadType is inside the signed message.
use super::keys::{Kid, SigningKeyHandle};
use super::model::Rejection;
use super::strict::{b64u_decode, b64u_encode};
use super::trust::TrustStore;

const PREFIX: &str = "autosd";

/// The kinds of signed artifacts. Each has its own payloadType (domain separation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    Grant,
    Revocations,
    Checkpoint,
    Halt,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 4] = [
        ArtifactKind::Grant,
        ArtifactKind::Revocations,
        ArtifactKind::Checkpoint,
        ArtifactKind::Halt,
    ];

    /// The DSSE payloadType, bound into every signature.
    pub fn payload_type(self) -> &'static str {
        match self {
            ArtifactKind::Grant => "application/vnd.autosd.grant.v1+json",
            ArtifactKind::Revocations => "application/vnd.autosd.revocations.v1+json",
            ArtifactKind::Checkpoint => "application/vnd.autosd.checkpoint.v1+json",
            ArtifactKind::Halt => "application/vnd.autosd.halt.v1+json",
        }
    }

    /// The short tag that names the kind in the compact form.
    pub fn tag(self) -> &'static str {
        match self {
            ArtifactKind::Grant => "grant",
            ArtifactKind::Revocations => "revocations",
            ArtifactKind::Checkpoint => "checkpoint",
            ArtifactKind::Halt => "halt",
        }
    }

    /// Largest envelope accepted, checked before any decoding. A grant goes into a GitHub
    /// secret and is small; a revocation list grows with every revoked grant.
    pub fn max_len(self) -> usize {
        match self {
            ArtifactKind::Grant => 16 * 1024,
            ArtifactKind::Revocations => 4 * 1024 * 1024,
            ArtifactKind::Checkpoint | ArtifactKind::Halt => 64 * 1024,
        }
    }
}

/// DSSE pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` as an artifact of `kind`, returning the one-line compact envelope.
pub fn sign_artifact(key: &SigningKeyHandle, kind: ArtifactKind, payload: &[u8]) -> String {
    let sig = key.sign_bytes(&pae(kind.payload_type(), payload));
    format!(
        "{PREFIX}.{}.{}.{}.{}",
        kind.tag(),
        key.kid(),
        b64u_encode(payload),
        b64u_encode(&sig)
    )
}

/// The parts of a compact envelope, decoded but not yet authenticated.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub kid: Kid,
    pub payload: Vec<u8>,
    pub signature: ed25519_dalek::Signature,
}

/// Splits and decodes a compact envelope of `kind`; every defect is `Malformed`.
pub(crate) fn decode(kind: ArtifactKind, envelope: &str) -> Result<Envelope, Rejection> {
    if envelope.len() > kind.max_len() {
        return Err(Rejection::Malformed);
    }
    let mut parts = envelope.split('.');
    let (Some(prefix), Some(tag), Some(kid), Some(payload), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Rejection::Malformed);
    };
    if prefix != PREFIX || tag != kind.tag() {
        return Err(Rejection::Malformed);
    }
    let kid = Kid::parse(kid).ok_or(Rejection::Malformed)?;
    let payload = b64u_decode(payload).ok_or(Rejection::Malformed)?;
    let sig: [u8; 64] = b64u_decode(sig)
        .and_then(|s| s.try_into().ok())
        .ok_or(Rejection::Malformed)?;
    Ok(Envelope {
        kid,
        payload,
        signature: ed25519_dalek::Signature::from_bytes(&sig),
    })
}

/// Authenticates a compact envelope of `kind` against `trust` and returns the exact signed
/// payload bytes and the signer's kid. Checks, in order: size and shape (`Malformed`), the
/// signer is known (`UnknownKey`), `verify_strict` over PAE (`BadSignature`), and only then
/// the key's status (`RetiredKey`), so nothing about keys leaks to a forger.
/// Key validity windows and payload semantics are the caller's to check.
pub fn open_artifact(
    trust: &TrustStore,
    kind: ArtifactKind,
    envelope: &str,
) -> Result<(Vec<u8>, Kid), Rejection> {
    let env = decode(kind, envelope)?;
    let key = trust.get(env.kid.as_str()).ok_or(Rejection::UnknownKey)?;
    key.public
        .verify_strict(&pae(kind.payload_type(), &env.payload), &env.signature)
        .map_err(|_| Rejection::BadSignature)?;
    if !key.status.verifies() {
        return Err(Rejection::RetiredKey);
    }
    Ok((env.payload, env.kid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::trust::{KeyStatus, TrustedKey};

    fn setup(status: KeyStatus) -> (SigningKeyHandle, TrustStore) {
        let k = SigningKeyHandle::from_seed(&[3; 32]);
        let trust = TrustStore {
            keys: vec![TrustedKey {
                kid: k.kid().clone(),
                public: k.public(),
                not_before: 0,
                not_after: None,
                status,
            }],
            ..TrustStore::default()
        };
        (k, trust)
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn round_trip_and_domain_separation() {
        let (k, trust) = setup(KeyStatus::Active);
        let env = sign_artifact(&k, ArtifactKind::Halt, b"{}");
        assert!(!env.contains('\n') && !env.contains('='));
        let (payload, kid) = open_artifact(&trust, ArtifactKind::Halt, &env).expect("valid");
        assert_eq!((payload.as_slice(), &kid), (&b"{}"[..], k.kid()));
        assert_eq!(
            open_artifact(&trust, ArtifactKind::Checkpoint, &env),
            Err(Rejection::Malformed)
        );
        let relabelled = env.replacen(".halt.", ".checkpoint.", 1);
        assert_eq!(
            open_artifact(&trust, ArtifactKind::Checkpoint, &relabelled),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn retired_key_is_refused_after_the_signature_check() {
        let (k, trust) = setup(KeyStatus::Revoked);
        let env = sign_artifact(&k, ArtifactKind::Grant, b"{}");
        assert_eq!(
            open_artifact(&trust, ArtifactKind::Grant, &env),
            Err(Rejection::RetiredKey)
        );
        let other = SigningKeyHandle::from_seed(&[4; 32]);
        let forged = sign_artifact(&other, ArtifactKind::Grant, b"{}").replacen(
            other.kid().as_str(),
            k.kid().as_str(),
            1,
        );
        assert_eq!(
            open_artifact(&trust, ArtifactKind::Grant, &forged),
            Err(Rejection::BadSignature)
        );
    }
}
