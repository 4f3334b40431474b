//! The `generic_container` target: any platform reachable from a command line. The project
//! file gives argv arrays (never a shell line) for deploy, status, rollback and restart; the
//! release travels to them only as environment variables (`AUTOSD_IMAGE`, `AUTOSD_DIGEST`,
//! `AUTOSD_RELEASE_ID`, …), so no user-supplied value can become a command or an argument.
//! Health is the status command's exit code plus the optional HTTP probe, under the same
//! gate as docker. The deploy lock is a file under `$AUTOSD_HOME/locks/`.
use crate::deploy::health::{self, Gate, Observation};
use crate::deploy::plan::{Plan, PlanKind};
use crate::deploy::probe::{self, HttpUrl};
use crate::deploy::release::{Release, Scope};
use crate::deploy::settings::GenericSettings;
use crate::deploy::target::{
    self, HealthReport, LockGuard, LockHolder, Outcome, Phase, Progress, Running, Target,
};
use crate::error::{Error, ErrorCode, Result};
use crate::process::{self, Cmd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Variables never passed on to configured commands: they are autosd's secrets.
const WITHHELD: &[&str] = &["AUTOSD_PREAUTH_GRANT", "GITHUB_TOKEN"];

pub struct GenericTarget {
    pub settings: GenericSettings,
    /// Commands run here (the repository root), so `./deploy.sh` works.
    pub workdir: PathBuf,
    /// Where lock files live (`$AUTOSD_HOME/locks`).
    pub lock_dir: PathBuf,
    /// Unix seconds, from the `Context`.
    pub now: fn() -> i64,
}

/// A finished command.
#[derive(Debug)]
pub struct CommandRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandRun {
    fn ok(&self) -> bool {
        self.status == Some(0)
    }

    fn failure(&self, what: &str) -> String {
        let code = match self.status {
            Some(c) => format!("exited {c}"),
            None => "was killed (timeout or signal)".into(),
        };
        let tail: String = self
            .stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        if tail.is_empty() {
            format!("{what} command {code}")
        } else {
            format!("{what} command {code}: {tail}")
        }
    }
}

/// Runs `argv` through `process` (no shell, stdin closed), with `vars` added to the
/// environment and autosd's secrets withheld, killing it after `timeout`.
pub fn run_argv(
    argv: &[String],
    workdir: &Path,
    vars: &[(String, String)],
    timeout: Duration,
) -> Result<CommandRun> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::new(ErrorCode::TargetSettingsInvalid, "an empty command"))?;
    let mut cmd = Cmd::new(program)
        .args(args)
        .current_dir(workdir)
        .timeout(timeout)
        .timeout_as_failure();
    for name in WITHHELD {
        cmd = cmd.env_remove(name);
    }
    for (k, v) in vars {
        cmd = cmd.env(k, v);
    }
    let out = process::run(&cmd).map_err(|e| {
        Error::new(ErrorCode::TargetFailed, e.message)
            .hint("commands are argv arrays run from the repository root, without a shell")
    })?;
    Ok(CommandRun {
        status: out.code,
        stdout: out.stdout_str(),
        stderr: out.stderr_str(),
    })
}

/// The variables a command sees for `release` (and the release it replaces).
pub fn release_vars(op: &str, release: &Release, previous: Option<&Release>) -> Vec<(String, String)> {
    let mut vars = vec![
        ("AUTOSD_OPERATION".to_string(), op.to_string()),
        ("AUTOSD_PROJECT".into(), release.project.clone()),
        ("AUTOSD_ENV".into(), release.env.clone()),
        ("AUTOSD_RELEASE_ID".into(), release.id.clone()),
        ("AUTOSD_IMAGE".into(), release.image.clone()),
        ("AUTOSD_DIGEST".into(), release.digest.clone()),
    ];
    if let Some(p) = previous {
        vars.push(("AUTOSD_PREVIOUS_RELEASE_ID".into(), p.id.clone()));
        vars.push(("AUTOSD_PREVIOUS_IMAGE".into(), p.image.clone()));
        vars.push(("AUTOSD_PREVIOUS_DIGEST".into(), p.digest.clone()));
    }
    vars
}

impl GenericTarget {
    fn vars(&self, mut vars: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .settings
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.append(&mut vars);
        all
    }

    fn run(&self, argv: &[String], vars: Vec<(String, String)>) -> Result<CommandRun> {
        run_argv(argv, &self.workdir, &self.vars(vars), self.settings.timeout)
    }

    fn scope_vars(scope: &Scope) -> Vec<(String, String)> {
        vec![
            ("AUTOSD_PROJECT".into(), scope.project.clone()),
            ("AUTOSD_ENV".into(), scope.env.clone()),
        ]
    }

    /// One look: status command (exit 0) and the HTTP probe.
    fn observe(&self, scope: &Scope) -> Result<Observation> {
        let mut looks = Vec::new();
        if let Some(status) = &self.settings.status {
            let mut vars = Self::scope_vars(scope);
            vars.push(("AUTOSD_OPERATION".into(), "status".into()));
            let run = self.run(status, vars)?;
            looks.push(if run.ok() {
                Observation::Healthy
            } else {
                Observation::NotReady(run.failure("status"))
            });
        }
        if let Some(url) = &self.settings.http {
            let url = HttpUrl::parse(url).map_err(|e| Error::new(ErrorCode::TargetSettingsInvalid, e))?;
            looks.push(probe::probe(
                &url,
                self.settings.gate.interval.max(Duration::from_secs(1)),
            ));
        }
        Ok(health::combine(looks))
    }

    fn gate(
        &self,
        scope: &Scope,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, health::GateFailure>> {
        progress.phase(Phase::Health, "waiting for the health gate");
        Gate::new(self.settings.gate).run(|| self.observe(scope), |g| g.spec().interval)
    }

    /// Runs `argv` for `release`, gates it, and on failure puts `previous` back with the
    /// deploy command.
    fn release(
        &self,
        op: &str,
        argv: &[String],
        plan: &Plan,
        progress: &mut dyn Progress,
    ) -> Result<Outcome> {
        progress.phase(Phase::Start, &format!("running the {op} command"));
        let run = self.run(argv, release_vars(op, &plan.release, plan.from.as_ref()))?;
        let verdict = if run.ok() {
            self.gate(&plan.scope, progress)?
        } else {
            Err(health::GateFailure::Failed(run.failure(op)))
        };
        match verdict {
            Ok(ready_after_ms) => Ok(Outcome::Healthy { ready_after_ms }),
            Err(failure) => {
                let previous_serving = match &plan.from {
                    Some(prev) => {
                        progress.phase(
                            Phase::Switch,
                            &format!("restoring {} with the deploy command", prev.id),
                        );
                        let restore = self.run(&self.settings.deploy, release_vars("restore", prev, None))?;
                        restore.ok() && self.observe(&plan.scope)? == Observation::Healthy
                    }
                    None => false,
                };
                Ok(Outcome::GateFailed {
                    failure,
                    previous_serving,
                })
            }
        }
    }
}

impl Target for GenericTarget {
    fn kind(&self) -> &'static str {
        "generic_container"
    }

    /// Without an engine to ask, the digest is the pinned `@sha256:…` part of the reference,
    /// or the reference itself (pin images for exact rollbacks).
    fn resolve(&self, image: &str, _: &mut dyn Progress) -> Result<String> {
        if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::new(
                ErrorCode::ImageNotFound,
                format!("`{image}` is not an image reference"),
            ));
        }
        Ok(match image.split_once('@') {
            Some((_, digest)) => digest.to_string(),
            None => image.to_string(),
        })
    }

    fn deploy(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        let op = if plan.kind == PlanKind::Promote {
            "promote"
        } else {
            "deploy"
        };
        self.release(op, &self.settings.deploy, plan, progress)
    }

    fn rollback(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        let argv = self.settings.rollback.as_ref().unwrap_or(&self.settings.deploy);
        self.release("rollback", argv, plan, progress)
    }

    fn current(&self, scope: &Scope) -> Result<Option<Running>> {
        let Some(status) = &self.settings.status else {
            return Ok(None);
        };
        let mut vars = Self::scope_vars(scope);
        vars.push(("AUTOSD_OPERATION".into(), "status".into()));
        let run = self.run(status, vars)?;
        if !run.ok() {
            return Ok(None);
        }
        let first = run.stdout.lines().next().unwrap_or("").trim().to_string();
        Ok(Some(Running {
            release_id: None,
            digest: (!first.is_empty()).then(|| first.clone()),
            unit: if first.is_empty() {
                "status ok".into()
            } else {
                first
            },
        }))
    }

    fn health(&self, scope: &Scope) -> Result<HealthReport> {
        Ok(match self.observe(scope)? {
            Observation::Healthy => HealthReport {
                healthy: true,
                detail: "healthy".into(),
            },
            Observation::NotReady(r) | Observation::Failed(r) => HealthReport {
                healthy: false,
                detail: r,
            },
        })
    }

    fn restart(&self, scope: &Scope) -> Result<()> {
        let argv = self.settings.restart.as_ref().ok_or_else(|| {
            Error::new(
                ErrorCode::TargetSettingsInvalid,
                "no `restart` command is configured for generic_container",
            )
        })?;
        let mut vars = Self::scope_vars(scope);
        vars.push(("AUTOSD_OPERATION".into(), "restart".into()));
        let run = self.run(argv, vars)?;
        if run.ok() {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::TargetFailed, run.failure("restart")))
        }
    }

    fn lock(
        &self,
        scope: &Scope,
        holder: &LockHolder,
        wait: Duration,
    ) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
        FileLock::acquire(&self.lock_dir, scope, holder, wait, self.now)
    }

    fn lock_holder(&self, scope: &Scope) -> Result<Option<LockHolder>> {
        FileLock::holder(&FileLock::path(&self.lock_dir, scope))
    }

    fn break_lock(&self, scope: &Scope) -> Result<bool> {
        let path = FileLock::path(&self.lock_dir, scope);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", &path, &e)),
        }
    }

    fn recover(&self, _: &Scope, _: &[String]) -> Result<()> {
        // The platform owns its units; an interrupted deploy command left nothing of ours.
        Ok(())
    }
}

/// A lock file created with `O_EXCL`, holding its holder as JSON.
pub struct FileLock {
    path: PathBuf,
}

impl FileLock {
    pub fn path(dir: &Path, scope: &Scope) -> PathBuf {
        dir.join(format!("{}.{}.lock.json", scope.project, scope.env))
    }

    fn holder(path: &Path) -> Result<Option<LockHolder>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::new(
                    ErrorCode::StateCorrupt,
                    format!("lock file {}: {e}", path.display()),
                )
                .hint("remove it with `autosd lock break`")
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, &e)),
        }
    }

    pub fn acquire(
        dir: &Path,
        scope: &Scope,
        holder: &LockHolder,
        wait: Duration,
        now: fn() -> i64,
    ) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        crate::store::fs::ensure_dir(dir, 0o700)?;
        let path = Self::path(dir, scope);
        let start = Instant::now();
        let mut notes = Vec::new();
        let host = target::this_host();
        loop {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match created {
                Ok(mut f) => {
                    let body = serde_json::to_vec(holder).unwrap_or_default();
                    f.write_all(&body)
                        .and_then(|_| f.sync_all())
                        .map_err(|e| Error::io("write", &path, &e))?;
                    return Ok((Box::new(FileLock { path }), notes));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A torn lock file (crash while writing) counts as stale.
                    let current = Self::holder(&path).unwrap_or(None);
                    match current {
                        Some(h) if !h.is_stale(now(), &host, target::pid_alive) => {
                            wait_for_holder(scope, &h, start.elapsed(), wait, Duration::from_millis(200))?;
                        }
                        stale => {
                            let who = stale
                                .map(|h| h.describe())
                                .unwrap_or_else(|| "an unreadable holder".into());
                            notes.push(format!("broke the stale deploy lock of {scope} held by {who}"));
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(Error::io("create", &path, &e)),
            }
        }
    }
}

impl LockGuard for FileLock {
    fn release(self: Box<Self>) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| Error::io("remove", &self.path, &e))
    }
}

/// The error for a lock held by a live holder.
/// A live holder `h` has had the lock of `scope` for `waited` of the `wait` allowed: past
/// it, `AUTOSD-LOCK-HELD` naming `h`; on a signal, `AUTOSD-INTERRUPTED`; else a `pause`
/// before the next try. Every lock's wait loop goes through here.
pub fn wait_for_holder(
    scope: &Scope,
    h: &LockHolder,
    waited: Duration,
    wait: Duration,
    pause: Duration,
) -> Result<()> {
    if waited >= wait {
        return Err(lock_held(scope, h));
    }
    crate::interrupt::check("while waiting for the deploy lock; nothing was done")?;
    crate::interrupt::sleep(pause);
    Ok(())
}

fn lock_held(scope: &Scope, h: &LockHolder) -> Error {
    Error::new(
        ErrorCode::LockHeld,
        format!("the deploy lock of {scope} is held by {}", h.describe()),
    )
    .hint("wait longer with --lock-wait, or, if that holder is gone, run `autosd lock break`")
}
