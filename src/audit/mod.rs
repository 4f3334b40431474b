//! The tamper-evident audit trail: a hash-chained, append-only JSON-lines log.
//!
//! - [`record`]: the versioned record, THE canonical byte form that is hashed, the line form.
//! - [`verify`]: pure verification of a log handed in as bytes (first bad seq, torn tail,
//!   truncation against a checkpoint).
//! - [`log`]: appending (exclusive lock, fsync, fail closed) to a local file or a store key.
//!
//! Where the log lives. The log of record is `$AUTOSD_HOME/audit.log.jsonl`
//! ([`AuditLog::open`]): on a laptop or a long-lived runner that is the durable trail. A CI
//! runner is thrown away after its job, so with the git state store the gate should also (or
//! instead) write to [`AuditLog::in_store`], which keeps one shared chain under
//! `audit/audit.log.jsonl` on the state branch. A hash chain does not merge by concatenation
//! (every record names its predecessor), so the shared log is written with the store's
//! compare-and-swap `update`, never its blind `append`: when a push is rejected the record is
//! re-chained (new `seq` and `prev`) on top of the fresh tip and pushed again. That keeps one
//! valid chain across all writers, at the price of one push per record; the intent is
//! "durable" once its commit is on the remote, which is the fail-closed point in CI.
//!
//! Recording something outside the gate (grant management, for example) is one call; the
//! intent-before-acting rule applies to anything that changes state:
//!
//! ```text
//! let log = AuditLog::open(ctx);
//! log.append(&AuditEvent::new("preauth.revoke", Phase::Event).grant(gid, kid.as_str())
//!     .decision(Decision::allow()).detail("reason", reason))?;   // Err => do not proceed
//! ```
//!
//! A command that made a privileged change ends with [`checkpoint::finish_command`].
pub mod checkpoint;
pub mod log;
pub mod record;
pub mod verify;

pub use log::{Appended, AuditLog};
pub use record::{AuditEvent, Decision, Outcome, Phase, Record};
