//! `autosd policy show`: the resolved policy of the project (what each operation needs in
//! each environment) and, for a grant, what it allows where. Renders `policy`'s decisions;
//! decides nothing itself.
use crate::config::{self, ProjectConfig};
use crate::context::{Context, rfc3339};
use crate::error::{ErrorCode, Result};
use crate::grant::{Check, RuntimeBindings, VerifiedGrant, Verifier, resolve_grant_value};
use crate::output::{Printer, Render, table};
use crate::policy::{self, HaltRule, Operation, Request};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show what each operation needs per environment, and what a grant allows
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The project; must match the project file when given
    #[arg(long, value_name = "ID")]
    pub project: Option<String>,
    /// A grant (id or token) to evaluate against the policy
    #[arg(long, value_name = "GRANT")]
    pub preauth_grant: Option<String>,
    /// Only this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
}

pub fn run(ctx: &Context, printer: &Printer, args: PolicyArgs) -> Result<()> {
    match args.command {
        PolicyCommand::Show(show) => show_policy(ctx, printer, show),
    }
}

/// One cell of the policy: an operation in an environment (or none, for patch/resume/halt).
struct Rule {
    op: Operation,
    env: Option<String>,
    grant_required: bool,
    needs: String,
    confirmation: bool,
    halted: HaltRule,
    reason: String,
    /// With a grant: `Ok` if it allows the operation here, else the refusal.
    verdict: Option<std::result::Result<(), (ErrorCode, String)>>,
}

struct PolicyView {
    config: ProjectConfig,
    /// The environments shown (all, or the one `--env` named).
    envs: Vec<String>,
    rules: Vec<Rule>,
    grant: Option<VerifiedGrant>,
}

fn show_policy(ctx: &Context, printer: &Printer, args: ShowArgs) -> Result<()> {
    let config = config::discover(&ctx.cwd, args.project.as_deref())?;
    let envs: Vec<String> = match &args.env {
        Some(name) => vec![config.environment(name)?.name.clone()],
        None => config.environments.iter().map(|e| e.name.clone()).collect(),
    };
    let grant = match resolve_grant_value(ctx, args.preauth_grant.as_deref())? {
        Some(token) => {
            let verifier = Verifier::load(ctx, Some(&config.root))?;
            let check = Check {
                project: Some(&config.project),
                env: None,
                capability: None,
                runtime: RuntimeBindings::from_env(&ctx.env),
            };
            Some(verifier.verify(token.expose(), ctx.now_unix(), &check)?)
        }
        None => None,
    };
    let mut rules = Vec::new();
    for op in Operation::ALL {
        let scopes: Vec<Option<String>> = if op.takes_env() {
            envs.iter().cloned().map(Some).collect()
        } else {
            vec![None]
        };
        for env in scopes {
            let req = Request {
                op,
                env: env.as_deref(),
                require_grant: false,
            };
            let needs = policy::requirements(&config, &req)?;
            let verdict = grant.as_ref().map(|g| {
                policy::authorize(&config, &req, Some(&g.claims))
                    .map(|_| ())
                    .map_err(|e| (e.code, e.message))
            });
            rules.push(Rule {
                op,
                grant_required: needs.grant_required,
                needs: needs_text(op, env.as_deref()),
                confirmation: needs.confirmation,
                halted: needs.halt_rule,
                reason: needs.reason,
                env,
                verdict,
            });
        }
    }
    printer.print(&PolicyView {
        config,
        envs,
        rules,
        grant,
    });
    Ok(())
}

fn needs_text(op: Operation, env: Option<&str>) -> String {
    if op == Operation::Resume {
        return "--break-glass".to_string();
    }
    let caps: Vec<String> = op
        .capabilities()
        .iter()
        .map(|c| policy::cap_flag(*c, env))
        .collect();
    if caps.is_empty() {
        "-".to_string()
    } else {
        caps.join(" + ")
    }
}

fn halt_text(rule: HaltRule) -> &'static str {
    match rule {
        HaltRule::Blocked => "refused",
        HaltRule::BreakGlass => "break-glass only",
        HaltRule::Unaffected => "allowed",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

impl Render for PolicyView {
    fn human(&self) -> String {
        let c = &self.config;
        let mut out = format!("project: {} ({})\n\n", c.project, c.path.display());
        let env_rows: Vec<Vec<String>> = c
            .environments
            .iter()
            .filter(|e| self.envs.contains(&e.name))
            .map(|e| {
                vec![
                    e.name.clone(),
                    yes_no(e.production).into(),
                    yes_no(e.require_grant).into(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["ENVIRONMENT", "PRODUCTION", "REQUIRES GRANT"],
            &env_rows,
        ));
        out.push('\n');
        let rows: Vec<Vec<String>> = self
            .rules
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.op.to_string(),
                    r.env.clone().unwrap_or_else(|| "-".into()),
                    yes_no(r.grant_required).into(),
                    r.needs.clone(),
                    yes_no(r.confirmation).into(),
                    halt_text(r.halted).into(),
                ];
                if let Some(v) = &r.verdict {
                    row.push(match v {
                        Ok(()) => "ALLOWED".into(),
                        Err((code, _)) => format!("denied ({})", code.as_str()),
                    });
                }
                row
            })
            .collect();
        let mut header = vec![
            "OPERATION",
            "ENV",
            "GRANT REQUIRED",
            "GRANT MUST HAVE",
            "CONFIRM",
            "WHILE HALTED",
        ];
        if self.grant.is_some() {
            header.push("THIS GRANT");
        }
        out.push_str(&table(&header, &rows));
        out.push_str(
            "\nA grant, when given, must allow the operation even where none is required (default deny).\n",
        );
        if let Some(g) = &self.grant {
            out.push_str(&format!(
                "grant {} (key {}): valid until {}{}; capabilities: {}\n",
                g.gid,
                g.kid,
                rfc3339(g.claims.exp),
                if g.claims.break_glass { ", break-glass" } else { "" },
                g.claims.capability_names().join(", ")
            ));
        }
        out
    }

    fn json(&self) -> Value {
        let c = &self.config;
        let environments: Vec<Value> = c
            .environments
            .iter()
            .filter(|e| self.envs.contains(&e.name))
            .map(|e| json!({ "name": e.name, "production": e.production, "require_grant": e.require_grant }))
            .collect();
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                let mut v = json!({
                    "operation": r.op.as_str(),
                    "env": r.env,
                    "grant_required": r.grant_required,
                    "grant_must_have": r.needs,
                    "confirmation": r.confirmation,
                    "while_halted": halt_text(r.halted),
                    "reason": r.reason,
                });
                if let Some(verdict) = &r.verdict {
                    v["grant_allows"] = json!(verdict.is_ok());
                    if let Err((code, message)) = verdict {
                        v["grant_denied"] = json!({ "code": code.as_str(), "message": message });
                    }
                }
                v
            })
            .collect();
        json!({
            "project": c.project,
            "project_file": c.path,
            "environments": environments,
            "rules": rules,
            "grant": self.grant.as_ref().map(|g| json!({
                "grant_id": g.gid,
                "kid": g.kid.as_str(),
                "expires": rfc3339(g.claims.exp),
                "break_glass": g.claims.break_glass,
                "capabilities": g.claims.capability_names(),
            })),
        })
    }
}
