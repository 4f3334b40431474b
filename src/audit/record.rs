//! The audit record, version 1: its serialisation structs, THE canonical byte form that is
//! hashed ([`canonical_body`]) and the one-line form stored in the log ([`Record::to_line`]).
//! Pure: no I/O, no clock.
use crate::context::Actor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Version of the record schema; verify refuses any other.
pub const RECORD_VERSION: u32 = 1;
/// `prev` of the first record: there is no earlier hash.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest line a record may serialise to; larger `detail` is refused, not truncated silently.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Why a record exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Written and fsynced before a privileged action; the action happens only if this lands.
    Intent,
    /// The result of an action whose intent was recorded.
    Outcome,
    /// The gate refused; nothing was done.
    Denied,
    /// Something worth recording that is not an action (grant created, log repaired, …).
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
}

/// The gate's decision: allow, or deny with the error code that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub verdict: Verdict,
    pub code: Option<String>,
}

impl Decision {
    pub fn allow() -> Self {
        Decision {
            verdict: Verdict::Allow,
            code: None,
        }
    }

    pub fn deny(code: crate::error::ErrorCode) -> Self {
        Decision {
            verdict: Verdict::Deny,
            code: Some(code.as_str().to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

/// How an action ended; `code` is the error code of a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub status: Status,
    pub code: Option<String>,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome {
            status: Status::Ok,
            code: None,
        }
    }

    pub fn failed(code: crate::error::ErrorCode) -> Self {
        Outcome {
            status: Status::Failed,
            code: Some(code.as_str().to_string()),
        }
    }
}

/// Who acted, as recorded. Mirrors [`crate::context::Actor`] with a stable wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordActor {
    User {
        name: String,
    },
    GithubRun {
        repository: String,
        run_id: String,
        actor: String,
        workflow: String,
    },
}

impl From<&Actor> for RecordActor {
    fn from(a: &Actor) -> Self {
        match a {
            Actor::User { name } => RecordActor::User { name: name.clone() },
            Actor::GithubRun {
                repository,
                run_id,
                actor,
                workflow,
            } => RecordActor::GithubRun {
                repository: repository.clone(),
                run_id: run_id.clone(),
                actor: actor.clone(),
                workflow: workflow.clone(),
            },
        }
    }
}

impl RecordActor {
    pub fn describe(&self) -> String {
        match self {
            RecordActor::User { name } => name.clone(),
            RecordActor::GithubRun {
                repository,
                run_id,
                actor,
                ..
            } => format!("{actor}@{repository}#{run_id}"),
        }
    }
}

/// What a caller asks to record. The log adds `v`, `seq`, `prev`, `hash`, `ts` and `actor`.
/// Never put a token here: grants are named by `grant_id` and `kid` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub op: String,
    pub phase: Phase,
    pub project: Option<String>,
    pub env: Option<String>,
    pub target: Option<String>,
    pub grant_id: Option<String>,
    pub kid: Option<String>,
    pub decision: Option<Decision>,
    pub outcome: Option<Outcome>,
    pub duration_ms: Option<u64>,
    pub detail: BTreeMap<String, String>,
}

impl AuditEvent {
    pub fn new(op: &str, phase: Phase) -> Self {
        AuditEvent {
            op: op.to_string(),
            phase,
            project: None,
            env: None,
            target: None,
            grant_id: None,
            kid: None,
            decision: None,
            outcome: None,
            duration_ms: None,
            detail: BTreeMap::new(),
        }
    }

    pub fn project(mut self, p: &str) -> Self {
        self.project = Some(p.to_string());
        self
    }

    pub fn env(mut self, e: &str) -> Self {
        self.env = Some(e.to_string());
        self
    }

    pub fn target(mut self, t: &str) -> Self {
        self.target = Some(t.to_string());
        self
    }

    /// The grant's id and signing key id (never the token).
    pub fn grant(mut self, grant_id: &str, kid: &str) -> Self {
        self.grant_id = Some(grant_id.to_string());
        self.kid = Some(kid.to_string());
        self
    }

    pub fn decision(mut self, d: Decision) -> Self {
        self.decision = Some(d);
        self
    }

    pub fn outcome(mut self, o: Outcome) -> Self {
        self.outcome = Some(o);
        self
    }

    pub fn duration_ms(mut self, ms: u64) -> Self {
        self.duration_ms = Some(ms);
        self
    }

    pub fn detail(mut self, key: &str, value: &str) -> Self {
        self.detail.insert(key.to_string(), value.to_string());
        self
    }
}

/// One record as stored: every field, `hash` last. Field order here IS the canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub prev: String,
    pub ts: String,
    pub actor: RecordActor,
    pub op: String,
    pub project: Option<String>,
    pub env: Option<String>,
    pub target: Option<String>,
    pub grant_id: Option<String>,
    pub kid: Option<String>,
    pub decision: Option<Decision>,
    pub phase: Phase,
    pub outcome: Option<Outcome>,
    pub duration_ms: Option<u64>,
    pub detail: BTreeMap<String, String>,
    #[serde(default)]
    pub hash: String,
}

/// The hashed part of a record: everything but `hash`, same order, borrowed.
#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: u64,
    prev: &'a str,
    ts: &'a str,
    actor: &'a RecordActor,
    op: &'a str,
    project: &'a Option<String>,
    env: &'a Option<String>,
    target: &'a Option<String>,
    grant_id: &'a Option<String>,
    kid: &'a Option<String>,
    decision: &'a Option<Decision>,
    phase: Phase,
    outcome: &'a Option<Outcome>,
    duration_ms: Option<u64>,
    detail: &'a BTreeMap<String, String>,
}

/// THE canonical byte form of a record, the only input to its hash: compact JSON of every
/// field except `hash`, in declaration order, nulls included, `detail` keys sorted.
pub fn canonical_body(r: &Record) -> Vec<u8> {
    let body = Body {
        v: r.v,
        seq: r.seq,
        prev: &r.prev,
        ts: &r.ts,
        actor: &r.actor,
        op: &r.op,
        project: &r.project,
        env: &r.env,
        target: &r.target,
        grant_id: &r.grant_id,
        kid: &r.kid,
        decision: &r.decision,
        phase: r.phase,
        outcome: &r.outcome,
        duration_ms: r.duration_ms,
        detail: &r.detail,
    };
    // Serialising plain structs, strings and maps into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

impl Record {
    /// Builds record `seq` after `prev` for `event`, with its hash filled in.
    pub fn seal(event: &AuditEvent, seq: u64, prev: &str, ts: &str, actor: &RecordActor) -> Record {
        let mut r = Record {
            v: RECORD_VERSION,
            seq,
            prev: prev.to_string(),
            ts: ts.to_string(),
            actor: actor.clone(),
            op: event.op.clone(),
            project: event.project.clone(),
            env: event.env.clone(),
            target: event.target.clone(),
            grant_id: event.grant_id.clone(),
            kid: event.kid.clone(),
            decision: event.decision.clone(),
            phase: event.phase,
            outcome: event.outcome.clone(),
            duration_ms: event.duration_ms,
            detail: event.detail.clone(),
            hash: String::new(),
        };
        r.hash = sha256_hex(&canonical_body(&r));
        r
    }

    /// The stored line (no newline): the canonical body with `,"hash":"…"` before its `}`,
    /// so the body is recovered from a line by cutting a fixed-size suffix.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = canonical_body(self);
        line.pop(); // the closing brace
        line.extend_from_slice(b",\"hash\":\"");
        line.extend_from_slice(self.hash.as_bytes());
        line.extend_from_slice(b"\"}");
        line
    }
}

/// Length of `,"hash":"<64 hex>"}`, the suffix every stored line ends with.
pub const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// Splits a stored line into (canonical body bytes, claimed hash) without parsing it.
pub fn split_line(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return None;
    }
    let (head, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    if !suffix.starts_with(b",\"hash\":\"") || !suffix.ends_with(b"\"}") {
        return None;
    }
    let hash = std::str::from_utf8(&suffix[9..9 + 64]).ok()?;
    if !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut body = Vec::with_capacity(head.len() + 1);
    body.extend_from_slice(head);
    body.push(b'}');
    Some((body, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> RecordActor {
        RecordActor::User { name: "ann".into() }
    }

    #[test]
    fn line_ends_with_hash_and_body_hash_matches() {
        let ev = AuditEvent::new("halt", Phase::Intent)
            .project("p")
            .decision(Decision::allow())
            .detail("reason", "drill");
        let r = Record::seal(&ev, 1, GENESIS_PREV, "2026-01-01T00:00:00Z", &actor());
        let line = r.to_line();
        let (body, hash) = split_line(&line).expect("splits");
        assert_eq!(hash, r.hash);
        assert_eq!(sha256_hex(&body), r.hash);
        assert_eq!(body, canonical_body(&r));
        let parsed: Record = serde_json::from_slice(&line).expect("parses");
        assert_eq!(parsed, r);
        assert!(
            std::str::from_utf8(&line)
                .expect("utf8")
                .starts_with("{\"v\":1,\"seq\":1,\"prev\":\"0000")
        );
    }

    #[test]
    fn hash_covers_every_field() {
        let base = AuditEvent::new("deploy", Phase::Outcome).project("p").env("prod");
        let a = Record::seal(&base, 3, GENESIS_PREV, "t", &actor());
        let variants = [
            Record::seal(&base.clone().env("dev"), 3, GENESIS_PREV, "t", &actor()),
            Record::seal(
                &base.clone().outcome(Outcome::ok()),
                3,
                GENESIS_PREV,
                "t",
                &actor(),
            ),
            Record::seal(&base, 4, GENESIS_PREV, "t", &actor()),
            Record::seal(&base, 3, &"1".repeat(64), "t", &actor()),
            Record::seal(&base, 3, GENESIS_PREV, "u", &actor()),
            Record::seal(
                &base,
                3,
                GENESIS_PREV,
                "t",
                &RecordActor::User { name: "bob".into() },
            ),
        ];
        for v in variants {
            assert_ne!(v.hash, a.hash);
        }
    }

    #[test]
    fn split_line_refuses_malformed_suffixes() {
        assert!(split_line(b"{}").is_none());
        let bad = format!("{{\"v\":1,\"hash\":\"{}\"}}", "G".repeat(64));
        assert!(split_line(bad.as_bytes()).is_none());
    }
}
