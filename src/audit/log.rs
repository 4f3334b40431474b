//! Appending to the audit log: exclusive lock, chain onto the last record, one write, fsync,
//! fail closed. The log lives in a local file (`$AUTOSD_HOME/audit.log.jsonl`) or, for CI,
//! under a key of a [`Store`] (see the module docs of [`crate::audit`]).
use super::record::{AuditEvent, GENESIS_PREV, MAX_LINE_BYTES, Phase, Record, RecordActor, sha256_hex};
use super::verify::check_line;
use crate::context::{Context, rfc3339, unix_now};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{Change, Key, Store, fs as sfs};
use serde::Deserialize;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File name of the local audit log inside `$AUTOSD_HOME`.
pub const LOG_FILE: &str = "audit.log.jsonl";
/// Key of the shared audit log in a state store.
pub const STORE_KEY: &str = "audit/audit.log.jsonl";

/// Where the records go.
enum Sink {
    File { path: PathBuf, lock: PathBuf },
    Store { store: Box<dyn Store>, key: Key },
}

/// An open audit log. Cheap to create; every append takes the lock for its duration only.
pub struct AuditLog {
    sink: Sink,
    actor: RecordActor,
}

/// What an append produced: the seq and hash of the caller's record (the new head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl AuditLog {
    /// The local log of `ctx`'s home, written as `ctx`'s actor.
    pub fn open(ctx: &Context) -> AuditLog {
        AuditLog::at(&ctx.home.join(LOG_FILE), RecordActor::from(&ctx.actor()))
    }

    /// A local log at `path` (tests, benchmarks, `audit verify --log`).
    pub fn at(path: &Path, actor: RecordActor) -> AuditLog {
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        AuditLog {
            sink: Sink::File {
                path: path.to_path_buf(),
                lock: PathBuf::from(lock),
            },
            actor,
        }
    }

    /// The shared log kept under [`STORE_KEY`] of `store` (the git branch in CI). Appends are
    /// compare-and-swap updates: on a rejected push the record is re-chained on the new tip.
    pub fn in_store(store: Box<dyn Store>, actor: RecordActor) -> Result<AuditLog> {
        Ok(AuditLog {
            sink: Sink::Store {
                store,
                key: Key::new(STORE_KEY)?,
            },
            actor,
        })
    }

    pub fn describe(&self) -> String {
        match &self.sink {
            Sink::File { path, .. } => format!("audit log {}", path.display()),
            Sink::Store { store, key } => format!("audit log {key} in {}", store.describe()),
        }
    }

    /// Appends `event` as the next record and makes it durable (fsync, or a pushed commit)
    /// before returning. Any failure is `AUTOSD-AUDIT-UNWRITABLE` (or `-TAMPERED` when the
    /// last record does not verify) and leaves the log as it was: the caller must not act.
    pub fn append(&self, event: &AuditEvent) -> Result<Appended> {
        let ts = rfc3339(unix_now());
        match &self.sink {
            Sink::File { path, lock } => self.append_file(path, lock, event, &ts),
            Sink::Store { store, key } => {
                let mut appended = None;
                store
                    .update(key, &mut |old| {
                        let old = old.unwrap_or_default();
                        let plan = plan_append(old, event, &ts, &self.actor)?;
                        let mut next = old[..old.len() - plan.cut].to_vec();
                        next.extend_from_slice(&plan.bytes);
                        appended = Some(plan.appended);
                        Ok(Change::Put(next))
                    })
                    .map_err(|e| unwritable_from(&self.describe(), e))?;
                appended.ok_or_else(|| Error::new(ErrorCode::Internal, "audit append produced no record"))
            }
        }
    }

    fn append_file(&self, path: &Path, lock: &Path, event: &AuditEvent, ts: &str) -> Result<Appended> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::new(
                ErrorCode::AuditUnwritable,
                format!(
                    "cannot {what} the audit log {}: {e}; nothing was done",
                    path.display()
                ),
            )
            .hint("make the audit log writable (permissions, free space) and run the command again")
        };
        if let Some(dir) = path.parent() {
            sfs::ensure_dir(dir, 0o700).map_err(|e| fail("create the directory of", &e.message))?;
        }
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o222 == 0
        {
            // Honoured even for root, who could write anyway: read-only means "no more records".
            return Err(fail("write", &"the file is read-only"));
        }
        let lock = sfs::lock_exclusive(lock).map_err(|e| fail("lock", &e.message))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail("open", &e))?;
        let len = file.metadata().map_err(|e| fail("stat", &e))?.len();
        // The last record is almost always in the last few KiB; read more only if it is not.
        let mut plan = None;
        for window in [len.min(8 * 1024), len.min(2 * MAX_LINE_BYTES as u64 + 2)] {
            let mut tail = vec![0u8; window as usize];
            file.seek(SeekFrom::Start(len - window))
                .and_then(|_| file.read_exact(&mut tail))
                .map_err(|e| fail("read", &e))?;
            let attempt = plan_append_tail(&tail, window == len, event, ts, &self.actor);
            let last_try = window == len || window > 8 * 1024;
            if attempt.is_ok() || last_try {
                plan = Some(attempt?);
                break;
            }
        }
        let plan = plan.ok_or_else(|| Error::new(ErrorCode::Internal, "audit append planned nothing"))?;
        let keep = len - plan.cut as u64;
        if plan.cut > 0 {
            file.set_len(keep)
                .map_err(|e| fail("repair the torn tail of", &e))?;
        }
        if let Err(e) = file.write_all(&plan.bytes) {
            // Cut back any partial write so the log still ends on a whole record.
            let _ = file.set_len(keep).and_then(|()| file.sync_data());
            return Err(fail("append to", &e));
        }
        // fsync after releasing the lock: concurrent writers then share one journal commit
        // (group commit). fdatasync flushes every earlier write to the file too, so what is
        // durable is always a prefix of the chain.
        drop(lock);
        file.sync_data().map_err(|e| fail("make durable", &e))?;
        if len == 0
            && let Some(dir) = path.parent()
        {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(plan.appended)
    }

    /// `(size, head hash)` of the log: the last complete record's seq and hash, read from the
    /// tail only (cheap at any size). The last record must verify on its own.
    pub fn head(&self) -> Result<(u64, String)> {
        let (bytes, whole) = match &self.sink {
            Sink::File { path, .. } => read_tail(path)?,
            Sink::Store { store, key } => (store.read(key)?.unwrap_or_default(), true),
        };
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        last_complete(&bytes[..end], whole)
    }

    /// The whole log as bytes (empty if it does not exist yet).
    pub fn read_all(&self) -> Result<Vec<u8>> {
        match &self.sink {
            // `fs::read` sizes the buffer from the file's length once: a 500 MB log is read
            // without the repeated growth copies of an open-ended read.
            Sink::File { path, .. } => match std::fs::read(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(Error::io("read", path, &e)),
                Ok(bytes) => Ok(bytes),
            },
            Sink::Store { store, key } => Ok(store.read(key)?.unwrap_or_default()),
        }
    }
}

/// A failed store append is `AUTOSD-AUDIT-UNWRITABLE`, except that audit and state-store
/// codes that already say what is wrong (unreachable remote, corrupt branch, …) are kept.
fn unwritable_from(what: &str, e: Error) -> Error {
    match e.code {
        ErrorCode::AuditTampered | ErrorCode::AuditUnwritable => e,
        ErrorCode::StateUnreachable
        | ErrorCode::StateCorrupt
        | ErrorCode::StateConflict
        | ErrorCode::StateGit => {
            let hints = e.hint_lines();
            let mut err = Error::new(
                e.code,
                format!("cannot append to the {what}: {}; nothing was done", e.message),
            );
            for h in hints {
                err = err.hint(h);
            }
            err
        }
        _ => Error::new(
            ErrorCode::AuditUnwritable,
            format!("cannot append to the {what}: {}; nothing was done", e.message),
        )
        .hint(e.hint_lines().into_iter().next().unwrap_or_default()),
    }
}

/// What to do to the end of the log: cut `cut` torn bytes, then write `bytes`.
#[derive(Debug)]
struct Plan {
    cut: usize,
    bytes: Vec<u8>,
    appended: Appended,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

fn plan_append(log: &[u8], event: &AuditEvent, ts: &str, actor: &RecordActor) -> Result<Plan> {
    plan_append_tail(log, true, event, ts, actor)
}

/// Plans an append from the last bytes of the log (`tail`; `whole` when it is the entire
/// log). A torn last line is cut and replaced by an `event` record that keeps its digest, so
/// a crash during an append neither blocks every later command nor vanishes without trace.
fn plan_append_tail(
    tail: &[u8],
    whole: bool,
    event: &AuditEvent,
    ts: &str,
    actor: &RecordActor,
) -> Result<Plan> {
    let end = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if end == 0 && !whole && !tail.is_empty() {
        return Err(tampered("the end of the audit log holds no complete record"));
    }
    let torn = &tail[end..];
    let (mut seq, mut prev) = last_complete(&tail[..end], whole)?;
    let mut bytes = Vec::new();
    if !torn.is_empty() {
        let repair = AuditEvent::new("audit.torn-tail-discarded", Phase::Event)
            .detail("bytes", &torn.len().to_string())
            .detail("sha256", &sha256_hex(torn));
        let r = Record::seal(&repair, seq + 1, &prev, ts, actor);
        bytes.extend_from_slice(&r.to_line());
        bytes.push(b'\n');
        (seq, prev) = (r.seq, r.hash);
    }
    let r = Record::seal(event, seq + 1, &prev, ts, actor);
    let line = r.to_line();
    if line.len() > MAX_LINE_BYTES {
        return Err(Error::new(
            ErrorCode::AuditUnwritable,
            format!(
                "an audit record of {} bytes exceeds the {MAX_LINE_BYTES}-byte limit; nothing was done",
                line.len()
            ),
        )
        .hint("this is a bug in the caller: audit details must be short"));
    }
    bytes.extend_from_slice(&line);
    bytes.push(b'\n');
    Ok(Plan {
        cut: torn.len(),
        bytes,
        appended: Appended {
            seq: r.seq,
            hash: r.hash,
        },
    })
}

/// Seq and hash of the last record in `complete` (bytes ending on a newline, or empty).
/// `whole` says `complete` starts at the beginning of the log.
fn last_complete(complete: &[u8], whole: bool) -> Result<(u64, String)> {
    match complete[..complete.len().saturating_sub(1)]
        .rsplit(|&b| b == b'\n')
        .next()
        .filter(|l| !l.is_empty())
    {
        None if whole => Ok((0, GENESIS_PREV.to_string())),
        None => Err(tampered("the end of the audit log holds no complete record")),
        Some(last) => {
            let seq = serde_json::from_slice::<SeqOnly>(last)
                .map_err(|_| tampered("the last audit record cannot be read"))?
                .seq;
            let prev_of_last = prev_field(last).unwrap_or_default();
            let hash = check_line(last, seq, &prev_of_last).map_err(|reason| {
                tampered(&format!(
                    "the last audit record (seq {seq}) does not verify: {reason}"
                ))
            })?;
            Ok((seq, hash.to_string()))
        }
    }
}

/// The last bytes of the log file (enough for the last record and a torn line after it), and
/// whether they are the whole file.
fn read_tail(path: &Path) -> Result<(Vec<u8>, bool)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), true)),
        Err(e) => return Err(Error::io("read", path, &e)),
    };
    let len = file.metadata().map_err(|e| Error::io("stat", path, &e))?.len();
    let window = len.min(2 * MAX_LINE_BYTES as u64 + 2);
    let mut tail = vec![0u8; window as usize];
    file.seek(SeekFrom::Start(len - window))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| Error::io("read", path, &e))?;
    Ok((tail, window == len))
}

/// The `prev` a line claims, read without a full parse (the hash check covers the rest).
fn prev_field(line: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct PrevOnly {
        prev: String,
    }
    serde_json::from_slice::<PrevOnly>(line).ok().map(|p| p.prev)
}

fn tampered(msg: &str) -> Error {
    Error::new(ErrorCode::AuditTampered, format!("{msg}; refusing to append"))
        .hint("run `autosd audit verify` to find the first bad record")
}

#[cfg(test)]
mod tests {
    use super::super::verify::{Finding, verify};
    use super::*;

    fn actor() -> RecordActor {
        RecordActor::User { name: "t".into() }
    }

    #[test]
    fn appends_chain_and_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::at(&dir.path().join(LOG_FILE), actor());
        for i in 1..=3 {
            let a = log
                .append(&AuditEvent::new("halt", Phase::Intent))
                .expect("append");
            assert_eq!(a.seq, i);
        }
        let r = verify(&log.read_all().expect("read"), None);
        assert_eq!((r.records, r.finding), (3, None));
    }

    #[test]
    fn torn_tail_is_cut_and_recorded_on_next_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOG_FILE);
        let log = AuditLog::at(&path, actor());
        log.append(&AuditEvent::new("halt", Phase::Intent))
            .expect("append");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"v\":1,\"seq\":2,\"pre").expect("tear");
        assert!(matches!(
            verify(&log.read_all().expect("read"), None).finding,
            Some(Finding::TornTail { seq: 2, .. })
        ));
        let a = log
            .append(&AuditEvent::new("halt", Phase::Outcome))
            .expect("append");
        assert_eq!(a.seq, 3);
        let bytes = log.read_all().expect("read");
        assert_eq!(verify(&bytes, None).finding, None);
        assert!(String::from_utf8_lossy(&bytes).contains("audit.torn-tail-discarded"));
    }

    #[test]
    fn read_only_and_tampered_logs_refuse_and_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOG_FILE);
        let log = AuditLog::at(&path, actor());
        log.append(&AuditEvent::new("halt", Phase::Intent))
            .expect("append");
        let before = std::fs::read(&path).expect("read");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        let err = log
            .append(&AuditEvent::new("halt", Phase::Intent))
            .expect_err("read-only");
        assert_eq!(err.code, ErrorCode::AuditUnwritable);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut edited = before.clone();
        edited[40] ^= 1;
        std::fs::write(&path, &edited).expect("write");
        let err = log
            .append(&AuditEvent::new("halt", Phase::Intent))
            .expect_err("tampered");
        assert_eq!(err.code, ErrorCode::AuditTampered);
        assert_eq!(std::fs::read(&path).expect("read"), edited);
    }

    #[test]
    fn full_device_is_unwritable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOG_FILE);
        std::os::unix::fs::symlink("/dev/full", &path).expect("symlink");
        let err = AuditLog::at(&path, actor())
            .append(&AuditEvent::new("halt", Phase::Intent))
            .expect_err("full");
        assert_eq!(err.code, ErrorCode::AuditUnwritable);
    }
}
