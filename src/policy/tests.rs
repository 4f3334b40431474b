//! The gate's decision table: operation × environment × grant capabilities × halted.
use super::*;
use crate::config::{parse, template};
use crate::grant::Bindings;
use ErrorCode::*;
use std::path::Path;

fn config() -> ProjectConfig {
    parse(&template("shop"), Path::new("config.yml"), Path::new(".")).expect("template parses")
}

/// dev and staging without grants, qa requiring one, prod production.
fn strict_config() -> ProjectConfig {
    let text = "version: 1\nproject: shop\nenvironments:\n  dev:\n  qa:\n    require_grant: true\n  prod:\n";
    parse(text, Path::new("config.yml"), Path::new(".")).expect("parses")
}

#[derive(Debug, Clone, Copy)]
enum G {
    None,
    /// --auto-deploy-dev --auto-deploy-staging
    DevStaging,
    /// --auto-deploy-prod --auto-rollback
    ProdRollback,
    /// --auto-deploy-prod --auto-rollback --break-glass
    BreakGlass,
    /// --auto-heal --auto-rollback --env-scope dev,staging,prod
    Healer,
    /// --auto-push
    Push,
    /// everything, but for another project
    Foreign,
}

fn claims(g: G) -> Option<Claims> {
    let mut c = Claims {
        v: 1,
        gid: "g-test".into(),
        kid: "k-test".into(),
        iss: "tester".into(),
        aud: "autosd".into(),
        iat: 0,
        nbf: 0,
        exp: 3600,
        projects: vec!["shop".into()],
        deploy_envs: vec![],
        envs: vec![],
        rollback: false,
        heal: false,
        push: false,
        break_glass: false,
        bind: Bindings::default(),
    };
    let envs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match g {
        G::None => return None,
        G::DevStaging => {
            c.deploy_envs = envs(&["dev", "staging"]);
            c.envs = envs(&["dev", "staging"]);
        }
        G::ProdRollback | G::BreakGlass => {
            c.deploy_envs = envs(&["prod"]);
            c.envs = envs(&["prod"]);
            c.rollback = true;
            c.break_glass = matches!(g, G::BreakGlass);
        }
        G::Healer => {
            c.envs = envs(&["dev", "staging", "prod"]);
            c.heal = true;
            c.rollback = true;
        }
        G::Push => c.push = true,
        G::Foreign => {
            c.projects = envs(&["other"]);
            c.deploy_envs = envs(&["dev", "staging", "prod"]);
            c.envs = envs(&["dev", "staging", "prod"]);
            c.rollback = true;
            c.heal = true;
            c.push = true;
            c.break_glass = true;
        }
    }
    Some(c)
}

/// The gate's pure steps in the gate's order: policy, then halt.
fn gate(
    config: &ProjectConfig,
    op: Operation,
    env: Option<&str>,
    g: G,
    halted: bool,
) -> std::result::Result<Requirements, ErrorCode> {
    let grant = claims(g);
    let req = Request {
        op,
        env,
        require_grant: false,
    };
    let needs = authorize(config, &req, grant.as_ref()).map_err(|e| e.code)?;
    check_halt(config, &req, halted.then_some("test"), grant.as_ref()).map_err(|e| e.code)?;
    Ok(needs)
}

use Operation::*;

/// operation, environment, grant, halted, expected refusal (`OK` = allowed).
type Row<'a> = (Operation, Option<&'a str>, G, bool, Option<ErrorCode>);
const OK: Option<ErrorCode> = None;

#[test]
fn decision_table() {
    #[rustfmt::skip]
    let table: &[Row<'_>] = &[
        // deploy: no grant needed below production; a given grant must allow it
        (Deploy, Some("dev"), G::None, false, OK),
        (Deploy, Some("staging"), G::None, false, OK),
        (Deploy, Some("prod"), G::None, false, Some(PreauthRequired)),
        (Deploy, Some("dev"), G::DevStaging, false, OK),
        (Deploy, Some("prod"), G::DevStaging, false, Some(PreauthInvalid)),
        (Deploy, Some("prod"), G::ProdRollback, false, OK),
        (Deploy, Some("dev"), G::ProdRollback, false, Some(PreauthInvalid)),
        (Deploy, Some("prod"), G::Healer, false, Some(PreauthInvalid)),
        (Deploy, Some("prod"), G::Push, false, Some(PreauthInvalid)),
        (Deploy, Some("prod"), G::Foreign, false, Some(PreauthInvalid)),
        (Deploy, Some("dev"), G::None, true, Some(Halted)),
        (Deploy, Some("prod"), G::ProdRollback, true, Some(Halted)),
        (Deploy, Some("prod"), G::BreakGlass, true, Some(Halted)),
        (Deploy, Some("prod"), G::None, true, Some(PreauthRequired)),
        (Deploy, Some("production"), G::ProdRollback, false, Some(EnvInvalid)),
        (Deploy, None, G::ProdRollback, false, Some(Usage)),
        // promote: checked against the destination
        (Promote, Some("prod"), G::ProdRollback, false, OK),
        (Promote, Some("staging"), G::ProdRollback, false, Some(PreauthInvalid)),
        (Promote, Some("staging"), G::DevStaging, false, OK),
        (Promote, Some("prod"), G::None, false, Some(PreauthRequired)),
        (Promote, Some("staging"), G::DevStaging, true, Some(Halted)),
        // rollback: break-glass only while halted
        (Rollback, Some("staging"), G::None, false, OK),
        (Rollback, Some("prod"), G::None, false, Some(PreauthRequired)),
        (Rollback, Some("prod"), G::ProdRollback, false, OK),
        (Rollback, Some("staging"), G::ProdRollback, false, Some(PreauthInvalid)),
        (Rollback, Some("prod"), G::DevStaging, false, Some(PreauthInvalid)),
        (Rollback, Some("prod"), G::ProdRollback, true, Some(Halted)),
        (Rollback, Some("prod"), G::BreakGlass, true, OK),
        (Rollback, Some("staging"), G::None, true, Some(Halted)),
        (Rollback, Some("prod"), G::Healer, false, OK),
        // heal: auto_heal, plus auto_rollback when it rolls back
        (Heal, Some("staging"), G::None, false, OK),
        (Heal, Some("prod"), G::Healer, false, OK),
        (Heal, Some("prod"), G::ProdRollback, false, Some(PreauthInvalid)),
        (HealWithRollback, Some("prod"), G::Healer, false, OK),
        (HealWithRollback, Some("prod"), G::BreakGlass, false, Some(PreauthInvalid)),
        (Heal, Some("prod"), G::Healer, true, Some(Halted)),
        (HealWithRollback, Some("prod"), G::Healer, true, Some(Halted)),
        (Heal, Some("nowhere"), G::Healer, false, Some(EnvInvalid)),
        // patch --auto-push: auto_push, not tied to an environment
        (Patch, None, G::None, false, Some(PreauthRequired)),
        (Patch, None, G::Push, false, OK),
        (Patch, None, G::ProdRollback, false, Some(PreauthInvalid)),
        (Patch, None, G::Push, true, Some(Halted)),
        (Patch, None, G::Foreign, false, Some(PreauthInvalid)),
        // resume: privileged; a given grant must be break-glass for this project
        (Resume, None, G::None, true, OK),
        (Resume, None, G::BreakGlass, true, OK),
        (Resume, None, G::ProdRollback, true, Some(PreauthInvalid)),
        (Resume, None, G::Foreign, true, Some(PreauthInvalid)),
        // halt: always possible, grant or not, halted or not
        (Halt, None, G::None, false, OK),
        (Halt, None, G::None, true, OK),
        (Halt, None, G::Foreign, true, OK),
    ];
    let config = config();
    for (op, env, g, halted, want) in table {
        let got = gate(&config, *op, *env, *g, *halted).err();
        assert_eq!(got, *want, "{op} env={env:?} grant={g:?} halted={halted}");
    }
}

#[test]
fn strict_project_table() {
    #[rustfmt::skip]
    let table: &[Row<'_>] = &[
        (Deploy, Some("dev"), G::None, false, OK),
        (Deploy, Some("qa"), G::None, false, Some(PreauthRequired)),
        (Rollback, Some("qa"), G::None, false, Some(PreauthRequired)),
        (Patch, None, G::None, false, Some(PreauthRequired)),
        (Resume, None, G::None, true, Some(PreauthRequired)),
        (Resume, None, G::ProdRollback, true, Some(PreauthInvalid)),
        (Resume, None, G::BreakGlass, true, OK),
        (Halt, None, G::None, false, OK),
        (Deploy, Some("staging"), G::DevStaging, false, Some(EnvInvalid)),
    ];
    let config = strict_config();
    for (op, env, g, halted, want) in table {
        let got = gate(&config, *op, *env, *g, *halted).err();
        assert_eq!(got, *want, "{op} env={env:?} grant={g:?} halted={halted}");
    }
}

#[test]
fn production_without_a_grant_is_always_denied() {
    let config = config();
    for op in Operation::ALL.iter().filter(|op| op.takes_env()) {
        for halted in [false, true] {
            assert_eq!(
                gate(&config, *op, Some("prod"), G::None, halted).err(),
                Some(PreauthRequired),
                "{op} halted={halted}"
            );
        }
    }
}

#[test]
fn unknown_environment_is_always_denied() {
    let config = config();
    for op in Operation::ALL {
        for g in [G::None, G::BreakGlass, G::Foreign] {
            for env in ["production", "PROD", "", "dev "] {
                assert_eq!(
                    gate(&config, op, Some(env), g, false).err(),
                    Some(EnvInvalid),
                    "{op} env={env:?}"
                );
            }
        }
    }
}

#[test]
fn require_preauth_flag_demands_a_grant_everywhere() {
    let config = config();
    let req = Request {
        op: Deploy,
        env: Some("dev"),
        require_grant: true,
    };
    let err = authorize(&config, &req, None).expect_err("needs a grant");
    assert_eq!(err.code, PreauthRequired);
    assert!(authorize(&config, &req, claims(G::DevStaging).as_ref()).is_ok());
}

#[test]
fn confirmation_for_destructive_operations() {
    let config = config();
    let needs = |op, env| {
        requirements(
            &config,
            &Request {
                op,
                env,
                require_grant: false,
            },
        )
        .expect("valid")
        .confirmation
    };
    assert!(needs(Deploy, Some("prod")));
    assert!(!needs(Deploy, Some("staging")));
    assert!(needs(Promote, Some("prod")));
    assert!(!needs(Promote, Some("staging")));
    assert!(needs(Rollback, Some("dev")));
    assert!(needs(HealWithRollback, Some("dev")));
    assert!(!needs(Heal, Some("prod")));
    assert!(needs(Resume, None));
    assert!(!needs(Halt, None));
    assert!(!needs(Patch, None));
}

#[test]
fn messages_name_the_missing_capability() {
    let config = config();
    let req = Request {
        op: Deploy,
        env: Some("prod"),
        require_grant: false,
    };
    let err = authorize(&config, &req, claims(G::DevStaging).as_ref()).expect_err("denied");
    assert!(err.message.contains("environment not allowed"), "{}", err.message);
    assert!(
        err.hints.iter().any(|h| h.contains("--auto-deploy-prod")),
        "{:?}",
        err.hints
    );
}

/// The rules of DESIGN.md §4 restated plainly, as an oracle for the full cross product.
fn oracle(op: Operation, env: Option<&str>, g: G, halted: bool) -> Option<ErrorCode> {
    let production = env == Some("prod");
    match env {
        Some(e) if !["dev", "staging", "prod"].contains(&e) => return Some(EnvInvalid),
        None if op.takes_env() => return Some(Usage),
        _ => {}
    }
    if op == Halt {
        return None;
    }
    let grant = claims(g);
    match &grant {
        None if production || op == Patch => return Some(PreauthRequired),
        None => {}
        Some(c) => {
            let in_envs = |list: &[String]| env.is_some_and(|e| list.iter().any(|x| x == e));
            let ok = c.projects.iter().any(|p| p == "shop")
                && match op {
                    Deploy | Promote => in_envs(&c.deploy_envs),
                    Rollback => c.rollback && in_envs(&c.envs),
                    Heal => c.heal && in_envs(&c.envs),
                    HealWithRollback => c.heal && c.rollback && in_envs(&c.envs),
                    Patch => c.push,
                    Resume => c.break_glass,
                    Halt => true,
                };
            if !ok {
                return Some(PreauthInvalid);
            }
        }
    }
    let break_glass = grant.as_ref().is_some_and(|c| c.break_glass);
    match op {
        Deploy | Promote | Heal | HealWithRollback | Patch if halted => Some(Halted),
        Rollback if halted && !break_glass => Some(Halted),
        _ => None,
    }
}

#[test]
fn full_cross_product_matches_the_rules() {
    let config = config();
    let grants = [
        G::None,
        G::DevStaging,
        G::ProdRollback,
        G::BreakGlass,
        G::Healer,
        G::Push,
        G::Foreign,
    ];
    let mut checked = 0;
    for op in Operation::ALL {
        let envs: &[Option<&str>] = if op.takes_env() {
            &[Some("dev"), Some("staging"), Some("prod"), Some("live"), None]
        } else {
            &[None, Some("nowhere")]
        };
        for env in envs {
            for g in grants {
                for halted in [false, true] {
                    let got = gate(&config, op, *env, g, halted).err();
                    assert_eq!(
                        got,
                        oracle(op, *env, g, halted),
                        "{op} env={env:?} grant={g:?} halted={halted}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, (5 * 5 + 3 * 2) * 7 * 2);
}
