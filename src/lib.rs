//! autosd: safe autonomy for CI/CD.
//!
//! The layers (see `docs/architecture.md`) point downward only:
//! `cli` parses and renders; `ops` decides; `grant`, `policy`, `audit` are pure;
//! `store` and the target adapters do I/O behind traits.
pub mod audit;
pub mod cli;
pub mod config;
pub mod context;
pub mod deploy;
pub mod docker;
pub mod error;
pub mod factory;
pub mod github;
pub mod grant;
pub mod heal;
pub mod interrupt;
pub mod kubernetes;
pub mod lint;
pub mod ops;
pub mod output;
pub mod policy;
pub mod process;
pub mod registry;
pub mod secret;
pub mod store;
pub mod swarm;
