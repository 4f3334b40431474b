//! Self-healing, pure parts: the incident model (`incident`), the remediation ladder's
//! decisions (`ladder`) and postmortem rendering (`postmortem`). No I/O here: `ops::heal`
//! probes targets, goes through the gate and writes the store and the postmortem files.
pub mod incident;
pub mod ladder;
pub mod postmortem;
