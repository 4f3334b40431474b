//! The `local` state backend: one file per key under a root directory (by default
//! `$AUTOSD_HOME/state/`). Every write holds the root's exclusive lock (`.lock`), values are
//! replaced atomically through [`super::fs::write_atomic`], appends are fsynced, and a failed
//! append is cut back so a key never keeps a half line.
use super::{Change, Key, MAX_VALUE_BYTES, Store, UpdateFn, check_line, fs as sfs};
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Uses (and creates, 0700) `root`.
    pub fn open(root: &Path) -> Result<LocalStore> {
        sfs::ensure_dir(root, 0o700)?;
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn lock(&self) -> Result<sfs::FileLock> {
        sfs::lock_exclusive(&self.root.join(".lock"))
    }

    fn read_unlocked(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path, &e)),
            Ok(_) => sfs::read_limited(&path, MAX_VALUE_BYTES).map(Some),
        }
    }

    fn ensure_parent(&self, key: &Key) -> Result<()> {
        match self.path(key).parent() {
            Some(parent) => sfs::ensure_dir(parent, 0o700),
            None => Ok(()),
        }
    }
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        format!("local state in {}", self.root.display())
    }

    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        // Under the lock so a concurrent append is never seen half-written.
        let _lock = self.lock()?;
        self.read_unlocked(key)
    }

    fn update(&self, key: &Key, f: &mut UpdateFn<'_>) -> Result<Option<Vec<u8>>> {
        let _lock = self.lock()?;
        let current = self.read_unlocked(key)?;
        match f(current.as_deref())? {
            Change::Keep => Ok(current),
            Change::Put(bytes) => {
                self.ensure_parent(key)?;
                sfs::write_atomic(&self.path(key), &bytes, 0o600)?;
                Ok(Some(bytes))
            }
            Change::Delete => {
                let path = self.path(key);
                match fs::remove_file(&path) {
                    Ok(()) => {
                        if let Some(parent) = path.parent() {
                            let _ = File::open(parent).and_then(|d| d.sync_all());
                        }
                        Ok(None)
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io("delete", &path, &e)),
                }
            }
        }
    }

    fn append(&self, key: &Key, line: &[u8]) -> Result<()> {
        check_line(key, line)?;
        let _lock = self.lock()?;
        self.ensure_parent(key)?;
        append_line(&self.path(key), line)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        let mut keys = Vec::new();
        collect_keys(&self.root, "", &mut keys)?;
        keys.retain(|k: &Key| k.as_str().starts_with(prefix));
        keys.sort();
        Ok(keys)
    }
}

/// Appends `line\n` with `O_APPEND`, fsyncs, and on any failure truncates back to the old
/// length so the file ends on a whole line. Callers hold the lock.
pub(crate) fn append_line(path: &Path, line: &[u8]) -> Result<()> {
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open for append", path, &e))?;
    let before = file.metadata().map_err(|e| Error::io("stat", path, &e))?.len();
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    let written = file.write_all(&buf).and_then(|()| file.sync_data());
    if let Err(e) = written {
        let _ = file.set_len(before).and_then(|()| file.sync_data());
        return Err(Error::io("append to", path, &e));
    }
    if created && let Some(parent) = path.parent() {
        let _ = File::open(parent).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn collect_keys(dir: &Path, prefix: &str, out: &mut Vec<Key>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir, &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // lock and temp files
        }
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(|e| Error::io("list", dir, &e))?;
        if kind.is_dir() {
            collect_keys(&entry.path(), &key, out)?;
        } else if let Ok(k) = Key::new(&key) {
            out.push(k);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).expect("key")
    }

    #[test]
    fn update_read_delete_roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStore::open(&dir.path().join("state")).expect("open");
        let k = key("halt/p.json");
        assert_eq!(s.read(&k).expect("read"), None);
        let after = s
            .update(&k, &mut |old| {
                assert!(old.is_none());
                Ok(Change::Put(b"{}".to_vec()))
            })
            .expect("put");
        assert_eq!(after.as_deref(), Some(&b"{}"[..]));
        assert_eq!(s.read(&k).expect("read").as_deref(), Some(&b"{}"[..]));
        let kept = s.update(&k, &mut |_| Ok(Change::Keep)).expect("keep");
        assert_eq!(kept.as_deref(), Some(&b"{}"[..]));
        assert_eq!(s.update(&k, &mut |_| Ok(Change::Delete)).expect("delete"), None);
        assert_eq!(s.read(&k).expect("read"), None);
    }

    #[test]
    fn closure_error_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStore::open(dir.path()).expect("open");
        let k = key("revocations.json");
        let err = s
            .update(&k, &mut |_| {
                Err(Error::new(crate::error::ErrorCode::Halted, "no"))
            })
            .expect_err("aborts");
        assert_eq!(err.code, crate::error::ErrorCode::Halted);
        assert_eq!(s.read(&k).expect("read"), None);
    }

    #[test]
    fn appends_and_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStore::open(dir.path()).expect("open");
        s.append(&key("ledger/p/prod.jsonl"), b"{\"a\":1}")
            .expect("append");
        s.append(&key("ledger/p/prod.jsonl"), b"{\"a\":2}")
            .expect("append");
        s.append(&key("incidents/p.jsonl"), b"x").expect("append");
        assert!(s.append(&key("incidents/p.jsonl"), b"a\nb").is_err());
        assert_eq!(
            s.read(&key("ledger/p/prod.jsonl")).expect("read").as_deref(),
            Some(&b"{\"a\":1}\n{\"a\":2}\n"[..])
        );
        let all: Vec<String> = s.list("").expect("list").iter().map(|k| k.to_string()).collect();
        assert_eq!(all, ["incidents/p.jsonl", "ledger/p/prod.jsonl"]);
        assert_eq!(s.list("ledger/").expect("list").len(), 1);
    }
}
