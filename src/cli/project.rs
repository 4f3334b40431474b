//! `autosd init`, `halt`, `resume` and `status`: parsing and rendering for the project file
//! and the kill switch. Decisions are in `ops` (the gate) and `policy`.
use crate::audit::checkpoint::{self, SignedCheckpoint};
use crate::audit::verify::{AnchorCheck, Finding, Report, verify};
use crate::cli::confirm::TtyConfirm;
use crate::config::{self, CONFIG_DIR, CONFIG_FILE, ProjectConfig, StateSettings};
use crate::context::{Context, rfc3339};
use crate::error::{Error, ErrorCode, Result};
use crate::ops::guard::Privileged;
use crate::ops::halt::{self, HaltRecord, Switched};
use crate::ops::live::ProjectSession;
use crate::output::{Printer, Render, table};
use crate::policy::Operation;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `--state` / `--state-remote`: override the project file's `state:` section.
#[derive(Debug, Args, Default, Clone)]
pub struct StateArgs {
    /// Where shared state (halts, revocations, ledger) lives, overriding the project file
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub state: Option<CliStateBackend>,
    /// Git URL (or path) of the repository holding the state branch (with --state git)
    #[arg(long, value_name = "URL")]
    pub state_remote: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CliStateBackend {
    Local,
    Git,
}

impl StateArgs {
    /// The state settings to use instead of the project file's, if any flag was given.
    pub fn resolve(&self, config: &ProjectConfig) -> Result<Option<StateSettings>> {
        let file_git = match &config.state {
            StateSettings::Git { remote, branch } => Some((remote.clone(), branch.clone())),
            StateSettings::Local => None,
        };
        match (self.state, &self.state_remote) {
            (None, None) => Ok(None),
            (Some(CliStateBackend::Local), None) => Ok(Some(StateSettings::Local)),
            (Some(CliStateBackend::Local), Some(_)) => Err(Error::new(
                ErrorCode::Usage,
                "--state-remote applies only to --state git",
            )),
            (backend, Some(remote)) if backend.is_some() || file_git.is_some() => {
                let remote = remote.trim();
                if remote.is_empty() || remote.starts_with('-') {
                    return Err(Error::new(
                        ErrorCode::Usage,
                        "--state-remote must be a git URL or path",
                    ));
                }
                let branch = file_git
                    .map(|(_, b)| b)
                    .unwrap_or_else(|| config::DEFAULT_STATE_BRANCH.to_string());
                Ok(Some(StateSettings::Git {
                    remote: remote.to_string(),
                    branch,
                }))
            }
            (_, Some(_)) => Err(Error::new(
                ErrorCode::Usage,
                "--state-remote needs --state git (the project file uses the local store)",
            )),
            (Some(CliStateBackend::Git), None) => match file_git {
                Some((remote, branch)) => Ok(Some(StateSettings::Git { remote, branch })),
                None => Err(Error::new(
                    ErrorCode::Usage,
                    "--state git needs --state-remote URL (the project file names no remote)",
                )),
            },
        }
    }
}

/// Opens the session of the project around the current directory.
pub fn open_session(ctx: &Context, project: Option<&str>, state: &StateArgs) -> Result<ProjectSession> {
    let config = config::discover(&ctx.cwd, project)?;
    let state = state.resolve(&config)?;
    ProjectSession::with_config(ctx, config, state)
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project id to write into the new project file
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// Replace an existing project file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct HaltArgs {
    /// The project to halt; must match the project file
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// Why, recorded in the halt record and the audit trail
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The project to resume; must match the project file
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long)]
    pub force: bool,
    /// A break-glass grant (id or token); needed when the project requires grants
    #[arg(long, value_name = "GRANT")]
    pub preauth_grant: Option<String>,
    /// Demand a grant even if the project file does not
    #[arg(long)]
    pub require_preauth: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The project to report on; must match the project file
    #[arg(long, value_name = "ID")]
    pub project: String,
    /// How far back to look for grant use in the audit log
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    #[command(flatten)]
    pub state: StateArgs,
}

// ---------------------------------------------------------------- init

struct Initialized {
    path: PathBuf,
    project: String,
    replaced: bool,
}

impl Render for Initialized {
    fn human(&self) -> String {
        format!(
            "{} {} for project `{}`\nnext: review the environments, commit the file, and see docs/configuration.md",
            if self.replaced { "replaced" } else { "wrote" },
            self.path.display(),
            self.project
        )
    }

    fn json(&self) -> Value {
        json!({ "path": self.path, "project": self.project, "replaced": self.replaced })
    }
}

pub fn init(ctx: &Context, printer: &Printer, args: InitArgs) -> Result<()> {
    config::check_project_id(&args.project).map_err(|why| Error::new(ErrorCode::Usage, why))?;
    let root = repository_root(&ctx.cwd);
    let dir = root.join(CONFIG_DIR);
    let path = dir.join(CONFIG_FILE);
    let exists = path.exists();
    if exists && !args.force {
        return Err(Error::new(
            ErrorCode::ConfigExists,
            format!("{} already exists", path.display()),
        )
        .hint("edit it, or pass --force to replace it with a fresh one"));
    }
    crate::store::fs::ensure_dir(&dir, 0o755)?;
    crate::store::fs::write_atomic(&path, config::template(&args.project).as_bytes(), 0o644)?;
    printer.print(&Initialized {
        path,
        project: args.project,
        replaced: exists,
    });
    Ok(())
}

/// The nearest directory upwards holding `.git` (a repository or worktree), else `start`.
fn repository_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(start)
        .to_path_buf()
}

// ---------------------------------------------------------------- halt / resume

struct SwitchReport {
    action: &'static str,
    store: String,
    switched: Switched,
    warning: Option<String>,
    checkpoint: Option<SignedCheckpoint>,
}

/// Where the last checkpoint printed by a privileged command is kept, for `status`.
const LAST_CHECKPOINT: &str = "audit.last-checkpoint";

/// Ends a privileged command: signs the audit log's head (and appends it to
/// `$GITHUB_STEP_SUMMARY`), keeps a copy for `status`. A failure here does not undo what
/// was done, so it is a warning on stderr, not an error.
pub fn finish(ctx: &Context, printer: &Printer) -> Option<SignedCheckpoint> {
    match checkpoint::finish_command(ctx) {
        Ok(signed) => {
            keep_last_checkpoint(&ctx.home, &signed);
            Some(signed)
        }
        Err(e) => {
            printer.note(&format!("warning: no audit checkpoint could be signed: {e}"));
            None
        }
    }
}

/// Keeps a copy of the checkpoint for `status`. Deliberately not fsynced (no
/// `write_atomic`): it is a convenience copy of what was just printed, on the path of every
/// denied command, where two extra fsyncs cost more than the rest of the gate. The rename
/// keeps it whole; after a crash it may be missing or stale, and `status` verifies its
/// signature before trusting it.
fn keep_last_checkpoint(home: &Path, signed: &SignedCheckpoint) {
    let path = home.join(LAST_CHECKPOINT);
    let tmp = home.join(format!(".{LAST_CHECKPOINT}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, signed.human()).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(error = %e, "cannot keep the last checkpoint");
    }
}

impl Render for SwitchReport {
    fn human(&self) -> String {
        let r = &self.switched.record;
        let state = if r.halted { "halted" } else { "not halted" };
        let mut out = if self.switched.unchanged {
            format!("project `{}` was already {state}", r.project)
        } else {
            format!("project `{}` {}", r.project, self.action)
        };
        out.push_str(&format!(
            "\n  reason: {}\n  by: {} at {}\n  state: {}",
            r.reason,
            r.by,
            rfc3339(r.at),
            self.store
        ));
        if let Some(w) = &self.warning {
            out.push_str(&format!("\nwarning: {w}"));
        }
        if let Some(c) = &self.checkpoint {
            out.push('\n');
            out.push_str(&c.human());
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "action": self.action,
            "unchanged": self.switched.unchanged,
            "halt": halt_json(Some(&self.switched.record)),
            "state": self.store,
            "warning": self.warning,
            "checkpoint": self.checkpoint.as_ref().map(checkpoint_json),
        })
    }
}

fn checkpoint_json(c: &SignedCheckpoint) -> Value {
    json!({
        "log": c.checkpoint.log,
        "size": c.checkpoint.size,
        "head": c.checkpoint.head,
        "ts": c.checkpoint.ts,
        "kid": c.kid.as_str(),
        "envelope": c.envelope,
    })
}

fn halt_json(record: Option<&HaltRecord>) -> Value {
    match record {
        None => json!({ "halted": false }),
        Some(r) => json!({
            "halted": r.halted,
            "reason": r.reason,
            "by": r.by,
            "at": rfc3339(r.at),
        }),
    }
}

pub fn halt(ctx: &Context, printer: &Printer, args: HaltArgs) -> Result<()> {
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let (switched, audit_error) = session.halt(args.reason.as_deref())?;
    let warning = audit_error.map(|e| {
        tracing::warn!(code = e.code.as_str(), "halt set but not audited");
        format!(
            "the halt is in force, but it could not be recorded in the audit log: {}",
            e.message
        )
    });
    printer.print(&SwitchReport {
        action: "halted",
        store: session.store.describe(),
        switched,
        warning,
        checkpoint: finish(ctx, printer),
    });
    Ok(())
}

pub fn resume(ctx: &Context, printer: &Printer, args: ResumeArgs) -> Result<()> {
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let req = Privileged {
        project: Some(&args.project),
        force: args.force,
        grant_flag: args.preauth_grant.as_deref(),
        require_grant: args.require_preauth,
        ..Privileged::new(Operation::Resume)
    };
    let switched = match session.resume(&req, &mut TtyConfirm { printer }) {
        Ok(s) => s,
        Err(e) => {
            // The refusal is in the audit log too: anchor it before reporting.
            if let Some(c) = finish(ctx, printer) {
                printer.note(&c.human());
            }
            return Err(e);
        }
    };
    printer.print(&SwitchReport {
        action: "resumed",
        store: session.store.describe(),
        switched,
        warning: None,
        checkpoint: finish(ctx, printer),
    });
    Ok(())
}

// ---------------------------------------------------------------- status

/// One grant's use in the audit log.
#[derive(Debug, Default)]
struct GrantUse {
    kid: String,
    uses: u64,
    denied: u64,
    last_ts: String,
    last_op: String,
}

struct Status {
    project: String,
    config_path: PathBuf,
    store: String,
    halt: Option<HaltRecord>,
    audit_log: String,
    audit: Report,
    last_checkpoint: Option<std::result::Result<SignedCheckpoint, String>>,
    since: String,
    /// Which audit log the grant use was read from.
    grants_from: String,
    grants: BTreeMap<String, GrantUse>,
}

impl Render for Status {
    fn human(&self) -> String {
        let mut out = format!(
            "project: {}\nproject file: {}\nstate: {}\n",
            self.project,
            self.config_path.display(),
            self.store
        );
        match &self.halt {
            Some(r) if r.halted => out.push_str(&format!(
                "halt: HALTED since {} by {}: {}\n",
                rfc3339(r.at),
                r.by,
                r.reason
            )),
            Some(r) => out.push_str(&format!(
                "halt: not halted (resumed {} by {})\n",
                rfc3339(r.at),
                r.by
            )),
            None => out.push_str("halt: not halted (never halted)\n"),
        }
        out.push_str(&format!(
            "audit: {} — {} records verify, head {}",
            self.audit_log, self.audit.records, self.audit.head
        ));
        match &self.audit.finding {
            None => out.push('\n'),
            Some(f) => out.push_str(&format!(
                "; then {} (run `autosd audit verify`)\n",
                finding_text(f)
            )),
        }
        match &self.last_checkpoint {
            Some(Ok(c)) => out.push_str(&format!(
                "last checkpoint: size {} head {} at {} (signed by {}): {}\n",
                c.checkpoint.size,
                c.checkpoint.head,
                c.checkpoint.ts,
                c.kid,
                anchor_text(self.audit.anchor.as_ref())
            )),
            Some(Err(why)) => out.push_str(&format!("last checkpoint: unusable ({why})\n")),
            None => out.push_str("last checkpoint: none yet\n"),
        }
        if self.grants.is_empty() {
            out.push_str(&format!(
                "grants used since {} ({}): none\n",
                self.since, self.grants_from
            ));
        } else {
            out.push_str(&format!(
                "grants used since {} ({}):\n",
                self.since, self.grants_from
            ));
            let rows: Vec<Vec<String>> = self
                .grants
                .iter()
                .map(|(gid, u)| {
                    vec![
                        gid.clone(),
                        u.kid.clone(),
                        u.uses.to_string(),
                        u.denied.to_string(),
                        u.last_op.clone(),
                        u.last_ts.clone(),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["GRANT", "KID", "RECORDS", "DENIED", "LAST OP", "LAST USED"],
                &rows,
            ));
        }
        out
    }

    fn json(&self) -> Value {
        let grants: Vec<Value> = self
            .grants
            .iter()
            .map(|(gid, u)| {
                json!({
                    "grant_id": gid,
                    "kid": u.kid,
                    "records": u.uses,
                    "denied": u.denied,
                    "last_op": u.last_op,
                    "last_used": u.last_ts,
                })
            })
            .collect();
        json!({
            "project": self.project,
            "project_file": self.config_path,
            "state": self.store,
            "halt": halt_json(self.halt.as_ref()),
            "audit": {
                "log": self.audit_log,
                "records": self.audit.records,
                "head": self.audit.head,
                "problem": self.audit.finding.as_ref().map(finding_text),
                "last_checkpoint": match &self.last_checkpoint {
                    Some(Ok(c)) => {
                        let mut v = checkpoint_json(c);
                        v["log_matches"] = json!(self.audit.anchor == Some(AnchorCheck::Matches));
                        v["check"] = json!(anchor_text(self.audit.anchor.as_ref()));
                        v
                    }
                    Some(Err(why)) => json!({ "error": why }),
                    None => Value::Null,
                },
            },
            "grants_since": self.since,
            "grants_from": self.grants_from,
            "grants": grants,
        })
    }
}

pub fn status(ctx: &Context, printer: &Printer, args: StatusArgs) -> Result<()> {
    let session = open_session(ctx, Some(&args.project), &args.state)?;
    let halt = halt::read(session.store.as_ref(), &session.config.project)?;
    let log = session.local_audit();
    let since_unix = ctx
        .now_unix()
        .saturating_sub(i64::try_from(args.since.as_secs()).unwrap_or(i64::MAX));
    let bytes = log.read_all()?;
    let last_checkpoint = crate::store::fs::read_limited(&ctx.home.join(LAST_CHECKPOINT), 64 * 1024)
        .ok()
        .map(|bytes| checkpoint::open(&ctx.home, &String::from_utf8_lossy(&bytes)).map_err(|e| e.message));
    let anchor = match &last_checkpoint {
        Some(Ok(c)) => Some(c.checkpoint.anchor()),
        _ => None,
    };
    let audit = verify(&bytes, anchor.as_ref());
    // With the git store, grant use by every machine (CI runs included) is on the branch.
    let (grants_from, grant_log) = match session.shared_audit() {
        Some(shared) => (shared.describe(), shared.read_all()?),
        None => (log.describe(), bytes.clone()),
    };
    printer.print(&Status {
        grants: grant_uses(&grant_log, &session.config.project, since_unix),
        grants_from,
        project: session.config.project.clone(),
        config_path: session.config.path.clone(),
        store: session.store.describe(),
        halt,
        audit_log: log.describe(),
        audit,
        last_checkpoint,
        since: rfc3339(since_unix),
    });
    Ok(())
}

fn finding_text(f: &Finding) -> String {
    match f {
        Finding::Tampered { seq, reason } => format!("record {seq} does not verify: {reason}"),
        Finding::TornTail { seq, bytes } => {
            format!("a torn tail ({bytes} bytes) where record {seq} would be")
        }
    }
}

fn anchor_text(check: Option<&AnchorCheck>) -> String {
    match check {
        Some(AnchorCheck::Matches) => "the log still matches it".to_string(),
        Some(AnchorCheck::Truncated { records }) => {
            format!("the log is TRUNCATED: it holds only {records} records")
        }
        Some(AnchorCheck::Diverged { seq }) => format!("the log DIVERGES from it at record {seq}"),
        None => "not checked (the log does not verify up to it)".to_string(),
    }
}

/// Grants named by this project's audit records since `since` (Unix seconds). Lines that do
/// not parse are skipped: `audit verify` is the judge of the log, status only summarises.
fn grant_uses(log: &[u8], project: &str, since: i64) -> BTreeMap<String, GrantUse> {
    let mut uses: BTreeMap<String, GrantUse> = BTreeMap::new();
    for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let field = |name: &str| record.get(name).and_then(Value::as_str);
        let (Some(gid), Some(ts)) = (field("grant_id"), field("ts")) else {
            continue;
        };
        if field("project") != Some(project) {
            continue;
        }
        let at = humantime::parse_rfc3339(ts)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        if at.is_none_or(|at| at < since) {
            continue;
        }
        let entry = uses.entry(gid.to_string()).or_default();
        entry.kid = field("kid").unwrap_or_default().to_string();
        entry.uses += 1;
        if field("phase") == Some("denied") {
            entry.denied += 1;
        }
        entry.last_ts = ts.to_string();
        entry.last_op = field("op").unwrap_or_default().to_string();
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(state: &str) -> ProjectConfig {
        let text = format!("version: 1\nproject: p\n{state}");
        config::parse(&text, Path::new("c.yml"), Path::new(".")).expect("valid")
    }

    #[test]
    fn state_flags_override_the_file() {
        let local = config("");
        let git = config("state:\n  backend: git\n  remote: /srv/s.git\n  branch: st\n");
        let args = |state, remote: Option<&str>| StateArgs {
            state,
            state_remote: remote.map(str::to_string),
        };
        assert_eq!(args(None, None).resolve(&local).expect("ok"), None);
        assert_eq!(
            args(Some(CliStateBackend::Git), Some("/x.git"))
                .resolve(&local)
                .expect("ok"),
            Some(StateSettings::Git {
                remote: "/x.git".into(),
                branch: config::DEFAULT_STATE_BRANCH.into()
            })
        );
        assert_eq!(
            args(None, Some("/y.git")).resolve(&git).expect("ok"),
            Some(StateSettings::Git {
                remote: "/y.git".into(),
                branch: "st".into()
            })
        );
        assert_eq!(
            args(Some(CliStateBackend::Local), None)
                .resolve(&git)
                .expect("ok"),
            Some(StateSettings::Local)
        );
        for (a, c) in [
            (args(Some(CliStateBackend::Git), None), &local),
            (args(None, Some("/y.git")), &local),
            (args(Some(CliStateBackend::Local), Some("/y.git")), &git),
            (args(Some(CliStateBackend::Git), Some("--upload-pack=x")), &local),
        ] {
            assert_eq!(a.resolve(c).expect_err("refused").code, ErrorCode::Usage);
        }
    }

    #[test]
    fn grant_use_is_summarised_per_grant_and_project() {
        let log = concat!(
            r#"{"seq":1,"ts":"2026-01-01T00:00:00Z","op":"deploy","phase":"intent","project":"p","grant_id":"g-1","kid":"k-1"}"#,
            "\n",
            r#"{"seq":2,"ts":"2026-01-02T00:00:00Z","op":"rollback","phase":"denied","project":"p","grant_id":"g-1","kid":"k-1"}"#,
            "\n",
            r#"{"seq":3,"ts":"2026-01-02T00:00:00Z","op":"deploy","phase":"intent","project":"q","grant_id":"g-2","kid":"k-1"}"#,
            "\n",
            r#"{"seq":4,"ts":"2020-01-02T00:00:00Z","op":"deploy","phase":"intent","project":"p","grant_id":"g-3","kid":"k-1"}"#,
            "\nnot json\n"
        );
        let since = 1_700_000_000; // 2023-11
        let uses = grant_uses(log.as_bytes(), "p", since);
        assert_eq!(uses.keys().collect::<Vec<_>>(), vec!["g-1"]);
        let g = &uses["g-1"];
        assert_eq!((g.uses, g.denied, g.last_op.as_str()), (2, 1, "rollback"));
    }
}
