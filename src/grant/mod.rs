//! Signed preauthorization grants: keys, trust store, the signed envelope, strict token
//! decoding, the one verifier, revocation and grant management. Everything but `home.rs`
//! and `manage.rs` is pure (bytes in, verdict out). See `docs/grants.md`.
//!
//! Other modules use: [`Verifier`] (`load`, `verify`), [`resolve_grant_value`],
//! [`Claims::allows`], and [`sign_artifact`] / [`open_artifact`] to sign and check their
//! own artifacts (audit checkpoints, halt records) with the same code.
pub mod envelope;
pub mod home;
pub mod keys;
pub mod manage;
pub mod model;
pub mod resolve;
pub mod revocation;
pub mod strict;
pub mod trust;
pub mod verify;

pub use envelope::{ArtifactKind, open_artifact, pae, sign_artifact};
pub use home::load_signing_key;
pub use keys::{Kid, SigningKeyHandle};
pub use model::{Bindings, Capability, Claims, Rejection};
pub use resolve::{GRANT_ENV_VAR, resolve_grant_value};
pub use revocation::{RevocationList, RevocationSet};
pub use trust::{BREAK_GLASS_MAX_SECS, DEFAULT_MAX_LIFETIME_HOURS, KeyStatus, TrustStore, TrustedKey};
pub use verify::{CLOCK_LEEWAY_SECS, Check, RuntimeBindings, VerifiedGrant, Verifier, is_gid};
