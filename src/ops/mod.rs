//! Use cases that change something real. Every privileged one goes through `guard`, the one
//! gate; `halt` is the kill switch (setting it needs nothing, lifting it is gated).
pub mod guard;
pub mod halt;
pub mod heal;
pub mod live;
pub mod patch;
pub mod release;
pub mod targets;
