//! The gate's sequence with fakes: order of checks, fail-closed audit, confirmation.
use super::*;
use crate::config::{parse, template};
use crate::grant::{Bindings, Kid};
use std::cell::{Cell, RefCell};
use std::path::Path;

fn config() -> ProjectConfig {
    parse(&template("shop"), Path::new("config.yml"), Path::new(".")).expect("template parses")
}

const GOOD: &str = "autosd.grant.good";
const EXPIRING: &str = "autosd.grant.expiring";

/// Accepts `GOOD` (deploy prod + rollback) and `EXPIRING` (same, but only before t=100).
struct FakeGrants {
    break_glass: bool,
}

impl GrantCheck for FakeGrants {
    fn resolve(&self, flag: Option<&str>) -> Result<Option<Secret<String>>> {
        Ok(flag.map(|f| Secret::new(f.to_string())))
    }

    fn verify(
        &self,
        token: &Secret<String>,
        now: i64,
        project: &str,
        _env: Option<&str>,
    ) -> Result<VerifiedGrant> {
        let expired = token.expose() == EXPIRING && now >= 100;
        if expired {
            return Err(crate::grant::Rejection::Expired.into());
        }
        if token.expose() != GOOD && token.expose() != EXPIRING {
            return Err(crate::grant::Rejection::BadSignature.into());
        }
        let claims = Claims {
            v: 1,
            gid: "g-00000000000000000001".into(),
            kid: "k-0000000000000001".into(),
            iss: "t".into(),
            aud: "autosd".into(),
            iat: 0,
            nbf: 0,
            exp: 100,
            projects: vec![project.to_string()],
            deploy_envs: vec!["prod".into()],
            envs: vec!["prod".into()],
            rollback: true,
            heal: false,
            push: false,
            break_glass: self.break_glass,
            bind: Bindings::default(),
        };
        Ok(VerifiedGrant {
            gid: claims.gid.clone(),
            kid: Kid::parse(&claims.kid).expect("kid"),
            claims,
        })
    }
}

struct FakeHalt(RefCell<Option<String>>);

impl HaltSource for FakeHalt {
    fn halted(&self, _project: &str) -> Result<Option<String>> {
        Ok(self.0.borrow().clone())
    }
}

#[derive(Default)]
struct FakeAudit {
    records: RefCell<Vec<GateRecord>>,
    broken: Cell<bool>,
}

impl AuditSink for FakeAudit {
    fn record(&self, record: &GateRecord) -> Result<()> {
        if self.broken.get() {
            return Err(Error::new(ErrorCode::AuditUnwritable, "disk full"));
        }
        self.records.borrow_mut().push(record.clone());
        Ok(())
    }
}

/// Answers with `answer`, advancing the clock to `then` and optionally halting meanwhile.
struct FakeConfirm<'a> {
    answer: bool,
    asked: Cell<u32>,
    clock: &'a Cell<i64>,
    then: i64,
    halt_meanwhile: Option<&'a FakeHalt>,
}

impl Confirm for FakeConfirm<'_> {
    fn confirm(&mut self, question: &str) -> Result<bool> {
        assert!(question.ends_with("Proceed? [y/N] "), "{question}");
        self.asked.set(self.asked.get() + 1);
        self.clock.set(self.then);
        if let Some(h) = self.halt_meanwhile {
            *h.0.borrow_mut() = Some("halted during the prompt".into());
        }
        Ok(self.answer)
    }
}

struct World {
    config: ProjectConfig,
    grants: FakeGrants,
    halt: FakeHalt,
    audit: FakeAudit,
    clock: Cell<i64>,
}

impl World {
    fn new() -> Self {
        World {
            config: config(),
            grants: FakeGrants { break_glass: false },
            halt: FakeHalt(RefCell::new(None)),
            audit: FakeAudit::default(),
            clock: Cell::new(10),
        }
    }

    /// Hands `use_guard` a gate wired to this world's fakes, its clock, and a monotonic
    /// clock that stands still.
    fn with_guard<R>(
        &self,
        confirm: &mut FakeConfirm<'_>,
        interactive: bool,
        use_guard: impl FnOnce(&mut Guard<'_>) -> R,
    ) -> R {
        let clock = || self.clock.get();
        let elapsed = || 5;
        let mut guard = Guard {
            config: &self.config,
            grants: &self.grants,
            halts: &self.halt,
            audit: &self.audit,
            confirm,
            interactive,
            clock: &clock,
            elapsed_ms: &elapsed,
        };
        use_guard(&mut guard)
    }

    /// Runs `req` through the gate; returns the result and how often the act ran.
    fn run(
        &self,
        req: &Privileged<'_>,
        interactive: bool,
        confirm: &mut FakeConfirm<'_>,
    ) -> (std::result::Result<&'static str, ErrorCode>, u32) {
        let acted = Cell::new(0);
        let result = self.with_guard(confirm, interactive, |guard| {
            guard.run(req, |granted| {
                acted.set(acted.get() + 1);
                assert_eq!(granted.project, "shop");
                Ok("acted")
            })
        });
        (result.map_err(|e| e.code), acted.get())
    }

    fn phases(&self) -> Vec<(Phase, Option<ErrorCode>)> {
        self.audit
            .records
            .borrow()
            .iter()
            .map(|r| (r.phase, r.error))
            .collect()
    }
}

fn confirm<'a>(clock: &'a Cell<i64>, answer: bool) -> FakeConfirm<'a> {
    FakeConfirm {
        answer,
        asked: Cell::new(0),
        clock,
        then: clock.get(),
        halt_meanwhile: None,
    }
}

fn deploy_to(env: &str) -> Privileged<'_> {
    Privileged {
        env: Some(env),
        ..Privileged::new(Operation::Deploy)
    }
}

fn deploy_prod(grant: Option<&str>) -> Privileged<'_> {
    Privileged {
        grant_flag: grant,
        ..deploy_to("prod")
    }
}

/// A granted prod deploy with `--force`: nothing left to ask, so only the gate decides.
fn forced_deploy_prod() -> Privileged<'static> {
    Privileged {
        force: true,
        ..deploy_prod(Some(GOOD))
    }
}

#[test]
fn allowed_action_writes_intent_then_outcome() {
    let w = World::new();
    let mut c = confirm(&w.clock, true);
    let req = forced_deploy_prod();
    assert_eq!(w.run(&req, false, &mut c), (Ok("acted"), 1));
    assert_eq!(c.asked.get(), 0, "--force never prompts");
    assert_eq!(w.phases(), vec![(Phase::Intent, None), (Phase::Outcome, None)]);
    let records = w.audit.records.borrow();
    assert_eq!(records[0].grant_id.as_deref(), Some("g-00000000000000000001"));
    assert_eq!(records[0].kid.as_deref(), Some("k-0000000000000001"));
    assert_eq!(records[1].duration_ms, Some(0));
}

#[test]
fn denials_are_audited_and_nothing_acts() {
    let w = World::new();
    let mut c = confirm(&w.clock, true);
    let cases: &[(Privileged<'_>, ErrorCode)] = &[
        (deploy_prod(None), ErrorCode::PreauthRequired),
        (
            deploy_prod(Some("autosd.grant.forged")),
            ErrorCode::PreauthInvalid,
        ),
        (
            Privileged {
                env: Some("production"),
                ..deploy_prod(Some(GOOD))
            },
            ErrorCode::EnvInvalid,
        ),
        (
            Privileged {
                project: Some("other"),
                ..deploy_prod(Some(GOOD))
            },
            ErrorCode::ProjectMismatch,
        ),
        (
            Privileged {
                env: Some("dev"),
                ..deploy_prod(Some(GOOD))
            },
            ErrorCode::PreauthInvalid,
        ),
    ];
    for (req, code) in cases {
        assert_eq!(w.run(req, false, &mut c), (Err(*code), 0), "{req:?}");
    }
    let phases = w.phases();
    assert_eq!(phases.len(), cases.len());
    assert!(phases.iter().all(|(p, _)| *p == Phase::Denied));
    assert_eq!(phases[0].1, Some(ErrorCode::PreauthRequired));
}

#[test]
fn halted_project_refuses_deploy_but_not_break_glass_rollback() {
    let mut w = World::new();
    *w.halt.0.borrow_mut() = Some("incident".into());
    let mut c = confirm(&w.clock, true);
    let deploy = forced_deploy_prod();
    assert_eq!(w.run(&deploy, false, &mut c), (Err(ErrorCode::Halted), 0));
    let rollback = Privileged {
        op: Operation::Rollback,
        ..deploy.clone()
    };
    assert_eq!(w.run(&rollback, false, &mut c), (Err(ErrorCode::Halted), 0));
    w.grants.break_glass = true;
    assert_eq!(w.run(&rollback, false, &mut c), (Ok("acted"), 1));
    // the denial of the break-glass-less rollback names the grant it concerned
    let records = w.audit.records.borrow();
    assert_eq!(records[1].phase, Phase::Denied);
    assert_eq!(records[1].grant_id.as_deref(), Some("g-00000000000000000001"));
}

#[test]
fn no_tty_and_no_force_fails_at_once_without_asking() {
    let w = World::new();
    let mut c = confirm(&w.clock, true);
    assert_eq!(
        w.run(&deploy_prod(Some(GOOD)), false, &mut c),
        (Err(ErrorCode::ConfirmRequired), 0)
    );
    assert_eq!(c.asked.get(), 0);
    assert_eq!(
        w.phases(),
        vec![(Phase::Denied, Some(ErrorCode::ConfirmRequired))]
    );
}

#[test]
fn tty_prompt_yes_proceeds_and_no_declines() {
    let w = World::new();
    let mut yes = confirm(&w.clock, true);
    assert_eq!(w.run(&deploy_prod(Some(GOOD)), true, &mut yes), (Ok("acted"), 1));
    assert_eq!(yes.asked.get(), 1);
    let mut no = confirm(&w.clock, false);
    assert_eq!(
        w.run(&deploy_prod(Some(GOOD)), true, &mut no),
        (Err(ErrorCode::ConfirmDeclined), 0)
    );
}

#[test]
fn non_destructive_actions_do_not_prompt() {
    let w = World::new();
    let mut c = confirm(&w.clock, false);
    let req = deploy_to("staging");
    assert_eq!(w.run(&req, true, &mut c), (Ok("acted"), 1));
    assert_eq!(c.asked.get(), 0);
}

#[test]
fn grant_is_rechecked_after_the_prompt() {
    let w = World::new();
    let mut slow = FakeConfirm {
        then: 500,
        ..confirm(&w.clock, true)
    };
    assert_eq!(
        w.run(&deploy_prod(Some(EXPIRING)), true, &mut slow),
        (Err(ErrorCode::PreauthInvalid), 0)
    );
    assert_eq!(w.phases(), vec![(Phase::Denied, Some(ErrorCode::PreauthInvalid))]);
}

#[test]
fn halt_set_during_the_prompt_is_honoured() {
    let w = World::new();
    let mut c = FakeConfirm {
        halt_meanwhile: Some(&w.halt),
        ..confirm(&w.clock, true)
    };
    assert_eq!(
        w.run(&deploy_prod(Some(GOOD)), true, &mut c),
        (Err(ErrorCode::Halted), 0)
    );
}

#[test]
fn unwritable_audit_log_means_no_action() {
    let w = World::new();
    w.audit.broken.set(true);
    let mut c = confirm(&w.clock, true);
    let req = forced_deploy_prod();
    assert_eq!(w.run(&req, false, &mut c), (Err(ErrorCode::AuditUnwritable), 0));
    // a denial stays a denial even when it cannot be recorded
    assert_eq!(
        w.run(&deploy_prod(None), false, &mut c),
        (Err(ErrorCode::PreauthRequired), 0)
    );
}

#[test]
fn failed_act_is_recorded_as_a_failed_outcome() {
    let w = World::new();
    let mut c = confirm(&w.clock, true);
    let req = deploy_to("dev");
    let err = w
        .with_guard(&mut c, false, |guard| {
            guard.run(&req, |_| -> Result<()> { Err(Error::new(ErrorCode::Io, "boom")) })
        })
        .expect_err("act failed");
    assert_eq!(err.code, ErrorCode::Io);
    assert_eq!(
        w.phases(),
        vec![(Phase::Intent, None), (Phase::Outcome, Some(ErrorCode::Io))]
    );
}

#[test]
fn halt_needs_no_grant_even_with_a_bad_one() {
    let w = World::new();
    *w.halt.0.borrow_mut() = Some("already".into());
    let mut c = confirm(&w.clock, false);
    let req = Privileged {
        grant_flag: Some("autosd.grant.forged"),
        ..Privileged::new(Operation::Halt)
    };
    assert_eq!(w.run(&req, false, &mut c), (Ok("acted"), 1));
}

#[test]
fn debug_of_a_request_never_shows_the_grant() {
    let req = deploy_prod(Some("autosd.grant.SECRET"));
    let shown = format!("{req:?}");
    assert!(
        !shown.contains("SECRET") && shown.contains("[redacted]"),
        "{shown}"
    );
}

#[test]
fn outcome_detail_comes_from_the_act_result() {
    let w = World::new();
    let mut c = confirm(&w.clock, true);
    let req = deploy_to("dev");
    let sha = w
        .with_guard(&mut c, false, |guard| {
            guard.run_with_detail(&req, |_| Ok("abc123".to_string()), |sha| format!("pushed {sha}"))
        })
        .expect("allowed");
    assert_eq!(sha, "abc123");
    let records = w.audit.records.borrow();
    let outcome = records.last().expect("outcome");
    assert_eq!(
        (outcome.phase, outcome.detail.as_str()),
        (Phase::Outcome, "pushed abc123")
    );
}
