//! Finding and reading the files to lint: repository discovery (workflows and every action
//! metadata file), explicit files and directories, stdin, and the [`LocalFiles`] cache rules
//! use to follow `uses: ./…`. This is the linter's only file-system access.
use super::{Config, FileKind, FileReport, LocalFiles, ParsedFile, lint_parsed};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Directories never searched for action metadata: VCS data, dependency and build trees.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    "vendor",
    ".venv",
    "venv",
    "__pycache__",
];

/// One file to lint: the path shown in findings and where to read it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub display: String,
    pub path: PathBuf,
    /// The repository root `uses: ./…` paths are resolved against.
    pub root: PathBuf,
}

/// Why a path could not be linted; the CLI turns it into exit code 2.
#[derive(Debug)]
pub struct SourceError {
    pub path: PathBuf,
    pub message: String,
}

/// The workflows (`.github/workflows/*.yml|yaml`, not recursive, as GitHub reads them) and
/// every `action.yml|yaml` below `root`.
pub fn discover_repository(root: &Path, display_base: &str) -> Result<Vec<Target>, SourceError> {
    let mut out = Vec::new();
    let wf_dir = root.join(".github").join("workflows");
    if wf_dir.is_dir() {
        let mut files: Vec<PathBuf> = read_dir(&wf_dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_yaml(p))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| target(&p, root, display_base)));
    }
    let mut actions = Vec::new();
    walk(root, &mut |p| {
        if is_action_metadata(p) {
            actions.push(p.to_path_buf());
        }
    })?;
    actions.sort();
    out.extend(actions.into_iter().map(|p| target(&p, root, display_base)));
    Ok(out)
}

/// Expands command-line paths: a file is linted as is; a repository root (holding
/// `.github/`) is discovered like the default; any other directory yields every YAML file
/// below it (the kind is then detected from each file's content).
pub fn expand_paths(paths: &[PathBuf], cwd: &Path) -> Result<Vec<Target>, SourceError> {
    let mut out = Vec::new();
    for given in paths {
        let joined = if given.is_absolute() {
            given.clone()
        } else {
            cwd.join(given)
        };
        // Canonical, so `..` segments cannot make an unrelated ancestor look like the
        // repository that `uses: ./…` resolves against.
        let abs = std::fs::canonicalize(&joined).unwrap_or(joined);
        let display = given.to_string_lossy().trim_end_matches('/').to_string();
        if abs.is_file() {
            let root = repo_root_of(&abs).unwrap_or_else(|| cwd.to_path_buf());
            out.push(Target {
                display,
                path: abs,
                root,
            });
        } else if abs.is_dir() {
            if abs.join(".github").is_dir() {
                out.extend(discover_repository(&abs, &display)?);
            } else {
                let fallback = repo_root_of(&abs).unwrap_or_else(|| abs.clone());
                let mut files = Vec::new();
                walk(&abs, &mut |p| {
                    if is_yaml(p) {
                        files.push(p.to_path_buf());
                    }
                })?;
                files.sort();
                for f in files {
                    let rel = f.strip_prefix(&abs).unwrap_or(&f).to_string_lossy().into_owned();
                    // Each file resolves `uses: ./…` against its own repository (fixture
                    // trees hold several), else against the directory's.
                    let root = repo_root_of(&f)
                        .filter(|r| r.starts_with(&abs))
                        .unwrap_or_else(|| fallback.clone());
                    out.push(Target {
                        display: join_display(&display, &rel),
                        path: f,
                        root,
                    });
                }
            }
        } else {
            return Err(SourceError {
                path: given.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    Ok(out)
}

fn target(p: &Path, root: &Path, base: &str) -> Target {
    let rel = p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned();
    Target {
        display: join_display(base, &rel),
        path: p.to_path_buf(),
        root: root.to_path_buf(),
    }
}

fn join_display(base: &str, rel: &str) -> String {
    if base.is_empty() || base == "." {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

fn is_action_metadata(p: &Path) -> bool {
    matches!(
        p.file_name().and_then(|n| n.to_str()),
        Some("action.yml" | "action.yaml")
    )
}

/// The nearest ancestor holding `.github/` (the repository root for `uses: ./…`).
fn repo_root_of(p: &Path) -> Option<PathBuf> {
    p.ancestors()
        .skip(1)
        .find(|a| a.join(".github").is_dir())
        .map(Path::to_path_buf)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SourceError {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
}

/// Depth-first walk calling `visit` on every file; skips [`SKIPPED_DIRS`] and symlinked
/// directories (no cycles), bounded in depth.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) -> Result<(), SourceError> {
    fn inner(dir: &Path, depth: usize, visit: &mut dyn FnMut(&Path)) {
        if depth > 32 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<(PathBuf, bool)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let ft = e.file_type().ok()?;
                Some((e.path(), ft.is_dir()))
            })
            .collect();
        paths.sort();
        for (p, is_dir) in paths {
            if is_dir {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if !SKIPPED_DIRS.contains(&name) {
                    inner(&p, depth + 1, visit);
                }
            } else {
                visit(&p);
            }
        }
    }
    if !dir.is_dir() {
        return Err(SourceError {
            path: dir.to_path_buf(),
            message: "not a directory".into(),
        });
    }
    inner(dir, 0, visit);
    Ok(())
}

/// Reads local actions and reusable workflows below one repository root, parsing each at
/// most once per run.
#[derive(Debug)]
pub struct FsLocalFiles {
    root: PathBuf,
    cache: Mutex<HashMap<String, Option<Arc<ParsedFile>>>>,
}

impl FsLocalFiles {
    pub fn new(root: PathBuf) -> FsLocalFiles {
        FsLocalFiles {
            root,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl LocalFiles for FsLocalFiles {
    fn read(&self, rel: &str) -> Option<Arc<ParsedFile>> {
        let rel = rel.trim_start_matches("./").trim_end_matches('/');
        if rel.split('/').any(|c| c == "..") {
            // `uses: ./../x` would leave the repository; GitHub refuses it too.
            return None;
        }
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(rel)
        {
            return hit.clone();
        }
        let path = self.root.join(rel);
        let parsed = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() <= 16 * 1024 * 1024 => {
                std::fs::read(&path).ok().map(|b| Arc::new(ParsedFile::parse(&b)))
            }
            _ => None,
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(rel.to_string(), parsed.clone());
        }
        parsed
    }
}

/// Reads and lints every target on up to `threads` threads; reports come back in target
/// order. A file that cannot be read is an error for the whole run (exit 2), as promised.
pub fn lint_targets(
    targets: &[Target],
    config: &Config,
    threads: usize,
) -> Result<Vec<FileReport>, SourceError> {
    let mut locals: HashMap<PathBuf, Arc<FsLocalFiles>> = HashMap::new();
    for t in targets {
        locals
            .entry(t.root.clone())
            .or_insert_with(|| Arc::new(FsLocalFiles::new(t.root.clone())));
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<FileReport, SourceError>)>> =
        Mutex::new(Vec::with_capacity(targets.len()));
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(t) = targets.get(i) else { break };
            let result = std::fs::read(&t.path)
                .map_err(|e| SourceError {
                    path: t.path.clone(),
                    message: e.to_string(),
                })
                .map(|bytes| {
                    let local = locals.get(&t.root).map(Arc::clone);
                    let file = Arc::new(ParsedFile::parse(&bytes));
                    let local_ref: &dyn LocalFiles = match &local {
                        Some(l) => l.as_ref(),
                        None => &super::NoLocalFiles,
                    };
                    lint_parsed(&t.display, file, None, config, local_ref)
                });
            if let Ok(mut r) = results.lock() {
                r.push((i, result));
            }
        }
    };
    let threads = threads.clamp(1, 8).min(targets.len().max(1));
    // The schema compile is the largest fixed cost of a run (most of a single-file run):
    // start it on its own thread while the workers read and parse. The kind is only guessed
    // from the file name here; a wrong guess costs time, never findings.
    let warm: Vec<FileKind> = [FileKind::Workflow, FileKind::Action]
        .into_iter()
        .filter(|k| config.is_enabled("schema") && targets.iter().any(|t| guess_kind(&t.path) == *k))
        .collect();
    std::thread::scope(|s| {
        for kind in warm {
            s.spawn(move || super::schema::warm(kind));
        }
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The kind a file name suggests (action metadata is always `action.yml`/`action.yaml`).
fn guess_kind(path: &Path) -> FileKind {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("action.yml" | "action.yaml") => FileKind::Action,
        _ => FileKind::Workflow,
    }
}

/// Lints bytes read from stdin, shown as `-`; `uses: ./…` resolves against `cwd`.
pub fn lint_stdin(bytes: &[u8], config: &Config, cwd: &Path, kind: Option<FileKind>) -> FileReport {
    let local = FsLocalFiles::new(cwd.to_path_buf());
    lint_parsed("-", Arc::new(ParsedFile::parse(bytes)), kind, config, &local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_workflows_and_actions_but_not_other_yaml() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (p, body) in [
            (".github/workflows/ci.yml", "on: push\n"),
            (".github/workflows/nested/x.yml", "on: push\n"),
            (
                ".github/actions/setup/action.yaml",
                "runs: {using: composite, steps: []}\n",
            ),
            ("action.yml", "runs: {using: node20, main: x.js}\n"),
            ("node_modules/a/action.yml", "x: 1\n"),
            ("config.yml", "x: 1\n"),
        ] {
            let full = root.join(p);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, body).expect("write");
        }
        let found: Vec<String> = discover_repository(root, "")
            .expect("discover")
            .into_iter()
            .map(|t| t.display)
            .collect();
        assert_eq!(
            found,
            [
                ".github/workflows/ci.yml",
                ".github/actions/setup/action.yaml",
                "action.yml"
            ]
        );
        let missing = expand_paths(&[PathBuf::from("nope.yml")], root);
        assert!(missing.is_err());
    }
}
