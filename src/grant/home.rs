//! The grant module's only file I/O: the layout of `$AUTOSD_HOME` (`keys/`, `trust/`,
//! `grants/`, `preauth.lock`) and of a repository's `.autosd/trust/`, read and written
//! through the crash-safe primitives of `store::fs`. Errors never contain key or token bytes.
use super::keys::{Kid, SigningKeyHandle};
use super::revocation::{REVOCATIONS_FILE, RevocationList, RevocationSet};
use super::strict::parse_json_lenient_ws;
use super::trust::TrustStore;
use super::verify::is_gid;
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;
use crate::store::fs::{FileLock, ensure_dir, lock_exclusive, read_limited, write_atomic};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// File name of the public trust store inside a trust directory.
pub const TRUST_FILE: &str = "keys.json";
/// Where a repository commits its trust store, relative to the repository root.
pub const REPO_TRUST_DIR: &str = ".autosd/trust";

const MAX_TRUST_FILE: u64 = 1024 * 1024;
const MAX_KEY_FILE: u64 = 4096;
const MAX_GRANT_FILE: u64 = 64 * 1024;

pub fn keys_dir(home: &Path) -> PathBuf {
    home.join("keys")
}

pub fn trust_dir(home: &Path) -> PathBuf {
    home.join("trust")
}

pub fn grants_dir(home: &Path) -> PathBuf {
    home.join("grants")
}

pub fn repo_trust_dir(repo_root: &Path) -> PathBuf {
    repo_root.join(REPO_TRUST_DIR)
}

fn key_path(home: &Path, kid: &Kid) -> PathBuf {
    keys_dir(home).join(format!("{kid}.key"))
}

pub fn grant_path(home: &Path, gid: &str) -> PathBuf {
    grants_dir(home).join(format!("{gid}.json"))
}

/// Serialises every writer of keys, trust store, revocation list and grant copies.
pub fn lock_home(home: &Path) -> Result<FileLock> {
    ensure_home(home)?;
    lock_exclusive(&home.join("preauth.lock"))
}

/// Creates the home (0700) if needed; a path that is not a usable directory is refused.
pub fn ensure_home(home: &Path) -> Result<()> {
    if home.exists() && !home.is_dir() {
        return Err(Error::new(
            ErrorCode::HomeUnusable,
            format!("the autosd home {} is not a directory", home.display()),
        )
        .hint("point --home or AUTOSD_HOME at a directory"));
    }
    ensure_dir(home, 0o700)
}

/// Like `write_atomic`, but a missing or unwritable home is reported as such.
fn write_in_home(home: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir, 0o700)?;
    }
    write_atomic(path, bytes, mode).map_err(|mut e| {
        if home_is_readonly(home) {
            e.code = ErrorCode::HomeUnusable;
            e.hints = vec!["make the autosd home writable, or choose another with --home".into()];
        }
        e
    })
}

fn home_is_readonly(home: &Path) -> bool {
    std::fs::metadata(home).is_ok_and(|m| m.permissions().readonly())
}

fn trust_error(path: &Path, problem: &str) -> Error {
    Error::new(
        ErrorCode::TrustInvalid,
        format!("{} is not a valid autosd trust file: {problem}", path.display()),
    )
    .hint("restore it from version control, or write it again with `autosd preauth export-trust DIR`")
}

/// Reads `dir/keys.json`, or `None` when the directory does not exist.
pub fn read_trust_store(dir: &Path) -> Result<Option<TrustStore>> {
    if !dir.exists() {
        return Ok(None);
    }
    let path = dir.join(TRUST_FILE);
    if !path.exists() {
        return Err(trust_error(&path, "the file is missing"));
    }
    let bytes = read_limited(&path, MAX_TRUST_FILE).map_err(|e| trust_error(&path, &e.message))?;
    TrustStore::from_bytes(&bytes)
        .map(Some)
        .map_err(|p| trust_error(&path, &p))
}

/// Reads and authenticates `dir/revocations.dsse` against `trust`. Missing is an error:
/// without it revocation would silently stop working.
pub fn read_revocations(dir: &Path, trust: &TrustStore) -> Result<RevocationList> {
    let path = dir.join(REVOCATIONS_FILE);
    if !path.exists() {
        return Err(trust_error(
            &path,
            "the signed revocation list is missing (refusing to verify without it)",
        ));
    }
    let bytes = read_limited(&path, 4 * 1024 * 1024 + 1).map_err(|e| trust_error(&path, &e.message))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| trust_error(&path, "not UTF-8 text"))?;
    RevocationList::open(trust, text).map_err(|p| trust_error(&path, &p))
}

/// A trust directory's keys and revocations, or `None` when the directory does not exist.
pub fn read_trust_dir(dir: &Path) -> Result<Option<(TrustStore, RevocationSet)>> {
    let Some(trust) = read_trust_store(dir)? else {
        return Ok(None);
    };
    let list = read_revocations(dir, &trust)?;
    let mut set = RevocationSet::default();
    set.add(&list);
    Ok(Some((trust, set)))
}

/// The home's trust store; a missing one means `init-keys` was never run.
pub fn home_trust(home: &Path) -> Result<TrustStore> {
    read_trust_store(&trust_dir(home))?.ok_or_else(|| {
        Error::new(
            ErrorCode::KeyMissing,
            format!("no signing key in {}", home.display()),
        )
        .hint("run `autosd preauth init-keys` first")
    })
}

pub fn write_trust_dir(home: &Path, dir: &Path, trust: &TrustStore, revocations: &str) -> Result<()> {
    ensure_dir(dir, 0o755)?;
    // Revocations first: a crash in between leaves the old keys with the newer list.
    write_in_home(
        home,
        &dir.join(REVOCATIONS_FILE),
        format!("{revocations}\n").as_bytes(),
        0o644,
    )?;
    write_in_home(home, &dir.join(TRUST_FILE), &trust.to_bytes(), 0o644)
}

/// The signed revocation list text of the home (one line).
pub fn read_revocations_text(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(REVOCATIONS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_limited(&path, 4 * 1024 * 1024 + 1)?;
    String::from_utf8(bytes)
        .map(|s| Some(s.trim_end().to_string()))
        .map_err(|_| trust_error(&path, "not UTF-8 text"))
}

/// Writes a private key (0600) under `keys/`.
pub fn write_signing_key(home: &Path, key: &SigningKeyHandle, now: i64) -> Result<PathBuf> {
    let path = key_path(home, key.kid());
    ensure_dir(&keys_dir(home), 0o700)?;
    write_in_home(home, &path, key.to_file_bytes(now).expose(), 0o600)?;
    Ok(path)
}

pub fn remove_signing_key(home: &Path, kid: &Kid) {
    let _ = std::fs::remove_file(key_path(home, kid));
}

/// The active signing key. Refuses a key file that group or others may read or write.
pub fn load_signing_key(home: &Path) -> Result<SigningKeyHandle> {
    let trust = home_trust(home)?;
    let active = trust.active().ok_or_else(|| {
        Error::new(ErrorCode::KeyMissing, "the trust store has no active key")
            .hint("run `autosd preauth rotate-keys` or `autosd preauth init-keys --force`")
    })?;
    let path = key_path(home, &active.kid);
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::new(
            ErrorCode::KeyMissing,
            format!(
                "the private key of {} is missing ({}): {e}",
                active.kid,
                path.display()
            ),
        )
        .hint("restore the key file, or start over with `autosd preauth init-keys --force`")
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::new(
            ErrorCode::KeyInsecure,
            format!(
                "refusing to use {}: its mode {mode:04o} lets group or others access it",
                path.display()
            ),
        )
        .hint(format!("chmod 600 {}", path.display())));
    }
    let bytes = read_limited(&path, MAX_KEY_FILE)?;
    let key = SigningKeyHandle::from_file_bytes(&bytes).map_err(|p| {
        Error::new(
            ErrorCode::StateCorrupt,
            format!("the private key file {} is corrupt: {p}", path.display()),
        )
        .hint("restore it from a backup, or start over with `autosd preauth init-keys --force`")
    })?;
    if key.kid() != &active.kid || key.public() != active.public {
        return Err(Error::new(
            ErrorCode::StateCorrupt,
            format!(
                "the private key file {} does not match the trust store",
                path.display()
            ),
        ));
    }
    Ok(key)
}

/// The local copy of a grant: what `--preauth-grant <grant_id>` resolves to.
#[derive(Debug, Clone)]
pub struct GrantCopy {
    pub gid: String,
    pub created_at: i64,
    pub token: Secret<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrantCopy {
    v: u32,
    gid: String,
    created_at: i64,
    token: String,
}

pub fn write_grant_copy(home: &Path, copy: &GrantCopy) -> Result<PathBuf> {
    let raw = RawGrantCopy {
        v: 1,
        gid: copy.gid.clone(),
        created_at: copy.created_at,
        token: copy.token.expose().clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&raw).unwrap_or_default();
    bytes.push(b'\n');
    let path = grant_path(home, &copy.gid);
    ensure_dir(&grants_dir(home), 0o700)?;
    write_in_home(home, &path, &bytes, 0o600)?;
    Ok(path)
}

pub fn grant_copy_exists(home: &Path, gid: &str) -> bool {
    is_gid(gid) && grant_path(home, gid).is_file()
}

/// Reads `grants/<gid>.json`; `gid` must already have the `g-…` shape.
pub fn read_grant_copy(home: &Path, gid: &str) -> Result<GrantCopy> {
    let path = grant_path(home, gid);
    if !is_gid(gid) || !path.exists() {
        return Err(
            Error::new(ErrorCode::GrantNotFound, format!("no local grant {gid}"))
                .hint("list the local grants with `autosd preauth list`"),
        );
    }
    let corrupt = |problem: String| {
        Error::new(
            ErrorCode::StateCorrupt,
            format!("the grant file {} is corrupt: {problem}", path.display()),
        )
        .hint("revoke the grant (`autosd preauth revoke ID`) and create a new one")
    };
    let bytes = read_limited(&path, MAX_GRANT_FILE).map_err(|e| corrupt(e.message))?;
    let raw: RawGrantCopy = parse_json_lenient_ws(&bytes).map_err(|p| corrupt(p.0))?;
    if raw.v != 1 || raw.gid != gid {
        return Err(corrupt("version or grant id does not match the file name".into()));
    }
    Ok(GrantCopy {
        gid: raw.gid,
        created_at: raw.created_at,
        token: Secret::new(raw.token),
    })
}

/// Every local grant id, sorted (temp files and strangers are skipped).
pub fn list_grant_ids(home: &Path) -> Result<Vec<String>> {
    let dir = grants_dir(home);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, &e))?;
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter(|id| is_gid(id))
        .collect();
    ids.sort();
    Ok(ids)
}

/// The nearest ancestor of `start` (itself included) holding `.autosd/trust/`: the
/// repository whose committed trust store applies.
pub fn find_repo_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| repo_trust_dir(dir).is_dir())
        .map(Path::to_path_buf)
}
