//! `autosd preauth …`: flags for keys and grants, and the rendering of their results.
//! Decisions live in `grant::manage` and `grant::verify`; this file only parses and renders.
use crate::audit::checkpoint::SignedCheckpoint;
use crate::context::{Context, rfc3339};
use crate::error::{Error, ErrorCode, Result};
use crate::grant::manage::{self, GrantRequest, GrantStatus, GrantView};
use crate::grant::{
    self, Bindings, Capability, Check, Claims, RuntimeBindings, VerifiedGrant, Verifier, resolve_grant_value,
};
use crate::output::{Printer, Render, table};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PreauthArgs {
    #[command(subcommand)]
    pub command: PreauthCommand,
}

#[derive(Debug, Subcommand)]
pub enum PreauthCommand {
    /// Create the Ed25519 signing key (0600) and the home trust store; prints the kid
    InitKeys(InitKeysArgs),
    /// Write the public trust store and signed revocation list for a repository to commit
    ExportTrust(ExportTrustArgs),
    /// Sign a least-privilege grant; prints its id and the one-line token
    CreateGrant(CreateGrantArgs),
    /// List local grants with their status (active, expired, revoked)
    List(ListArgs),
    /// Show one local grant
    Show(ShowArgs),
    /// Revoke a grant: at once locally, in CI once the exported revocation list is committed
    Revoke(RevokeArgs),
    /// Issue a new signing key; the old one only verifies grants it already issued
    RotateKeys(RotateKeysArgs),
    /// Verify a grant id or token, optionally for a project, environment and capability
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct InitKeysArgs {
    /// Replace an existing key: its grants stop verifying
    #[arg(long)]
    pub force: bool,
    /// Longest lifetime of a normal grant, enforced by every verifier of this trust store
    /// [default: 720, or the current value]
    #[arg(long, value_name = "HOURS")]
    pub max_lifetime_hours: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ExportTrustArgs {
    /// Directory to write (for example .autosd/trust)
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CreateGrantArgs {
    /// Projects the grant covers (repeatable, comma-separated)
    #[arg(
        long = "project-ids",
        value_name = "IDS",
        value_delimiter = ',',
        required = true
    )]
    pub project_ids: Vec<String>,
    /// Allow deploying to dev
    #[arg(long, overrides_with = "no_auto_deploy_dev")]
    pub auto_deploy_dev: bool,
    /// Do not allow deploying to dev (the default)
    #[arg(long, overrides_with = "auto_deploy_dev")]
    pub no_auto_deploy_dev: bool,
    /// Allow deploying to staging
    #[arg(long, overrides_with = "no_auto_deploy_staging")]
    pub auto_deploy_staging: bool,
    /// Do not allow deploying to staging (the default)
    #[arg(long, overrides_with = "auto_deploy_staging")]
    pub no_auto_deploy_staging: bool,
    /// Allow deploying to prod
    #[arg(long, overrides_with = "no_auto_deploy_prod")]
    pub auto_deploy_prod: bool,
    /// Do not allow deploying to prod (the default)
    #[arg(long, overrides_with = "auto_deploy_prod")]
    pub no_auto_deploy_prod: bool,
    /// Allow rollback in the grant's environments
    #[arg(long)]
    pub auto_rollback: bool,
    /// Allow healing (restart) in the grant's environments
    #[arg(long)]
    pub auto_heal: bool,
    /// Allow `patch --auto-push`
    #[arg(long)]
    pub auto_push: bool,
    /// Mark as break-glass (usable while halted; at most 2 hours)
    #[arg(long)]
    pub break_glass: bool,
    /// Lifetime in hours (decimals allowed), greater than zero
    #[arg(long, value_name = "HOURS", default_value = "1", allow_negative_numbers = true, value_parser = parse_hours)]
    pub expires_in_hours: f64,
    /// Who issues the grant [default: the current user]
    #[arg(long, value_name = "NAME")]
    pub issuer: Option<String>,
    /// Bind to a repository (checked against GITHUB_REPOSITORY)
    #[arg(long, value_name = "OWNER/REPO")]
    pub repository: Option<String>,
    /// Bind to an environment (checked against the operation's --env and AUTOSD_ENVIRONMENT)
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
    /// Bind to a git ref (checked against GITHUB_REF; `main` means refs/heads/main)
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Further environments where rollback and heal apply (repeatable, comma-separated)
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub env_scope: Vec<String>,
}

fn parse_hours(text: &str) -> std::result::Result<f64, String> {
    let h: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number of hours, such as 2 or 0.5".to_string())?;
    if !h.is_finite() {
        return Err("expected a finite number of hours".into());
    }
    Ok(h)
}

fn parse_capability(text: &str) -> std::result::Result<(Capability, Option<String>), String> {
    Capability::parse(text).ok_or_else(|| {
        "expected deploy, rollback, heal, push or a flag form such as auto_deploy_prod".to_string()
    })
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only grants that verify now
    #[arg(long)]
    pub active_only: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Grant id (g-…)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Grant id (g-…)
    pub id: String,
    /// Why, recorded in the signed revocation list
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct RotateKeysArgs {
    /// Revoke the old key too: every grant it signed stops verifying at once
    #[arg(long)]
    pub revoke_old: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A local grant id or a token [default: $AUTOSD_PREAUTH_GRANT]
    #[arg(value_name = "ID|TOKEN")]
    pub grant: Option<String>,
    /// Project the grant must cover
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// Environment the grant must cover
    #[arg(long, value_name = "E")]
    pub env: Option<String>,
    /// Capability: deploy, rollback, heal, push (or auto_deploy_prod style)
    #[arg(long, value_name = "C", value_parser = parse_capability)]
    pub capability: Option<(Capability, Option<String>)>,
}

pub fn run(ctx: &Context, printer: &Printer, args: PreauthArgs) -> Result<()> {
    match args.command {
        PreauthCommand::InitKeys(a) => {
            let out = manage::init_keys(ctx, a.force, a.max_lifetime_hours)?;
            print_anchored(ctx, printer, InitKeysView(out));
        }
        PreauthCommand::ExportTrust(a) => {
            let out = manage::export_trust(ctx, &a.dir)?;
            printer.print(&ExportView(out));
        }
        PreauthCommand::CreateGrant(a) => {
            let req = grant_request(&a);
            let out = manage::create_grant(ctx, &req)?;
            print_anchored(ctx, printer, CreatedView(out));
        }
        PreauthCommand::List(a) => {
            let grants = manage::list_grants(ctx, a.active_only)?;
            printer.print(&ListView(grants));
        }
        PreauthCommand::Show(a) => {
            let g = manage::show_grant(ctx, &a.id)?;
            printer.print(&ShowView(g));
        }
        PreauthCommand::Revoke(a) => {
            let out = manage::revoke_grant(ctx, &a.id, a.reason.as_deref())?;
            if out.already {
                printer.print(&RevokeView(out, a.reason));
            } else {
                print_anchored(ctx, printer, RevokeView(out, a.reason));
            }
        }
        PreauthCommand::RotateKeys(a) => {
            let out = manage::rotate_keys(ctx, a.revoke_old)?;
            print_anchored(ctx, printer, RotateView(out));
        }
        PreauthCommand::Verify(a) => verify(ctx, printer, a)?,
    }
    Ok(())
}

/// Prints the result of a change that was audited, with the signed audit checkpoint that
/// anchors the log's new head: in JSON as `checkpoint`, for humans on stderr (stdout keeps
/// its shape; create-grant's last line stays the token).
fn print_anchored(ctx: &Context, printer: &Printer, view: impl Render) {
    let checkpoint = super::project::finish(ctx, printer);
    printer.print(&Anchored {
        view,
        checkpoint: checkpoint.as_ref(),
    });
    if let Some(c) = &checkpoint
        && printer.format == crate::output::OutputFormat::Human
    {
        printer.note(&c.human());
    }
}

struct Anchored<'a, R: Render> {
    view: R,
    checkpoint: Option<&'a SignedCheckpoint>,
}

impl<R: Render> Render for Anchored<'_, R> {
    fn human(&self) -> String {
        self.view.human()
    }

    fn json(&self) -> Value {
        let mut v = self.view.json();
        if let Value::Object(map) = &mut v {
            map.insert(
                "checkpoint".into(),
                self.checkpoint
                    .map_or(Value::Null, super::project::checkpoint_json),
            );
        }
        v
    }
}

fn grant_request(a: &CreateGrantArgs) -> GrantRequest {
    let mut deploy_envs = Vec::new();
    for (on, env) in [
        (a.auto_deploy_dev, "dev"),
        (a.auto_deploy_staging, "staging"),
        (a.auto_deploy_prod, "prod"),
    ] {
        if on {
            deploy_envs.push(env.to_string());
        }
    }
    let trimmed = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    GrantRequest {
        projects: trimmed(&a.project_ids),
        deploy_envs,
        env_scopes: trimmed(&a.env_scope),
        rollback: a.auto_rollback,
        heal: a.auto_heal,
        push: a.auto_push,
        break_glass: a.break_glass,
        // Saturating cast: absurd values become huge and are refused by the lifetime cap.
        lifetime_secs: (a.expires_in_hours * 3600.0).round() as i64,
        issuer: a.issuer.clone(),
        bind: Bindings {
            repository: a.repository.clone(),
            git_ref: a.git_ref.clone(),
            environment: a.environment.clone(),
        },
    }
}

fn verify(ctx: &Context, printer: &Printer, a: VerifyArgs) -> Result<()> {
    let (capability, cap_env) = match a.capability {
        Some((c, e)) => (Some(c), e),
        None => (None, None),
    };
    if let (Some(e), Some(ce)) = (&a.env, &cap_env)
        && e != ce
    {
        return Err(Error::new(
            ErrorCode::Usage,
            format!("--env {e} contradicts --capability auto_deploy_{ce}"),
        ));
    }
    let env = a.env.or(cap_env);
    let token = resolve_grant_value(ctx, a.grant.as_deref())?.ok_or_else(|| {
        Error::new(ErrorCode::PreauthRequired, "no grant given to verify")
            .hint("pass a grant id or token, or set AUTOSD_PREAUTH_GRANT")
    })?;
    let repo_root = grant::home::find_repo_root(&ctx.cwd);
    let verifier = Verifier::load(ctx, repo_root.as_deref())?;
    let check = Check {
        project: a.project.as_deref(),
        env: env.as_deref(),
        capability,
        runtime: RuntimeBindings::from_env(&ctx.env),
    };
    match verifier.verify(token.expose(), ctx.now_unix(), &check) {
        Ok(granted) => {
            tracing::info!(gid = %granted.gid, kid = %granted.kid, "grant verified");
            printer.print(&AllowView {
                granted,
                project: a.project,
                env,
                capability,
            });
            Ok(())
        }
        Err(rejection) => {
            tracing::info!(reason = rejection.code(), "grant rejected");
            Err(rejection.into())
        }
    }
}

fn capabilities_json(c: &Claims) -> Value {
    let has = |e: &str| c.deploy_envs.iter().any(|d| d == e);
    json!({
        "auto_deploy_dev": has("dev"),
        "auto_deploy_staging": has("staging"),
        "auto_deploy_prod": has("prod"),
        "auto_rollback": c.rollback,
        "auto_heal": c.heal,
        "auto_push": c.push,
    })
}

fn bindings_json(b: &Bindings) -> Value {
    json!({ "repository": b.repository, "ref": b.git_ref, "environment": b.environment })
}

fn caps_text(c: &Claims) -> String {
    let names = c.capability_names();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

fn bindings_text(b: &Bindings) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &b.repository {
        parts.push(format!("repository {r}"));
    }
    if let Some(r) = &b.git_ref {
        parts.push(format!("ref {r}"));
    }
    if let Some(e) = &b.environment {
        parts.push(format!("environment {e}"));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

struct InitKeysView(manage::InitKeysOutcome);

impl Render for InitKeysView {
    fn human(&self) -> String {
        let o = &self.0;
        let mut s = format!(
            "kid: {}\nprivate key: {} (mode 0600, never leaves this machine)\ntrust store: {}\nmax grant lifetime: {} hours\n",
            o.kid,
            o.key_path.display(),
            o.trust_dir.display(),
            o.max_lifetime_hours
        );
        if !o.retired.is_empty() {
            let list: Vec<String> = o.retired.iter().map(ToString::to_string).collect();
            s.push_str(&format!(
                "retired keys (their grants no longer verify): {}\n",
                list.join(", ")
            ));
        }
        s.push_str("next: autosd preauth export-trust .autosd/trust   (commit it in the repository)\n");
        s
    }

    fn json(&self) -> Value {
        let o = &self.0;
        json!({
            "kid": o.kid,
            "key_path": o.key_path,
            "trust_dir": o.trust_dir,
            "retired_kids": o.retired,
            "max_lifetime_hours": o.max_lifetime_hours,
        })
    }
}

struct ExportView(manage::ExportOutcome);

impl Render for ExportView {
    fn human(&self) -> String {
        let o = &self.0;
        let mut s = format!("trust store written to {}\n", o.dir.display());
        for f in &o.files {
            s.push_str(&format!("  {}\n", f.display()));
        }
        for (kid, status) in &o.kids {
            s.push_str(&format!("  key {kid}: {}\n", status.as_str()));
        }
        s.push_str(&format!(
            "  revocation list version {}\ncommit these files so CI verifies grants without the private key\n",
            o.revocations_version
        ));
        s
    }

    fn json(&self) -> Value {
        let o = &self.0;
        let keys: Vec<Value> = o
            .kids
            .iter()
            .map(|(k, s)| json!({"kid": k, "status": s.as_str()}))
            .collect();
        json!({
            "dir": o.dir,
            "files": o.files,
            "keys": keys,
            "revocations_version": o.revocations_version,
        })
    }
}

struct CreatedView(manage::CreatedGrant);

impl Render for CreatedView {
    fn human(&self) -> String {
        let c = &self.0.claims;
        format!(
            "grant_id: {}\nissuer: {}\nprojects: {}\ncapabilities: {}\nenvironments: {}\nbreak_glass: {}\nbindings: {}\nexpires_at: {}\ntoken (store it as the secret AUTOSD_PREAUTH_GRANT):\n{}\n",
            c.gid,
            c.iss,
            c.projects.join(","),
            caps_text(c),
            if c.envs.is_empty() {
                "none".to_string()
            } else {
                c.envs.join(",")
            },
            if c.break_glass { "yes" } else { "no" },
            bindings_text(&c.bind),
            rfc3339(c.exp),
            // The token is this command's product: the one place it is printed.
            self.0.token.expose()
        )
    }

    fn json(&self) -> Value {
        let c = &self.0.claims;
        json!({
            "grant_id": c.gid,
            "token": self.0.token.expose(),
            "kid": c.kid,
            "issuer": c.iss,
            "issued_at": rfc3339(c.iat),
            "expires_at": rfc3339(c.exp),
            "projects": c.projects,
            "capabilities": capabilities_json(c),
            "deploy_envs": c.deploy_envs,
            "envs": c.envs,
            "break_glass": c.break_glass,
            "bindings": bindings_json(&c.bind),
            "path": self.0.path,
        })
    }
}

fn grant_json(g: &GrantView) -> Value {
    let mut v = json!({
        "grant_id": g.gid,
        "status": g.status.as_str(),
        "created_at": rfc3339(g.created_at),
    });
    if let (Value::Object(map), Some(c)) = (&mut v, &g.claims) {
        map.insert("issuer".into(), json!(c.iss));
        map.insert("kid".into(), json!(c.kid));
        map.insert("projects".into(), json!(c.projects));
        map.insert("capabilities".into(), capabilities_json(c));
        map.insert("deploy_envs".into(), json!(c.deploy_envs));
        map.insert("envs".into(), json!(c.envs));
        map.insert("break_glass".into(), json!(c.break_glass));
        map.insert("bindings".into(), bindings_json(&c.bind));
        map.insert("issued_at".into(), json!(rfc3339(c.iat)));
        map.insert("expires_at".into(), json!(rfc3339(c.exp)));
    }
    if let Value::Object(map) = &mut v {
        if let GrantStatus::Invalid(r) = g.status {
            map.insert("invalid_reason".into(), json!(r.code()));
        }
        if let Some(r) = &g.revocation {
            map.insert(
                "revocation".into(),
                json!({"revoked_at": rfc3339(r.revoked_at), "reason": r.reason}),
            );
        }
    }
    v
}

struct ListView(Vec<GrantView>);

impl Render for ListView {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no grants\n".into();
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|g| match &g.claims {
                Some(c) => vec![
                    g.gid.clone(),
                    c.iss.clone(),
                    c.projects.join(","),
                    caps_text(c),
                    rfc3339(c.exp),
                    if c.break_glass { "yes" } else { "no" }.into(),
                    g.status.as_str().into(),
                ],
                None => vec![
                    g.gid.clone(),
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    g.status.as_str().into(),
                ],
            })
            .collect();
        table(
            &[
                "ID",
                "ISSUER",
                "PROJECTS",
                "CAPABILITIES",
                "EXPIRES",
                "BREAK-GLASS",
                "STATUS",
            ],
            &rows,
        )
    }

    fn json(&self) -> Value {
        json!({ "grants": self.0.iter().map(grant_json).collect::<Vec<_>>() })
    }
}

struct ShowView(GrantView);

impl Render for ShowView {
    fn human(&self) -> String {
        let g = &self.0;
        let mut s = format!("grant_id: {}\nstatus: {}\n", g.gid, g.status.as_str());
        if let GrantStatus::Invalid(r) = g.status {
            s.push_str(&format!("reason: {}\n", r.description()));
        }
        if let Some(c) = &g.claims {
            s.push_str(&format!(
                "issuer: {}\nkid: {}\nprojects: {}\ncapabilities: {}\ndeploy environments: {}\nrollback/heal environments: {}\nbreak_glass: {}\nbindings: {}\nissued_at: {}\nexpires_at: {}\n",
                c.iss,
                c.kid,
                c.projects.join(","),
                caps_text(c),
                if c.deploy_envs.is_empty() { "none".into() } else { c.deploy_envs.join(",") },
                if c.envs.is_empty() { "none".into() } else { c.envs.join(",") },
                if c.break_glass { "yes" } else { "no" },
                bindings_text(&c.bind),
                rfc3339(c.iat),
                rfc3339(c.exp),
            ));
        }
        if let Some(r) = &g.revocation {
            s.push_str(&format!(
                "revoked_at: {}\nrevocation reason: {}\n",
                rfc3339(r.revoked_at),
                r.reason.as_deref().unwrap_or("(none given)")
            ));
        }
        s
    }

    fn json(&self) -> Value {
        grant_json(&self.0)
    }
}

struct RevokeView(manage::RevokeOutcome, Option<String>);

impl Render for RevokeView {
    fn human(&self) -> String {
        let o = &self.0;
        let what = if o.already {
            "was already revoked"
        } else {
            "revoked"
        };
        format!(
            "grant {} {what} (revocation list version {})\nnext: autosd preauth export-trust .autosd/trust and commit it, so CI refuses the grant too\n",
            o.gid, o.revocations_version
        )
    }

    fn json(&self) -> Value {
        let o = &self.0;
        json!({
            "grant_id": o.gid,
            "revoked": true,
            "already_revoked": o.already,
            "revoked_at": rfc3339(o.revoked_at),
            "reason": self.1,
            "revocations_version": o.revocations_version,
        })
    }
}

struct RotateView(manage::RotateOutcome);

impl Render for RotateView {
    fn human(&self) -> String {
        let o = &self.0;
        let old = if o.revoked_old {
            "revoked: every grant it signed stops verifying now"
        } else {
            "rotated: it verifies only grants it already issued, until they expire"
        };
        format!(
            "new kid: {}\nold kid: {} ({old})\nnext: autosd preauth export-trust .autosd/trust and commit it\n",
            o.new_kid, o.old_kid
        )
    }

    fn json(&self) -> Value {
        let o = &self.0;
        json!({
            "new_kid": o.new_kid,
            "old_kid": o.old_kid,
            "old_status": if o.revoked_old { "revoked" } else { "rotated" },
            "revocations_version": o.revocations_version,
        })
    }
}

struct AllowView {
    granted: VerifiedGrant,
    project: Option<String>,
    env: Option<String>,
    capability: Option<Capability>,
}

impl Render for AllowView {
    fn human(&self) -> String {
        let c = &self.granted.claims;
        let mut checked = Vec::new();
        if let Some(p) = &self.project {
            checked.push(format!("project {p}"));
        }
        if let Some(e) = &self.env {
            checked.push(format!("env {e}"));
        }
        if let Some(cap) = self.capability {
            checked.push(format!("capability {cap}"));
        }
        let checked = if checked.is_empty() {
            "signature, key, lifetime, time, revocation, bindings".to_string()
        } else {
            checked.join(", ")
        };
        format!(
            "decision: allow\nreason: grant {} is valid (key {}, issuer {}) for {}\ncapabilities: {}\nexpires_at: {}\n",
            self.granted.gid,
            self.granted.kid,
            c.iss,
            checked,
            caps_text(c),
            rfc3339(c.exp)
        )
    }

    fn json(&self) -> Value {
        let c = &self.granted.claims;
        json!({
            "decision": "allow",
            "reason": "valid",
            "grant_id": self.granted.gid,
            "kid": self.granted.kid,
            "issuer": c.iss,
            "projects": c.projects,
            "capabilities": capabilities_json(c),
            "envs": c.envs,
            "break_glass": c.break_glass,
            "expires_at": rfc3339(c.exp),
            "checked": { "project": self.project, "env": self.env, "capability": self.capability },
        })
    }
}
