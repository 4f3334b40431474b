//! The `Target` trait: what a deployment platform must offer so that every target gets the
//! same plan, gate, ledger and lock semantics. Implementations: `docker::DockerTarget`,
//! `deploy::generic::GenericTarget`, `swarm::SwarmTarget`, `kubernetes::KubernetesTarget`
//! (the last two through `deploy::rolling`). Targets never touch the ledger or the audit log.
use crate::deploy::health::{GateFailure, Observation};
use crate::deploy::plan::{Plan, Strategy};
use crate::deploy::release::Scope;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a target says serves a scope now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Running {
    /// The release the running unit was started for (a rollback restarts an earlier one).
    pub release_id: Option<String>,
    pub digest: Option<String>,
    /// Engine-side name of the unit (container name), or the status command's summary.
    pub unit: String,
}

/// The health of what serves now, from the target's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub healthy: bool,
    pub detail: String,
}

impl HealthReport {
    /// One look at what serves as a report; `healthy_detail` says what passed.
    pub fn of(obs: Observation, healthy_detail: impl FnOnce() -> String) -> Self {
        match obs {
            Observation::Healthy => HealthReport {
                healthy: true,
                detail: healthy_detail(),
            },
            Observation::NotReady(r) | Observation::Failed(r) => HealthReport {
                healthy: false,
                detail: r,
            },
        }
    }
}

/// The private current-thread runtime a target drives its async client on, behind the
/// synchronous `Target` trait (one operation at a time; nothing runs in the background).
pub fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::error::Error::new(
                crate::error::ErrorCode::Internal,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// The exact object change a plan would send to an orchestrator (`--dry-run`).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What `body` is, for people: `service spec`, `server-side apply patch`.
    pub what: &'static str,
    pub body: serde_json::Value,
}

/// A probe of what serves a scope, with the evidence an incident records. Targets that know
/// more than `health` (container state, exit code, health-check output) fill it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub healthy: bool,
    pub detail: String,
    /// The release the probed unit runs, when the target knows.
    pub release_id: Option<String>,
    pub evidence: crate::heal::incident::Evidence,
}

/// A phase of a running plan, for progress lines and GitHub groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Lock,
    Pull,
    Start,
    Health,
    Switch,
    Prune,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Lock => "lock",
            Phase::Pull => "pull",
            Phase::Start => "start",
            Phase::Health => "health",
            Phase::Switch => "switch",
            Phase::Prune => "prune",
        }
    }
}

/// Receives progress while a target works; the CLI turns it into lines or `::group::`s.
pub trait Progress {
    fn phase(&mut self, phase: Phase, detail: &str);
}

/// Progress that goes nowhere (tests, JSON output).
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&mut self, _: Phase, _: &str) {}
}

/// How a target-side run of a plan ended. Errors (engine gone, port taken) are `Err`; a
/// failed gate is an outcome, because the ledger must record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The new release passed its gate and serves.
    Healthy { ready_after_ms: u64 },
    /// The gate failed; the new release was removed and `previous_serving` says whether the
    /// release that served before serves again.
    GateFailed {
        failure: GateFailure,
        previous_serving: bool,
    },
}

/// Who holds (or wants) a lock; stored at the target so a second operation can name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// `user ann` or `GitHub run 42 of org/repo (by ann)`.
    pub who: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    /// Unix seconds when taken and when the lease ends.
    pub acquired: i64,
    pub expires: i64,
}

impl LockHolder {
    pub fn describe(&self) -> String {
        format!(
            "{} ({} on {}, pid {}), since {} (lease until {})",
            self.who,
            self.operation,
            self.host,
            self.pid,
            time(self.acquired),
            time(self.expires)
        )
    }

    /// Stale: the lease ran out, or the holder ran on this host and its process is gone.
    pub fn is_stale(&self, now: i64, this_host: &str, pid_alive: impl Fn(u32) -> bool) -> bool {
        now >= self.expires || (self.host == this_host && !pid_alive(self.pid))
    }
}

/// A held lock; dropping it without `release` leaves a lock that goes stale when its lease
/// ends (or at once, for a dead holder on this host).
pub trait LockGuard {
    fn release(self: Box<Self>) -> Result<()>;
}

/// A deployment platform.
pub trait Target {
    /// `docker`, `generic_container`, `swarm` or `kubernetes`.
    fn kind(&self) -> &'static str;

    /// How the target replaces what serves; plans are built for it.
    fn strategy(&self) -> Strategy {
        Strategy::Candidate
    }

    /// The exact object change `plan` would make (a Swarm service spec, a Kubernetes apply
    /// patch), for `--dry-run`; None where the plan's steps say it all. Changes nothing.
    fn preview(&self, plan: &Plan) -> Result<Option<Change>> {
        let _ = plan;
        Ok(None)
    }

    /// The digest `image` resolves to (pulling if the target can and must).
    fn resolve(&self, image: &str, progress: &mut dyn Progress) -> Result<String>;

    /// `(release id, digest)` of the stopped units of `scope` the target keeps, newest first.
    /// The default keeps none: a rollback redeploys the known-good digest.
    fn retained(&self, scope: &Scope) -> Result<Vec<(String, String)>> {
        let _ = scope;
        Ok(Vec::new())
    }

    /// Runs the target-side steps of `plan` (deploy, promote, and rollback by the deploy path).
    fn deploy(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome>;

    /// Runs a rollback plan; the fast path restarts a retained release. The default runs it
    /// as a deploy, the way a target that keeps nothing rolls back.
    fn rollback(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        self.deploy(plan, progress)
    }

    /// What serves `scope` now.
    fn current(&self, scope: &Scope) -> Result<Option<Running>>;

    /// One look at the health of what serves `scope` now.
    fn health(&self, scope: &Scope) -> Result<HealthReport>;

    /// Restarts what serves `scope` (the heal issue's first remedy), also when it has
    /// stopped (killed, crashed).
    fn restart(&self, scope: &Scope) -> Result<()>;

    /// One look at what serves `scope`, with evidence for an incident (heal's detection).
    /// The default knows only what `health` says.
    fn diagnose(&self, scope: &Scope) -> Result<Diagnosis> {
        let report = self.health(scope)?;
        let release_id = self.current(scope)?.and_then(|r| r.release_id);
        Ok(Diagnosis {
            healthy: report.healthy,
            evidence: crate::heal::incident::Evidence {
                unit: Some(self.kind().to_string()),
                ..Default::default()
            },
            detail: report.detail,
            release_id,
        })
    }

    /// Takes the per-scope lock, waiting up to `wait`; stale locks are broken (and named in
    /// the returned notes). A live holder past `wait` gives `AUTOSD-LOCK-HELD` naming it.
    fn lock(
        &self,
        scope: &Scope,
        holder: &LockHolder,
        wait: Duration,
    ) -> Result<(Box<dyn LockGuard>, Vec<String>)>;

    /// Who holds the lock of `scope`, if anyone.
    fn lock_holder(&self, scope: &Scope) -> Result<Option<LockHolder>>;

    /// Removes the lock of `scope` whoever holds it (`autosd lock break`). True if one existed.
    fn break_lock(&self, scope: &Scope) -> Result<bool>;

    /// Cleans up what releases left `pending` by a dead process left behind.
    fn recover(&self, scope: &Scope, release_ids: &[String]) -> Result<()>;
}

/// RFC 3339 for a time read back from a lock; out-of-range values (a hostile or corrupt
/// lock) are clamped rather than allowed to break formatting.
fn time(unix: i64) -> String {
    crate::context::rfc3339(unix.clamp(0, 253_402_300_799))
}

/// The host name, for lock holders (`/proc/sys/kernel/hostname`, else `unknown`).
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a process with `pid` exists on this host.
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32, expires: i64) -> LockHolder {
        LockHolder {
            who: "user ann".into(),
            host: host.into(),
            pid,
            operation: "deploy".into(),
            acquired: 100,
            expires,
        }
    }

    #[test]
    fn stale_when_the_lease_ends_or_a_local_holder_died() {
        let alive = |_| true;
        let dead = |_| false;
        assert!(!holder("h", 1, 200).is_stale(150, "h", alive));
        assert!(holder("h", 1, 200).is_stale(200, "h", alive));
        assert!(holder("h", 1, 200).is_stale(150, "h", dead));
        // A holder on another host is only judged by its lease.
        assert!(!holder("other", 1, 200).is_stale(150, "h", dead));
        assert!(
            holder("h", 1, 200)
                .describe()
                .contains("user ann (deploy on h, pid 1)")
        );
    }

    #[test]
    fn this_process_is_alive() {
        assert!(pid_alive(std::process::id()));
        assert!(!this_host().is_empty());
    }
}
