//! Release operations, independent of any engine: the `Release` and its ledger, typed
//! `Plan`s built by pure functions, health-gate semantics, target settings, the `Target`
//! trait, the executor that runs a plan under the target's lock, the driver of rolling
//! updates on orchestrators, and the `generic_container` target. Docker, Swarm and
//! Kubernetes live in `crate::docker`, `crate::swarm` and `crate::kubernetes`; grants,
//! policy and audit in the gate, which calls `execute` as its act.
pub mod execute;
pub mod fake;
pub mod generic;
pub mod health;
pub mod ledger;
pub mod plan;
pub mod probe;
pub mod release;
pub mod renewer;
pub mod rolling;
pub mod settings;
pub mod target;
