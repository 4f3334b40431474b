//! The kill switch: the halt record of a project in the state store (`halt/<project>.json`),
//! read by the gate before every privileged action. Setting it needs no grant and no
//! confirmation (stopping must always be cheap); lifting it (`resume`) goes through the gate.
//! With the git store, a halt set anywhere stops every later run everywhere.
use crate::error::{Error, ErrorCode, Result};
use crate::ops::guard::HaltSource;
use crate::store::{Change, Key, Store};
use serde::{Deserialize, Serialize};

/// Version of the halt record; anything else reads as corrupt (fail closed: halted).
pub const HALT_VERSION: u32 = 1;
/// A reason is a sentence, not a document.
pub const MAX_REASON_CHARS: usize = 500;

/// The stored state of the kill switch (also kept after a resume, for `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltRecord {
    pub v: u32,
    pub project: String,
    pub halted: bool,
    /// Why it was halted (kept after a resume).
    pub reason: String,
    /// Who last changed it (`Actor::describe`).
    pub by: String,
    /// When it was last changed, Unix seconds.
    pub at: i64,
}

pub fn key(project: &str) -> Result<Key> {
    Key::new(&format!("halt/{project}.json"))
}

/// The project's halt record, if it was ever halted. A record that does not parse is an
/// error: the gate must not read "corrupt" as "not halted".
pub fn read(store: &dyn Store, project: &str) -> Result<Option<HaltRecord>> {
    let key = key(project)?;
    store.read(&key)?.map(|bytes| parse(&key, &bytes)).transpose()
}

fn parse(key: &Key, bytes: &[u8]) -> Result<HaltRecord> {
    let record: HaltRecord = serde_json::from_slice(bytes).map_err(|e| corrupt(key, &e.to_string()))?;
    if record.v != HALT_VERSION {
        return Err(corrupt(key, &format!("unknown version {}", record.v)));
    }
    Ok(record)
}

fn corrupt(key: &Key, why: &str) -> Error {
    Error::new(
        ErrorCode::StateCorrupt,
        format!("the halt record {key} is corrupt ({why}); treating the project as halted"),
    )
    .hint("inspect the state store; `autosd halt` rewrites the record")
}

/// What `halt` or `resume` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    pub record: HaltRecord,
    /// Whether the switch was already in the requested position.
    pub unchanged: bool,
}

/// Sets the kill switch. A corrupt record is overwritten: halting is always possible.
pub fn halt(store: &dyn Store, project: &str, reason: Option<&str>, by: &str, now: i64) -> Result<Switched> {
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("no reason given");
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::new(
            ErrorCode::Usage,
            format!("--reason is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    let record = HaltRecord {
        v: HALT_VERSION,
        project: project.to_string(),
        halted: true,
        reason: reason.to_string(),
        by: by.to_string(),
        at: now,
    };
    switch(store, project, record)
}

/// Lifts the kill switch. Call only through the gate (`Operation::Resume`).
pub fn resume(store: &dyn Store, project: &str, by: &str, now: i64) -> Result<Switched> {
    let previous = read(store, project).or_else(|e| {
        // A corrupt record may be replaced by a clean "not halted" one: resume is gated.
        if e.code == ErrorCode::StateCorrupt {
            Ok(None)
        } else {
            Err(e)
        }
    })?;
    let record = HaltRecord {
        v: HALT_VERSION,
        project: project.to_string(),
        halted: false,
        reason: previous.map(|p| p.reason).unwrap_or_default(),
        by: by.to_string(),
        at: now,
    };
    switch(store, project, record)
}

/// Writes `record` unless the switch is already in its position (then the existing record,
/// with its original reason and author, stays). A corrupt current record is overwritten.
fn switch(store: &dyn Store, project: &str, record: HaltRecord) -> Result<Switched> {
    let key = key(project)?;
    let bytes = serde_json::to_vec(&record)
        .map_err(|e| Error::new(ErrorCode::Internal, format!("halt record: {e}")))?;
    let mut existing = None;
    let mut decide = |current: Option<&[u8]>| -> Result<Change> {
        // The store may call this again after a lost race: decide from scratch each time.
        existing = current
            .and_then(|b| parse(&key, b).ok())
            .filter(|c| c.halted == record.halted);
        Ok(match existing {
            Some(_) => Change::Keep,
            None => Change::Put(bytes.clone()),
        })
    };
    store.update(&key, &mut decide)?;
    Ok(match existing {
        Some(current) => Switched {
            record: current,
            unchanged: true,
        },
        None => Switched {
            record,
            unchanged: false,
        },
    })
}

/// The gate's view of the kill switch, backed by the state store.
pub struct StoreHalts<'s>(pub &'s dyn Store);

impl HaltSource for StoreHalts<'_> {
    fn halted(&self, project: &str) -> Result<Option<String>> {
        match read(self.0, project) {
            Ok(Some(r)) if r.halted => Ok(Some(format!("{}, by {}", r.reason, r.by))),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(&dir.path().join("state")).expect("store");
        (dir, store)
    }

    #[test]
    fn halt_then_resume_round_trip() {
        let (_d, s) = store();
        assert_eq!(read(&s, "p").expect("read"), None);
        assert_eq!(StoreHalts(&s).halted("p").expect("ok"), None);
        let h = halt(&s, "p", Some("db on fire"), "user ann", 10).expect("halt");
        assert!(!h.unchanged && h.record.halted);
        let why = StoreHalts(&s).halted("p").expect("ok").expect("halted");
        assert!(why.contains("db on fire") && why.contains("user ann"), "{why}");
        let again = halt(&s, "p", Some("second"), "user bob", 11).expect("halt");
        assert!(again.unchanged);
        let r = resume(&s, "p", "user ann", 20).expect("resume");
        assert!(!r.unchanged && !r.record.halted);
        assert_eq!(r.record.reason, "db on fire");
        assert_eq!(StoreHalts(&s).halted("p").expect("ok"), None);
        assert!(resume(&s, "p", "user ann", 21).expect("resume").unchanged);
    }

    #[test]
    fn corrupt_record_is_an_error_not_not_halted() {
        let (_d, s) = store();
        let k = key("p").expect("key");
        s.update(&k, &mut |_| Ok(Change::Put(b"{not json".to_vec())))
            .expect("write");
        let err = StoreHalts(&s).halted("p").expect_err("corrupt");
        assert_eq!(err.code, ErrorCode::StateCorrupt);
        // halting over a corrupt record works; so does a (gated) resume
        assert!(halt(&s, "p", None, "u", 1).expect("halt").record.halted);
        s.update(&k, &mut |_| Ok(Change::Put(b"[]".to_vec())))
            .expect("write");
        assert!(!resume(&s, "p", "u", 2).expect("resume").record.halted);
    }

    #[test]
    fn overlong_reason_is_refused() {
        let (_d, s) = store();
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(
            halt(&s, "p", Some(&long), "u", 1).expect_err("long").code,
            ErrorCode::Usage
        );
    }
}
