//! The `git` state backend: state lives as files on a dedicated branch (default
//! `autosd-state`) of a remote, so it outlives throw-away CI runners and is shared by every
//! clone. A bare cache repository under `$AUTOSD_HOME/git-state/<sha256(url)[..16]>/` holds
//! the objects; no working tree is ever checked out, every change is built with plumbing
//! (`hash-object`, a private index, `write-tree`, `commit-tree`) on top of the tip just fetched.
//!
//! Every operation fetches first, so a halt pushed from a laptop is seen by the next command
//! of a fresh runner. Writes are compare-and-swap through the push: a non-fast-forward push
//! means someone else wrote first, so the backend refetches, runs the update closure again on
//! the new value and retries, at most [`MAX_ATTEMPTS`] times. Appends are updates whose closure
//! adds the line to whatever the fresh tip holds, so concurrent appends merge by construction.
//!
//! The branch root holds a marker, [`MARKER_KEY`]; a branch that exists without it, or with
//! entries that are not plain files under valid keys, is reported as `AUTOSD-STATE-CORRUPT`
//! rather than guessed at. The remote URL may carry credentials: it is passed to git as a
//! secret argument and shown only with its user-info removed.
use super::{Change, Key, MAX_VALUE_BYTES, Store, UpdateFn, check_line, fs as sfs};
use crate::error::{Error, ErrorCode, Result};
use crate::process::{self, Cmd, Output};
use crate::secret::Secret;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bounded retries of a rejected push; each one refetches and re-applies the change.
pub const MAX_ATTEMPTS: u32 = 16;
/// The marker file at the branch root that says "this is an autosd state branch, format 1".
pub const MARKER_KEY: &str = "autosd-state.json";
const MARKER: &[u8] = b"{\"format\":\"autosd-state\",\"v\":1}\n";
/// Local ref in the cache that mirrors the remote branch after each fetch.
const TIP_REF: &str = "refs/autosd/tip";
const NETWORK_TIMEOUT: Duration = Duration::from_secs(60);
const LOCAL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct GitStore {
    remote: Secret<String>,
    branch: String,
    cache: PathBuf,
    lock: PathBuf,
    /// Blob id of a marker already checked to hold exactly [`MARKER`]: later operations
    /// compare ids instead of reading the blob again.
    marker_ok: std::sync::Mutex<Option<String>>,
}

/// The fetched tip and its files: key → blob id.
#[derive(Debug)]
struct Snapshot {
    tip: Option<String>,
    files: BTreeMap<Key, String>,
}

impl GitStore {
    /// Prepares the cache for `remote` under `home/git-state/`. Does not touch the network.
    pub fn open(home: &Path, remote: &str, branch: &str) -> Result<GitStore> {
        if remote.trim().is_empty() {
            return Err(
                Error::new(ErrorCode::Usage, "the git state store needs a remote URL")
                    .hint("pass --state-remote URL or set the remote in the project file"),
            );
        }
        // A "URL" starting with '-' would reach git as an option (`--upload-pack=…` runs a
        // command); the remote may come from a project file an attacker can edit in a PR.
        if remote.starts_with('-') || remote.contains(['\n', '\r', '\0']) {
            return Err(Error::new(
                ErrorCode::Usage,
                "the git state remote must be a URL or path, not an option",
            ));
        }
        let valid_branch = !branch.is_empty()
            && branch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
            && !branch.contains("..")
            && !branch.starts_with(['/', '.', '-'])
            && !branch.ends_with(['/', '.']);
        if !valid_branch {
            return Err(Error::new(
                ErrorCode::Usage,
                format!("`{branch}` is not a valid state branch name"),
            ));
        }
        let digest = Sha256::digest(remote.as_bytes());
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let base = home.join("git-state");
        sfs::ensure_dir(&base, 0o700)?;
        Ok(GitStore {
            remote: Secret::new(remote.to_string()),
            branch: branch.to_string(),
            cache: base.join(&id),
            lock: base.join(format!("{id}.lock")),
            marker_ok: std::sync::Mutex::new(None),
        })
    }

    /// The bare cache repository (for tests and `status`).
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    fn git(&self) -> Cmd {
        Cmd::new("git")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", "autosd")
            .env("GIT_AUTHOR_EMAIL", "autosd@localhost")
            .env("GIT_COMMITTER_NAME", "autosd")
            .env("GIT_COMMITTER_EMAIL", "autosd@localhost")
            .args(["-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"])
            .timeout(LOCAL_TIMEOUT)
    }

    fn git_dir(&self) -> Cmd {
        self.git().arg("--git-dir").arg(self.cache.as_os_str())
    }

    /// Runs a local git command that must succeed; returns trimmed stdout.
    fn local(&self, cmd: Cmd) -> Result<String> {
        let shown = cmd.display();
        let out = process::run(&cmd).map_err(|e| self.git_error(e))?;
        if !out.success() {
            return Err(Error::new(
                ErrorCode::StateGit,
                format!("`{shown}` failed: {}", first_line(&self.scrub(&out.stderr_str()))),
            ));
        }
        Ok(out.stdout_str().trim_end().to_string())
    }

    fn git_error(&self, err: Error) -> Error {
        Error::new(ErrorCode::StateGit, self.scrub(&err.message)).hint(
            err.hint_lines()
                .into_iter()
                .next()
                .unwrap_or_else(|| "install git".into()),
        )
    }

    /// Removes the raw remote (which may embed a token) from text git printed.
    fn scrub(&self, text: &str) -> String {
        text.replace(self.remote.expose().as_str(), &redact_url(self.remote.expose()))
    }

    fn ensure_cache(&self) -> Result<()> {
        if self.cache.join("HEAD").is_file() {
            return Ok(());
        }
        let tmp = self.cache.with_extension(format!("init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        self.local(
            self.git()
                .args(["init", "--bare", "--quiet"])
                .arg(tmp.as_os_str()),
        )?;
        std::fs::rename(&tmp, &self.cache).map_err(|e| Error::io("create git cache", &self.cache, &e))
    }

    /// Fetches the branch; `None` tip when the remote has no such branch yet.
    fn fetch(&self) -> Result<Snapshot> {
        let refspec = format!("+refs/heads/{}:{TIP_REF}", self.branch);
        let cmd = self
            .git_dir()
            .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"])
            .secret_arg(self.remote.clone())
            .arg(refspec)
            .timeout(NETWORK_TIMEOUT);
        let out = process::run(&cmd).map_err(|e| self.unreachable(&e.message))?;
        let tip = if out.success() {
            Some(
                self.local(
                    self.git_dir()
                        .args(["rev-parse", "--verify", "--quiet"])
                        .arg(format!("{TIP_REF}^{{commit}}")),
                )
                .map_err(|_| self.corrupt("the branch tip is not a commit"))?,
            )
        } else if out.stderr_str().contains("couldn't find remote ref") {
            let _ = process::run(&self.git_dir().args(["update-ref", "-d", TIP_REF]));
            None
        } else {
            return Err(self.unreachable(&out.stderr_str()));
        };
        let files = match &tip {
            Some(tip) => self.list_tree(tip)?,
            None => BTreeMap::new(),
        };
        let snap = Snapshot { tip, files };
        self.check_marker(&snap)?;
        Ok(snap)
    }

    fn list_tree(&self, tip: &str) -> Result<BTreeMap<Key, String>> {
        let listing = self.local(
            self.git_dir()
                .args(["ls-tree", "-r", "-z", "-l", "--full-tree"])
                .arg(tip),
        )?;
        let mut files = BTreeMap::new();
        for entry in listing.split('\0').filter(|e| !e.is_empty()) {
            // "<mode> SP <type> SP <oid> SP+ <size> TAB <path>"
            let (meta, path) = entry
                .split_once('\t')
                .ok_or_else(|| self.corrupt("unreadable tree listing"))?;
            let mut parts = meta.split_whitespace();
            let (mode, kind, oid, size) = (parts.next(), parts.next(), parts.next(), parts.next());
            if kind != Some("blob") || !matches!(mode, Some("100644") | Some("100755")) {
                return Err(self.corrupt(&format!("`{path}` is not a plain file")));
            }
            if size
                .and_then(|s| s.parse::<u64>().ok())
                .is_none_or(|s| s > MAX_VALUE_BYTES)
            {
                return Err(self.corrupt(&format!("`{path}` is larger than {MAX_VALUE_BYTES} bytes")));
            }
            let key =
                Key::new(path).map_err(|_| self.corrupt(&format!("`{path}` is not a valid state key")))?;
            files.insert(key, oid.unwrap_or_default().to_string());
        }
        Ok(files)
    }

    fn check_marker(&self, snap: &Snapshot) -> Result<()> {
        if snap.tip.is_none() {
            return Ok(());
        }
        let marker = Key::new(MARKER_KEY)?;
        let Some(oid) = snap.files.get(&marker) else {
            return Err(self.corrupt(&format!("the branch has no {MARKER_KEY} marker")));
        };
        let mut known = self.marker_ok.lock().unwrap_or_else(|p| p.into_inner());
        if known.as_deref() == Some(oid.as_str()) {
            return Ok(());
        }
        if self.blob(oid)? != MARKER {
            return Err(self.corrupt(&format!("{MARKER_KEY} names an unknown format or version")));
        }
        *known = Some(oid.clone());
        Ok(())
    }

    /// A blob's bytes; its size was bounded when the tree was listed.
    fn blob(&self, oid: &str) -> Result<Vec<u8>> {
        let cmd = self.git_dir().args(["cat-file", "blob", oid]);
        let out: Output = process::run(&cmd).map_err(|e| self.git_error(e))?;
        if !out.success() {
            return Err(self.corrupt(&format!("blob {oid} cannot be read")));
        }
        Ok(out.stdout)
    }

    fn value(&self, snap: &Snapshot, key: &Key) -> Result<Option<Vec<u8>>> {
        snap.files.get(key).map(|oid| self.blob(oid)).transpose()
    }

    /// Builds a commit on `snap.tip` that applies `change` to `key`.
    fn commit(&self, snap: &Snapshot, key: &Key, change: &Change) -> Result<String> {
        let index = self.cache.join("autosd.index");
        let _ = std::fs::remove_file(&index);
        let with_index = |cmd: Cmd| cmd.env("GIT_INDEX_FILE", &index.to_string_lossy());
        match &snap.tip {
            Some(tip) => self.local(with_index(self.git_dir().arg("read-tree").arg(tip)))?,
            None => {
                let oid = self.write_blob(MARKER)?;
                self.local(with_index(
                    self.git_dir()
                        .args(["update-index", "--add", "--cacheinfo"])
                        .arg(format!("100644,{oid},{MARKER_KEY}")),
                ))?
            }
        };
        let (verb, update) = match change {
            Change::Put(bytes) => {
                let oid = self.write_blob(bytes)?;
                (
                    "put",
                    vec![
                        "--add".to_string(),
                        "--cacheinfo".into(),
                        format!("100644,{oid},{key}"),
                    ],
                )
            }
            Change::Delete => (
                "delete",
                vec!["--force-remove".to_string(), "--".into(), key.to_string()],
            ),
            Change::Keep => return Err(Error::new(ErrorCode::Internal, "commit of an unchanged key")),
        };
        // `--force-remove` insists on a work tree although it never touches one.
        let worktree = self.git_dir().arg("--work-tree").arg(self.cache.as_os_str());
        self.local(with_index(worktree.arg("update-index").args(update)))?;
        let tree = self.local(with_index(self.git_dir().arg("write-tree")))?;
        let _ = std::fs::remove_file(&index);
        let mut cmd = self.git_dir().arg("commit-tree").arg(&tree);
        if let Some(tip) = &snap.tip {
            cmd = cmd.arg("-p").arg(tip);
        }
        // A nonce makes every commit unique: two writers making the same change on the same
        // tip in the same second would otherwise build the *same* commit, and the second
        // push would "succeed" as a no-op, silently losing that writer's update.
        let mut nonce = [0u8; 8];
        let _ = getrandom::fill(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        self.local(
            cmd.arg("-m")
                .arg(format!("autosd: {verb} {key}\n\nnonce: {nonce}")),
        )
    }

    fn write_blob(&self, bytes: &[u8]) -> Result<String> {
        let file = self.cache.join("autosd.blob");
        std::fs::write(&file, bytes).map_err(|e| Error::io("write", &file, &e))?;
        let oid = self.local(
            self.git_dir()
                .args(["hash-object", "-w", "--no-filters", "--"])
                .arg(file.as_os_str()),
        );
        let _ = std::fs::remove_file(&file);
        oid
    }

    /// Pushes `commit` as the new branch tip. `Ok(false)` when the remote moved first.
    fn push(&self, commit: &str) -> Result<bool> {
        let cmd = self
            .git_dir()
            .args(["push", "--porcelain", "--quiet"])
            .secret_arg(self.remote.clone())
            .arg(format!("{commit}:refs/heads/{}", self.branch))
            .timeout(NETWORK_TIMEOUT);
        let out = process::run(&cmd).map_err(|e| self.unreachable(&e.message))?;
        if out.success() {
            return Ok(true);
        }
        let text = format!("{}\n{}", out.stdout_str(), out.stderr_str());
        const RACES: &[&str] = &[
            "non-fast-forward",
            "fetch first",
            "failed to update ref",
            "cannot lock ref",
            "incorrect old value",
            "failed to lock",
        ];
        if RACES.iter().any(|r| text.contains(r)) {
            return Ok(false);
        }
        if text.contains("remote rejected") {
            return Err(Error::new(
                ErrorCode::StateGit,
                format!(
                    "the remote refused the state update: {}",
                    first_line(&self.scrub(&text))
                ),
            )
            .hint(format!(
                "check branch protection on `{}`: autosd must be allowed to push it",
                self.branch
            )));
        }
        Err(self.unreachable(&text))
    }

    /// The compare-and-swap loop shared by `update` and `append`.
    fn change(&self, key: &Key, f: &mut UpdateFn<'_>) -> Result<Option<Vec<u8>>> {
        let _lock = sfs::lock_exclusive(&self.lock)?;
        self.ensure_cache()?;
        for attempt in 0..MAX_ATTEMPTS {
            let snap = self.fetch()?;
            let current = self.value(&snap, key)?;
            let change = f(current.as_deref())?;
            if change == Change::Keep || (change == Change::Delete && current.is_none()) {
                return Ok(current);
            }
            let commit = self.commit(&snap, key, &change)?;
            if self.push(&commit)? {
                let _ = process::run(&self.git_dir().args(["update-ref", TIP_REF, &commit]));
                return Ok(match change {
                    Change::Put(bytes) => Some(bytes),
                    _ => None,
                });
            }
            tracing::debug!(%key, attempt, "state push rejected; refetching");
            std::thread::sleep(backoff(attempt));
        }
        Err(Error::new(
            ErrorCode::StateConflict,
            format!(
                "{}: the push of {key} was rejected {MAX_ATTEMPTS} times",
                self.describe()
            ),
        )
        .hint("other writers keep changing the state branch; run the command again"))
    }

    fn unreachable(&self, detail: &str) -> Error {
        Error::new(
            ErrorCode::StateUnreachable,
            format!(
                "cannot reach the git state remote {}: {}",
                redact_url(self.remote.expose()),
                first_line(&self.scrub(detail))
            ),
        )
        .hint("check the URL, the network and your git credentials; nothing was changed")
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::new(
            ErrorCode::StateCorrupt,
            format!(
                "state branch `{}` of {} is corrupt: {what}",
                self.branch,
                redact_url(self.remote.expose())
            ),
        )
        .hint(format!(
            "inspect the branch with `git log {}`; autosd writes only plain files under its keys",
            self.branch
        ))
    }
}

impl Store for GitStore {
    fn describe(&self) -> String {
        format!(
            "git state on branch `{}` of {}",
            self.branch,
            redact_url(self.remote.expose())
        )
    }

    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let _lock = sfs::lock_exclusive(&self.lock)?;
        self.ensure_cache()?;
        let snap = self.fetch()?;
        self.value(&snap, key)
    }

    fn update(&self, key: &Key, f: &mut UpdateFn<'_>) -> Result<Option<Vec<u8>>> {
        if key.as_str() == MARKER_KEY {
            return Err(Error::new(
                ErrorCode::Internal,
                "the state marker is not writable",
            ));
        }
        self.change(key, f)
    }

    fn append(&self, key: &Key, line: &[u8]) -> Result<()> {
        check_line(key, line)?;
        self.update(key, &mut |old| {
            let mut next = old.map(<[u8]>::to_vec).unwrap_or_default();
            if !next.is_empty() && !next.ends_with(b"\n") {
                next.push(b'\n'); // never glue a record onto a torn line
            }
            next.extend_from_slice(line);
            next.push(b'\n');
            Ok(Change::Put(next))
        })
        .map(|_| ())
    }

    fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        let _lock = sfs::lock_exclusive(&self.lock)?;
        self.ensure_cache()?;
        let snap = self.fetch()?;
        Ok(snap
            .files
            .into_keys()
            .filter(|k| k.as_str() != MARKER_KEY && k.as_str().starts_with(prefix))
            .collect())
    }
}

/// Exponential backoff with jitter (half to full of `25 ms · 2^attempt`, capped at 1.6 s):
/// a writer that lost the race waits about as long as a rival's whole fetch-commit-push
/// cycle, so racing writers stop colliding in lock-step.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 25u64 << attempt.min(6);
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = u64::from(u16::from_le_bytes(b)) % (ceiling / 2 + 1);
    Duration::from_millis(ceiling / 2 + jitter)
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no detail")
        .to_string()
}

/// `https://user:token@host/x` → `https://host/x`; anything without user-info unchanged.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}{path}");
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(dir: &Path) -> String {
        let remote = dir.join("remote.git");
        let out = process::run(
            &Cmd::new("git")
                .args(["init", "--bare", "--quiet"])
                .arg(remote.as_os_str()),
        )
        .expect("git runs");
        assert!(out.success(), "{}", out.stderr_str());
        remote.to_string_lossy().into_owned()
    }

    #[test]
    fn put_read_append_list_delete_against_a_bare_repo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = bare(dir.path());
        let a = GitStore::open(&dir.path().join("a"), &remote, "autosd-state").expect("open");
        let b = GitStore::open(&dir.path().join("b"), &remote, "autosd-state").expect("open");
        let halt = Key::new("halt/p.json").expect("key");
        assert_eq!(a.read(&halt).expect("read empty"), None);
        a.update(&halt, &mut |_| Ok(Change::Put(b"{\"halted\":true}".to_vec())))
            .expect("put");
        assert_eq!(
            b.read(&halt).expect("read").as_deref(),
            Some(&b"{\"halted\":true}"[..])
        );
        let ledger = Key::new("ledger/p/prod.jsonl").expect("key");
        b.append(&ledger, b"one").expect("append");
        a.append(&ledger, b"two").expect("append");
        assert_eq!(
            b.read(&ledger).expect("read").as_deref(),
            Some(&b"one\ntwo\n"[..])
        );
        let keys: Vec<String> = a.list("").expect("list").iter().map(Key::to_string).collect();
        assert_eq!(keys, ["halt/p.json", "ledger/p/prod.jsonl"]);
        b.update(&halt, &mut |_| Ok(Change::Delete)).expect("delete");
        assert_eq!(a.read(&halt).expect("read"), None);
    }

    #[test]
    fn redacts_credentials_from_urls() {
        assert_eq!(
            redact_url("https://x-access-token:ghs_abc@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(redact_url("https://github.com/o/r"), "https://github.com/o/r");
        assert_eq!(redact_url("/tmp/bare.git"), "/tmp/bare.git");
        assert_eq!(redact_url("git@github.com:o/r.git"), "git@github.com:o/r.git");
    }

    #[test]
    fn refuses_bad_branch_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "-x", "a..b", "a b", ".x", "x/"] {
            assert!(GitStore::open(dir.path(), "/tmp/r.git", bad).is_err(), "{bad:?}");
        }
        assert!(GitStore::open(dir.path(), "", "autosd-state").is_err());
        let err =
            GitStore::open(dir.path(), "--upload-pack=touch /tmp/x", "autosd-state").expect_err("an option");
        assert_eq!(err.code, ErrorCode::Usage);
    }
}
