//! The workflow factory: the generator (`autosd generate workflows`: a project file in,
//! the four autosd workflows out, byte-identical on every run), the conformance fixtures and
//! the `verify-factory` release gate with its reports, and the CI mirror. It reads and writes
//! files of the repository; talking to GitHub is `github`'s job, printing is the CLI's.
pub mod input;
pub mod mirror;
pub mod render;
pub mod verify;

use crate::error::Result;
use std::path::{Path, PathBuf};

/// Renders the workflows for `project_file` into `out_dir` (created if needed). Files are
/// replaced atomically and only when their bytes change, so a re-run touches nothing.
/// Returns `(path, changed)` per file, in a fixed order.
pub fn generate(project_file: &Path, out_dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let input = input::load(project_file)?;
    crate::store::fs::ensure_dir(out_dir, 0o755)?;
    let mut written = Vec::new();
    for r in render::render_all(&input) {
        let path = out_dir.join(r.name);
        let same = std::fs::read(&path).is_ok_and(|old| old == r.text.as_bytes());
        if !same {
            crate::store::fs::write_atomic(&path, r.text.as_bytes(), 0o644)?;
        }
        written.push((path, !same));
    }
    Ok(written)
}

/// The repository root for factory commands: the nearest ancestor of `cwd` holding
/// `conformance/`, `.git` or `.autosd/`; `cwd` itself when there is none.
pub fn repo_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| {
            d.join(verify::CONFORMANCE_DIR).is_dir() || d.join(".git").exists() || d.join(".autosd").is_dir()
        })
        .unwrap_or(cwd)
        .to_path_buf()
}
