//! `autosd audit show` and `autosd audit verify`: parsing and rendering only. Verification
//! itself is `audit::verify` (pure); this file maps its findings to the exit-code table.
use crate::audit::checkpoint::{self, SignedCheckpoint};
use crate::audit::record::{Record, Status, Verdict};
use crate::audit::verify::{AnchorCheck, Finding, Report, verify};
use crate::audit::{AuditLog, log::LOG_FILE};
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::output::{Printer, Render, table};
use crate::store::git::GitStore;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit records, oldest first
    Show(ShowArgs),
    /// Check the hash chain; with --checkpoint, also detect truncation
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Only records of this project
    #[arg(long, value_name = "ID")]
    pub project: Option<String>,
    /// Only records at or after this time: RFC 3339 (2026-01-31T12:00:00Z) or an age (2h, 7d)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    #[command(flatten)]
    pub source: LogSource,
}

/// Which log to read: the local one by default.
#[derive(Debug, Args)]
pub struct LogSource {
    /// Read this log file instead of $AUTOSD_HOME/audit.log.jsonl
    #[arg(long, value_name = "FILE", conflicts_with = "state_remote")]
    pub log: Option<PathBuf>,
    /// Read the shared audit log from the state branch of this git remote (see docs/state.md)
    #[arg(long, value_name = "URL")]
    pub state_remote: Option<String>,
    /// The state branch, with --state-remote
    #[arg(long, value_name = "NAME", default_value = crate::store::DEFAULT_GIT_BRANCH, requires = "state_remote")]
    pub state_branch: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A checkpoint printed by autosd (the `autosd.checkpoint.…` line, or the whole block)
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub source: LogSource,
}

pub fn run(ctx: &Context, printer: &Printer, args: AuditArgs) -> Result<()> {
    match args.command {
        AuditCommand::Show(a) => show(ctx, printer, a),
        AuditCommand::Verify(a) => verify_cmd(ctx, printer, a),
    }
}

/// The log named by the flags and a description of it for messages.
fn open_log(ctx: &Context, source: LogSource) -> Result<(AuditLog, String)> {
    let actor = (&ctx.actor()).into();
    if let Some(remote) = &source.state_remote {
        let store = GitStore::open(&ctx.home, remote, &source.state_branch)?;
        let log = AuditLog::in_store(Box::new(store), actor)?;
        let what = log.describe().trim_start_matches("audit log ").to_string();
        return Ok((log, what));
    }
    let path = source.log.unwrap_or_else(|| ctx.home.join(LOG_FILE));
    Ok((AuditLog::at(&path, actor), path.display().to_string()))
}

struct Shown {
    records: Vec<Record>,
    unreadable: usize,
}

impl Render for Shown {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .records
            .iter()
            .map(|r| {
                let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
                let decision = r
                    .decision
                    .as_ref()
                    .map_or("-".to_string(), |d| match (&d.verdict, &d.code) {
                        (Verdict::Allow, _) => "allow".into(),
                        (Verdict::Deny, Some(code)) => format!("deny {code}"),
                        (Verdict::Deny, None) => "deny".into(),
                    });
                let outcome = r
                    .outcome
                    .as_ref()
                    .map_or("-".to_string(), |o| match (&o.status, &o.code) {
                        (Status::Ok, _) => "ok".into(),
                        (Status::Failed, Some(code)) => format!("failed {code}"),
                        (Status::Failed, None) => "failed".into(),
                    });
                vec![
                    r.seq.to_string(),
                    r.ts.clone(),
                    r.actor.describe(),
                    r.op.clone(),
                    serde_json::to_value(r.phase)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    opt(&r.project),
                    opt(&r.env),
                    decision,
                    outcome,
                    opt(&r.grant_id),
                ]
            })
            .collect();
        let mut out = if rows.is_empty() {
            "no audit records\n".to_string()
        } else {
            table(
                &[
                    "SEQ", "TIME", "ACTOR", "OP", "PHASE", "PROJECT", "ENV", "DECISION", "OUTCOME", "GRANT",
                ],
                &rows,
            )
        };
        if self.unreadable > 0 {
            out.push_str(&format!(
                "{} line(s) could not be read; run `autosd audit verify`\n",
                self.unreadable
            ));
        }
        out
    }

    fn json(&self) -> Value {
        json!({ "records": self.records, "unreadable_lines": self.unreadable })
    }
}

fn show(ctx: &Context, printer: &Printer, args: ShowArgs) -> Result<()> {
    let since = args.since.as_deref().map(|s| parse_since(ctx, s)).transpose()?;
    let (log, _) = open_log(ctx, args.source)?;
    let bytes = log.read_all()?;
    let mut shown = Shown {
        records: Vec::new(),
        unreadable: 0,
    };
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(record) = serde_json::from_slice::<Record>(line) else {
            shown.unreadable += 1;
            continue;
        };
        if args
            .project
            .as_ref()
            .is_some_and(|p| record.project.as_ref() != Some(p))
        {
            continue;
        }
        if let Some(since) = since
            && humantime::parse_rfc3339(&record.ts).map_or(true, |t| t < since)
        {
            continue;
        }
        shown.records.push(record);
    }
    printer.print(&shown);
    Ok(())
}

/// `--since`: an RFC 3339 time, or an age such as `2h` counted back from now.
fn parse_since(ctx: &Context, text: &str) -> Result<std::time::SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t);
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        Error::new(
            ErrorCode::Usage,
            format!("--since `{text}` is neither a time nor an age"),
        )
        .hint("use an RFC 3339 time such as 2026-01-31T12:00:00Z, or an age such as 2h or 7d")
    })?;
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(ctx.now_unix().max(0) as u64);
    Ok(now.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH))
}

struct Verified {
    path: String,
    report: Report,
    checkpoint: Option<SignedCheckpoint>,
}

impl Render for Verified {
    fn human(&self) -> String {
        let mut out = format!(
            "audit log {} verifies: {} record(s), head {}\n",
            self.path, self.report.records, self.report.head
        );
        if let Some(c) = &self.checkpoint {
            out.push_str(&format!(
                "matches the checkpoint of {} (size {}, signed by {})\n",
                c.checkpoint.ts, c.checkpoint.size, c.kid
            ));
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "log": self.path,
            "valid": true,
            "records": self.report.records,
            "head": self.report.head,
            "checkpoint": self.checkpoint.as_ref().map(|c| json!({
                "size": c.checkpoint.size,
                "head": c.checkpoint.head,
                "ts": c.checkpoint.ts,
                "kid": c.kid.as_str(),
            })),
        })
    }
}

fn verify_cmd(ctx: &Context, printer: &Printer, args: VerifyArgs) -> Result<()> {
    let checkpoint = match &args.checkpoint {
        Some(file) => {
            let bytes = crate::store::fs::read_limited(file, 1024 * 1024)?;
            Some(checkpoint::open(&ctx.home, &String::from_utf8_lossy(&bytes))?)
        }
        None => None,
    };
    let (log, path) = open_log(ctx, args.source)?;
    let bytes = log.read_all()?;
    let report = verify(
        &bytes,
        checkpoint.as_ref().map(|c| c.checkpoint.anchor()).as_ref(),
    );
    let at = |seq: u64| format!("audit log {path} fails verification at seq {seq}");
    if let Some(Finding::Tampered { seq, reason }) = &report.finding {
        return Err(
            Error::new(ErrorCode::AuditTampered, format!("{}: {reason}", at(*seq)))
                .hint(format!("{}; inspect seq {seq} and later", verified_prefix(*seq))),
        );
    }
    match (&report.anchor, &checkpoint) {
        (Some(AnchorCheck::Truncated { records }), Some(c)) => {
            return Err(Error::new(
                ErrorCode::AuditCheckpointMismatch,
                format!(
                    "{}: the log holds {records} record(s) but the checkpoint of {} saw {}: the log was truncated",
                    at(records + 1),
                    c.checkpoint.ts,
                    c.checkpoint.size
                ),
            )
            .hint("restore the log from a backup; records after the truncation point are lost"));
        }
        (Some(AnchorCheck::Diverged { seq }), Some(c)) => {
            return Err(Error::new(
                ErrorCode::AuditCheckpointMismatch,
                format!(
                    "{}: its hash differs from the checkpoint of {}: history was rewritten",
                    at(*seq),
                    c.checkpoint.ts
                ),
            ));
        }
        _ => {}
    }
    if let Some(Finding::TornTail { seq, bytes }) = &report.finding {
        return Err(Error::new(
            ErrorCode::AuditTornTail,
            format!(
                "audit log {path} ends in a half-written line ({bytes} bytes) where seq {seq} would be; {}",
                verified_prefix(*seq)
            ),
        )
        .hint("a crash interrupted an append; the next audited command cuts the torn line and records that it did"));
    }
    printer.print(&Verified {
        path,
        report,
        checkpoint,
    });
    Ok(())
}

/// "records 1..n verify" for the records before `seq`.
fn verified_prefix(seq: u64) -> String {
    match seq {
        0 | 1 => "no record before it".to_string(),
        2 => "record 1 verifies".to_string(),
        _ => format!("records 1..{} verify", seq - 1),
    }
}
