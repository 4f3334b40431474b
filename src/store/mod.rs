//! Durable shared state behind one object-safe trait, [`Store`], with two backends:
//! [`local`] (files under `$AUTOSD_HOME/state/`, the default) and [`git`] (a dedicated branch
//! of a remote, so state outlives throw-away CI runners). Callers name state by [`Key`]s such
//! as `halt/<project>.json`, `ledger/<project>/<env>.jsonl`, `incidents/<project>.jsonl` and
//! `revocations.json`; the layout is documented in `docs/state.md`.
//!
//! Two write shapes cover every use:
//! - [`Store::update`] is compare-and-swap: the closure sees the current bytes and returns the
//!   change. The git backend may call it more than once (a rejected push means someone else
//!   wrote first; it refetches and calls the closure again on the fresh value), so the
//!   closure must be a pure function of what it is given.
//! - [`Store::append`] adds one line to an append-only key. Appends commute, so concurrent
//!   writers merge by construction: the git backend re-applies the line on top of the new tip.
pub mod fs;
pub mod git;
pub mod local;

use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};

/// Largest value a key may hold; larger content is treated as corrupt, not loaded.
pub const MAX_VALUE_BYTES: u64 = 256 * 1024 * 1024;

/// A validated state key: `/`-separated segments of `[A-Za-z0-9._-]`, none empty, none
/// starting with `.`, so a key can never escape the state root or name git internals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    pub fn new(key: &str) -> Result<Key> {
        let valid = !key.is_empty()
            && key.len() <= 512
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && !seg.starts_with('.')
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if !valid {
            return Err(
                Error::new(ErrorCode::Usage, format!("`{key}` is not a valid state key")).hint(
                    "keys are /-separated names of letters, digits, '.', '_' and '-', none starting with '.'",
                ),
            );
        }
        Ok(Key(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an [`Store::update`] closure wants done with the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Leave the key as it is (no write, no commit).
    Keep,
    Put(Vec<u8>),
    Delete,
}

/// The closure type of [`Store::update`]: current bytes (`None` if absent) in, change out.
/// An `Err` aborts the update without writing and is returned to the caller unchanged.
pub type UpdateFn<'a> = dyn FnMut(Option<&[u8]>) -> Result<Change> + 'a;

/// Durable key/value state with compare-and-swap updates and append-only keys.
pub trait Store: Send + Sync {
    /// A one-line description for messages (`local state in …`, `git state … branch …`).
    /// Never contains credentials.
    fn describe(&self) -> String;

    /// The current bytes of `key`, or `None` if it does not exist.
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>>;

    /// Atomically replaces `key` with what `f` returns for its current value. Returns the
    /// value the key holds afterwards. `f` may run more than once (see the module docs).
    fn update(&self, key: &Key, f: &mut UpdateFn<'_>) -> Result<Option<Vec<u8>>>;

    /// Appends `line` plus `\n` to the append-only `key` (created if missing). `line` must
    /// not contain a newline.
    fn append(&self, key: &Key, line: &[u8]) -> Result<()>;

    /// Every key that starts with `prefix` (a plain string prefix), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<Key>>;
}

/// Which backend holds the state. GATE's project file and `--state`/`--state-remote` flags
/// resolve into this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Files under `$AUTOSD_HOME/state/`.
    Local,
    /// A dedicated branch of a git remote, cached under `$AUTOSD_HOME/git-state/`.
    Git { remote: String, branch: String },
}

/// The branch the git backend uses when the configuration does not name one.
pub const DEFAULT_GIT_BRANCH: &str = "autosd-state";

impl StoreConfig {
    /// A git store on the default branch.
    pub fn git(remote: &str) -> StoreConfig {
        StoreConfig::Git {
            remote: remote.to_string(),
            branch: DEFAULT_GIT_BRANCH.to_string(),
        }
    }
}

/// Opens the configured backend. The git backend contacts the remote lazily (on first use),
/// so opening never blocks on the network.
pub fn open(ctx: &Context, config: &StoreConfig) -> Result<Box<dyn Store>> {
    match config {
        StoreConfig::Local => Ok(Box::new(local::LocalStore::open(&ctx.home.join("state"))?)),
        StoreConfig::Git { remote, branch } => Ok(Box::new(git::GitStore::open(&ctx.home, remote, branch)?)),
    }
}

/// Refuses lines that would break the one-record-per-line shape of append-only keys.
pub(crate) fn check_line(key: &Key, line: &[u8]) -> Result<()> {
    if line.contains(&b'\n') || line.contains(&b'\r') {
        return Err(Error::new(
            ErrorCode::Internal,
            format!("a line appended to {key} contains a newline"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_state_root() {
        for bad in [
            "",
            "/abs",
            "a//b",
            "../x",
            "a/../b",
            ".git/config",
            "a/.hidden",
            "sp ace",
            "a\\b",
            "a/",
        ] {
            assert!(Key::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "halt/p.json",
            "ledger/p/prod.jsonl",
            "revocations.json",
            "a-b_c.d",
        ] {
            assert_eq!(Key::new(good).expect("valid").as_str(), good);
        }
    }
}
