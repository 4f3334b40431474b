//! Durable state: crash-safe file primitives now; the `Store` trait with its local and git
//! backends builds on them.
pub mod fs;
