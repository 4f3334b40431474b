//! The `docker` target, and the engine plumbing it shares with `swarm` (connecting and
//! negotiating, error mapping, the lock protocol, the gate loop). `docker` and `swarm` are
//! the only modules that name bollard. It talks to the engine at `DOCKER_HOST` (unix
//! socket or tcp; negotiated API version) on a private current-thread runtime behind the
//! synchronous `Target` trait.
//!
//! A deploy starts the new release as a *candidate* on loopback-only ephemeral ports beside
//! the serving release, gates it (the image's HEALTHCHECK and/or an HTTP probe, then the
//! stability window), and only then switches: the serving container is stopped (and kept),
//! the release container takes the real ports, and a readiness probe confirms it. A failed
//! gate removes the candidate and never touches what serves. Stopped releases beyond `keep`
//! are pruned, so a rollback restarts a retained container: no pull, no create.
//! The deploy lock is a never-started container named after the scope.
pub(crate) mod diagnose;
pub(crate) mod lock;
pub mod spec;

use crate::deploy::health::{self, Gate, GateFailure, Observation};
use crate::deploy::plan::{Plan, Step};
use crate::deploy::probe::{self, HttpUrl};
use crate::deploy::release::{Release, Scope};
use crate::deploy::settings::{DockerSettings, HttpCheck};
use crate::deploy::target::{
    Diagnosis, HealthReport, LockGuard, LockHolder, Outcome, Phase, Progress, Running, Target,
};
use crate::error::{Error, ErrorCode, Result};
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerSummary, HealthStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions, ListContainersOptions,
    RemoveContainerOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use spec::Role;
use std::time::Duration;

/// How much a gate demands of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateMode {
    /// A digest on trial: every check (engine HEALTHCHECK and HTTP probe), then the window.
    Trial,
    /// A kept known-good release coming back (rollback): HTTP probe if any, then the window.
    KnownGood,
    /// The release container right after its candidate passed: ready, no window.
    Readiness,
}

/// Where Docker listens when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

pub struct DockerTarget {
    /// Shared with lock guards: only `Runtime::block_on` drives a current-thread runtime's
    /// IO, so a guard must not use a bare `Handle`.
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    docker: Docker,
    host: String,
    settings: DockerSettings,
    /// Unix seconds (from the `Context` in production).
    now: fn() -> i64,
}

/// How a bollard error reads to a user; `what` names the operation.
pub(crate) fn engine_error(host: &str, what: &str, e: BollardError) -> Error {
    match e {
        BollardError::DockerResponseServerError { status_code, message } => {
            let lower = message.to_lowercase();
            if lower.contains("port is already allocated") || lower.contains("address already in use") {
                Error::new(ErrorCode::PortInUse, format!("{what}: {message}"))
                    .hint("another process or container holds the port: free it or change `ports` in the project file")
            } else if status_code == 404 {
                Error::new(ErrorCode::TargetFailed, format!("{what}: not found: {message}"))
            } else {
                Error::new(ErrorCode::TargetFailed, format!("{what}: the engine answered {status_code}: {message}"))
            }
        }
        other => Error::new(ErrorCode::DockerUnreachable, format!("{what}: cannot talk to Docker at {host}: {other}"))
            .hint("start dockerd, or point DOCKER_HOST at a running engine (unix:///path/docker.sock or tcp://host:port)"),
    }
}

pub(crate) fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError { status_code: 404, .. }
    )
}

pub(crate) fn is_conflict(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError { status_code: 409, .. }
    )
}

fn label<'a>(c: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    c.labels.as_ref()?.get(key).map(String::as_str)
}

fn summary_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .or_else(|| c.id.clone())
        .unwrap_or_default()
}

/// Connects to `docker_host` (the `DOCKER_HOST` value, or the default socket) on a private
/// current-thread runtime and negotiates the API version. Fails with
/// `AUTOSD-DOCKER-UNREACHABLE` when nobody answers. Returns the runtime, the client and the
/// host as it reads in messages.
pub(crate) fn connect_engine(docker_host: Option<&str>) -> Result<(tokio::runtime::Runtime, Docker, String)> {
    let host = docker_host.unwrap_or(DEFAULT_HOST).to_string();
    let rt = crate::deploy::target::current_thread_runtime()?;
    let docker = Docker::connect_with_host(&host).map_err(|e| engine_error(&host, "connect", e))?;
    let docker = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version()).await })
        .map_err(|_| {
            Error::new(
                ErrorCode::DockerUnreachable,
                format!("Docker at {host} did not answer within 10 s"),
            )
        })?
        .map_err(|e| engine_error(&host, "negotiate the API version", e))?;
    Ok((rt, docker, host))
}

impl DockerTarget {
    /// Connects to `docker_host` (the `DOCKER_HOST` value, or the default socket) and
    /// negotiates the API version. Fails with `AUTOSD-DOCKER-UNREACHABLE` when nobody answers.
    pub fn connect(docker_host: Option<&str>, settings: DockerSettings, now: fn() -> i64) -> Result<Self> {
        let (rt, docker, host) = connect_engine(docker_host)?;
        Ok(DockerTarget {
            rt: std::sync::Arc::new(rt),
            docker,
            host,
            settings,
            now,
        })
    }

    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    fn err(&self, what: &str, e: BollardError) -> Error {
        engine_error(&self.host, what, e)
    }

    fn list(&self, scope: &Scope, role: Option<Role>, all: bool) -> Result<Vec<ContainerSummary>> {
        let opts = ListContainersOptions {
            all,
            filters: Some(spec::filters(scope, role)),
            ..Default::default()
        };
        let mut list = self
            .rt
            .block_on(self.docker.list_containers(Some(opts)))
            .map_err(|e| self.err("list containers", e))?;
        // Newest first.
        list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
        Ok(list)
    }

    fn running_releases(&self, scope: &Scope) -> Result<Vec<ContainerSummary>> {
        Ok(self
            .list(scope, Some(Role::Release), true)?
            .into_iter()
            .filter(|c| c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING))
            .collect())
    }

    fn remove(&self, name: &str) -> Result<()> {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.rt.block_on(self.docker.remove_container(name, Some(opts))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err(&format!("remove container {name}"), e)),
        }
    }

    fn stop(&self, name: &str) -> Result<()> {
        let opts = StopContainerOptions {
            t: Some(self.settings.stop_timeout.as_secs() as i32),
            ..Default::default()
        };
        match self.rt.block_on(self.docker.stop_container(name, Some(opts))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 304: already stopped.
            Err(BollardError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(self.err(&format!("stop container {name}"), e)),
        }
    }

    fn start(&self, name: &str) -> Result<()> {
        self.rt
            .block_on(self.docker.start_container(name, None::<StartContainerOptions>))
            .map_err(|e| self.err(&format!("start container {name}"), e))
    }

    /// Creates and starts `release` in `role`; on failure nothing is left behind.
    fn create_and_start(&self, release: &Release, role: Role) -> Result<String> {
        let scope = release.scope();
        let name = spec::container_name(&scope, &release.id, role);
        // A leftover of the same name (an interrupted run) would make create fail.
        self.remove(&name)?;
        let body = spec::create_body(&self.settings, release, role);
        let opts = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        self.rt
            .block_on(self.docker.create_container(Some(opts), body))
            .map_err(|e| self.err(&format!("create container {name}"), e))?;
        if let Err(e) = self.start(&name) {
            let _ = self.remove(&name);
            return Err(e);
        }
        Ok(name)
    }

    /// Fails early, before anything is created, when a host port the release needs is held
    /// by something other than this scope's serving release.
    fn check_ports_free(&self, scope: &Scope) -> Result<()> {
        let ours: Vec<u16> = self
            .running_releases(scope)?
            .iter()
            .flat_map(|c| c.ports.iter().flatten().filter_map(|p| p.public_port))
            .collect();
        for p in &self.settings.ports {
            if p.protocol != "tcp" || ours.contains(&p.host_port) {
                continue;
            }
            if let Err(e) = std::net::TcpListener::bind((p.host_ip.as_str(), p.host_port)) {
                return Err(Error::new(
                    ErrorCode::PortInUse,
                    format!(
                        "host port {}:{} is already in use ({e}); nothing was started",
                        p.host_ip, p.host_port
                    ),
                )
                .hint("free the port or change `ports` in the project file"));
            }
        }
        Ok(())
    }

    /// Whether the image has a HEALTHCHECK the engine runs.
    fn image_has_healthcheck(&self, digest: &str) -> bool {
        self.rt
            .block_on(self.docker.inspect_image(digest))
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.healthcheck)
            .and_then(|h| h.test)
            .is_some_and(|t| !t.is_empty() && t[0] != "NONE")
    }

    /// One look at container `name`: its state, the engine's health (when `engine`), and
    /// the HTTP probe on whatever host port the probed container port is published on.
    fn observe(&self, name: &str, engine: bool, http: bool) -> Result<Observation> {
        let info = match self.rt.block_on(
            self.docker
                .inspect_container(name, None::<InspectContainerOptions>),
        ) {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => {
                return Ok(Observation::Failed(format!("container {name} is gone")));
            }
            Err(e) => return Err(self.err(&format!("inspect container {name}"), e)),
        };
        let state = info.state.unwrap_or_default();
        // A release runs with restart policy `unless-stopped`: a crash shows as restarts, not
        // as an exit, and is just as final for the gate.
        let restarts = info.restart_count.unwrap_or(0);
        if state.restarting == Some(true) || restarts > 0 {
            let code = state.exit_code.unwrap_or(-1);
            return Ok(Observation::Failed(format!(
                "container {name} exited with {code} and was restarted {restarts} time(s)"
            )));
        }
        if state.running != Some(true) {
            let code = state.exit_code.unwrap_or(-1);
            let oom = if state.oom_killed == Some(true) {
                " (out of memory)"
            } else {
                ""
            };
            return Ok(Observation::Failed(format!(
                "container {name} is not running: exited with {code}{oom}"
            )));
        }
        let mut looks = vec![];
        if engine {
            let status = state.health.and_then(|h| h.status);
            looks.push(match status {
                Some(HealthStatusEnum::HEALTHY) => Observation::Healthy,
                Some(HealthStatusEnum::UNHEALTHY) => {
                    Observation::Failed("the image's HEALTHCHECK reports unhealthy".into())
                }
                _ => Observation::NotReady("the image's HEALTHCHECK has not passed yet".into()),
            });
        }
        if http && let Some(HttpCheck::ContainerPort { port, path }) = &self.settings.http {
            let ports = info.network_settings.as_ref().and_then(|n| n.ports.as_ref());
            looks.push(match spec::published_port(ports, *port) {
                Some(host_port) => {
                    let url = HttpUrl {
                        host: "127.0.0.1".into(),
                        port: host_port,
                        path: path.clone(),
                    };
                    probe::probe(&url, Duration::from_secs(2))
                }
                None => Observation::NotReady(format!("container port {port} is not published yet")),
            });
        }
        Ok(health::combine(looks))
    }

    /// Runs the gate on container `name`.
    fn gate(
        &self,
        name: &str,
        digest: &str,
        mode: GateMode,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, GateFailure>> {
        let mut spec = self.settings.gate;
        let engine = self.settings.engine_health && self.image_has_healthcheck(digest);
        let http = self.settings.http.is_some();
        // A digest that already passed the full gate (just now, or as the known-good release
        // of a rollback) is judged by the HTTP probe when there is one: the engine's first
        // health check can be a whole interval away, the probe answers in milliseconds.
        let engine = engine && (mode == GateMode::Trial || !http);
        if mode == GateMode::Readiness {
            spec.stability_window = Duration::ZERO;
        }
        progress.phase(
            Phase::Health,
            &format!(
                "{name}: ready within {}, then healthy for {}",
                humantime::format_duration(spec.ready_timeout),
                humantime::format_duration(spec.stability_window)
            ),
        );
        Gate::new(spec).poll(|| self.observe(name, engine, http))
    }

    /// Restarts the containers that served before, after a failed switch.
    fn restore(&self, previous: &[String], progress: &mut dyn Progress) -> bool {
        if previous.is_empty() {
            return false;
        }
        progress.phase(Phase::Switch, &format!("restoring {}", previous.join(", ")));
        previous.iter().all(|name| self.start(name).is_ok())
    }

    fn switch_over(&self, plan: &Plan, candidate: &str, progress: &mut dyn Progress) -> Result<Outcome> {
        let scope = &plan.scope;
        self.remove(candidate)?;
        let previous: Vec<String> = self.running_releases(scope)?.iter().map(summary_name).collect();
        progress.phase(
            Phase::Switch,
            &format!(
                "stopping {} (kept for rollback)",
                if previous.is_empty() {
                    "nothing".into()
                } else {
                    previous.join(", ")
                }
            ),
        );
        for name in &previous {
            self.stop(name)?;
        }
        let name = match self.create_and_start(&plan.release, Role::Release) {
            Ok(name) => name,
            Err(e) => {
                self.restore(&previous, progress);
                return Err(e);
            }
        };
        match self.gate(&name, &plan.release.digest, GateMode::Readiness, progress)? {
            Ok(ms) => Ok(Outcome::Healthy { ready_after_ms: ms }),
            Err(failure) => {
                let _ = self.remove(&name);
                let previous_serving = self.restore(&previous, progress);
                Ok(Outcome::GateFailed {
                    failure,
                    previous_serving,
                })
            }
        }
    }

    fn prune(&self, scope: &Scope, keep: usize, progress: &mut dyn Progress) -> Result<()> {
        let stopped: Vec<ContainerSummary> = self
            .list(scope, Some(Role::Release), true)?
            .into_iter()
            .filter(|c| c.state != Some(bollard::models::ContainerSummaryStateEnum::RUNNING))
            .collect();
        for c in stopped.iter().skip(keep) {
            let name = summary_name(c);
            progress.phase(
                Phase::Prune,
                &format!("removing {name} (beyond the newest {keep})"),
            );
            self.remove(&name)?;
        }
        Ok(())
    }

    fn retained_container(&self, scope: &Scope, release_id: &str) -> Result<Option<String>> {
        Ok(self
            .list(scope, Some(Role::Release), true)?
            .iter()
            .find(|c| label(c, spec::LABEL_RELEASE) == Some(release_id))
            .map(summary_name))
    }

    /// Pulls `image`; Ok(false) when the engine could not (no registry, unknown image).
    fn pull(&self, image: &str) -> Result<std::result::Result<(), String>> {
        use futures_util::StreamExt;
        let opts = CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        };
        let result = self.rt.block_on(async {
            let mut stream = self.docker.create_image(Some(opts), None, None);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                            return Err(BollardError::DockerStreamError { error: detail });
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(Ok(())),
            Err(e @ BollardError::DockerResponseServerError { .. })
            | Err(e @ BollardError::DockerStreamError { .. }) => Ok(Err(e.to_string())),
            Err(e) => Err(self.err("pull", e)),
        }
    }
}

impl Target for DockerTarget {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn resolve(&self, image: &str, progress: &mut dyn Progress) -> Result<String> {
        let inspect = |t: &Self| t.rt.block_on(t.docker.inspect_image(image));
        let found = match inspect(self) {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => {
                progress.phase(Phase::Pull, &format!("{image} is not on the engine: pulling"));
                if let Err(why) = self.pull(image)? {
                    return Err(Error::new(
                        ErrorCode::ImageNotFound,
                        format!(
                            "image {image} is not on the engine at {} and cannot be pulled: {why}",
                            self.host
                        ),
                    )
                    .hint("build or load the image on that engine, or check the reference"));
                }
                inspect(self).map_err(|e| self.err(&format!("inspect image {image}"), e))?
            }
            Err(e) => {
                let err = self.err(&format!("inspect image {image}"), e);
                return Err(if err.code == ErrorCode::TargetFailed {
                    Error::new(ErrorCode::ImageNotFound, err.message).hint("check the image reference")
                } else {
                    err
                });
            }
        };
        found.id.ok_or_else(|| {
            Error::new(
                ErrorCode::TargetFailed,
                format!("the engine gave no id for image {image}"),
            )
        })
    }

    fn retained(&self, scope: &Scope) -> Result<Vec<(String, String)>> {
        Ok(self
            .list(scope, Some(Role::Release), true)?
            .iter()
            .filter(|c| c.state != Some(bollard::models::ContainerSummaryStateEnum::RUNNING))
            .filter_map(|c| {
                let id = label(c, spec::LABEL_RELEASE)?;
                let digest = label(c, spec::LABEL_DIGEST)?;
                Some((id.to_string(), digest.to_string()))
            })
            .collect())
    }

    fn deploy(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        let scope = &plan.scope;
        // The container on trial, and whether it is a candidate that must still switch over.
        let mut trial: Option<(String, bool)> = None;
        let mut outcome = None;
        for step in &plan.steps {
            match step {
                Step::StartRelease { .. } | Step::StartCandidate { .. } => {
                    self.check_ports_free(scope)?;
                    // The ledger says nothing serves; if the engine disagrees, protect what
                    // runs and take the candidate path after all.
                    let direct =
                        matches!(step, Step::StartRelease { .. }) && self.running_releases(scope)?.is_empty();
                    let role = if direct { Role::Release } else { Role::Candidate };
                    progress.phase(
                        Phase::Start,
                        &format!(
                            "starting {} {} from {}",
                            role.as_str(),
                            plan.release.id,
                            plan.release.digest
                        ),
                    );
                    trial = Some((self.create_and_start(&plan.release, role)?, !direct));
                }
                Step::HealthGate { .. } => {
                    let Some((name, candidate)) = trial.clone() else {
                        continue;
                    };
                    match self.gate(&name, &plan.release.digest, GateMode::Trial, progress) {
                        Ok(Ok(ms)) => outcome = Some(Outcome::Healthy { ready_after_ms: ms }),
                        Ok(Err(failure)) => {
                            self.remove(&name)?;
                            let previous_serving = !self.running_releases(scope)?.is_empty();
                            return Ok(Outcome::GateFailed {
                                failure,
                                previous_serving,
                            });
                        }
                        Err(e) => {
                            let _ = self.remove(&name);
                            return Err(e);
                        }
                    }
                    let planned_switch = plan.steps.iter().any(|s| matches!(s, Step::SwitchOver { .. }));
                    if candidate && !planned_switch {
                        let switched = self.switch_over(plan, &name, progress)?;
                        if matches!(switched, Outcome::GateFailed { .. }) {
                            return Ok(switched);
                        }
                        outcome = Some(switched);
                    }
                }
                Step::SwitchOver { .. } => {
                    let Some((name, true)) = &trial else { continue };
                    let switched = self.switch_over(plan, name, progress)?;
                    if matches!(switched, Outcome::GateFailed { .. }) {
                        return Ok(switched);
                    }
                    outcome = Some(switched);
                }
                Step::Prune { keep } => self.prune(scope, *keep, progress)?,
                _ => {}
            }
        }
        outcome.ok_or_else(|| Error::new(ErrorCode::Internal, "the deploy plan had no health gate"))
    }

    fn rollback(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        if plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::StartCandidate { .. } | Step::StartRelease { .. }))
        {
            return self.deploy(plan, progress);
        }
        let scope = &plan.scope;
        let mut previous: Vec<String> = Vec::new();
        let mut restarted = None;
        let mut outcome = None;
        for step in &plan.steps {
            match step {
                Step::StopServing { .. } => {
                    previous = self.running_releases(scope)?.iter().map(summary_name).collect();
                    progress.phase(Phase::Switch, &format!("stopping {} (kept)", previous.join(", ")));
                    for name in &previous {
                        self.stop(name)?;
                    }
                }
                Step::RestartRetained { release_id } => {
                    let name = self.retained_container(scope, release_id)?.ok_or_else(|| {
                        Error::new(
                            ErrorCode::TargetFailed,
                            format!("the retained container of {release_id} is gone"),
                        )
                    });
                    let started = name.and_then(|n| {
                        progress.phase(Phase::Start, &format!("restarting retained {n}"));
                        self.start(&n).map(|_| n)
                    });
                    match started {
                        Ok(n) => restarted = Some(n),
                        Err(e) => {
                            self.restore(&previous, progress);
                            return Err(e);
                        }
                    }
                }
                Step::HealthGate { .. } => {
                    let Some(name) = &restarted else { continue };
                    match self.gate(name, &plan.release.digest, GateMode::KnownGood, progress)? {
                        Ok(ms) => outcome = Some(Outcome::Healthy { ready_after_ms: ms }),
                        Err(failure) => {
                            self.stop(name)?;
                            let previous_serving = self.restore(&previous, progress);
                            return Ok(Outcome::GateFailed {
                                failure,
                                previous_serving,
                            });
                        }
                    }
                }
                Step::Prune { keep } => self.prune(scope, *keep, progress)?,
                _ => {}
            }
        }
        outcome.ok_or_else(|| Error::new(ErrorCode::Internal, "the rollback plan had no health gate"))
    }

    fn current(&self, scope: &Scope) -> Result<Option<Running>> {
        Ok(self.running_releases(scope)?.first().map(|c| Running {
            release_id: label(c, spec::LABEL_RELEASE).map(str::to_string),
            digest: label(c, spec::LABEL_DIGEST).map(str::to_string),
            unit: summary_name(c),
        }))
    }

    fn health(&self, scope: &Scope) -> Result<HealthReport> {
        let Some(c) = self.running_releases(scope)?.into_iter().next() else {
            return Ok(HealthReport {
                healthy: false,
                detail: format!("no release container of {scope} is running"),
            });
        };
        let name = summary_name(&c);
        let digest = label(&c, spec::LABEL_DIGEST).unwrap_or_default().to_string();
        let engine = self.settings.engine_health && self.image_has_healthcheck(&digest);
        let obs = self.observe(&name, engine, self.settings.http.is_some())?;
        Ok(HealthReport::of(obs, || format!("{name} is healthy")))
    }

    fn restart(&self, scope: &Scope) -> Result<()> {
        // Also a killed or crashed container: that is what heal restarts most.
        let Some((name, _)) = self.serving_unit(scope)? else {
            return Err(Error::new(
                ErrorCode::TargetFailed,
                format!("no release container of {scope} exists"),
            ));
        };
        let opts = RestartContainerOptions {
            t: Some(self.settings.stop_timeout.as_secs() as i32),
            ..Default::default()
        };
        self.rt
            .block_on(self.docker.restart_container(&name, Some(opts)))
            .map_err(|e| self.err(&format!("restart container {name}"), e))
    }

    fn diagnose(&self, scope: &Scope) -> Result<Diagnosis> {
        self.diagnose_scope(scope)
    }

    fn lock(
        &self,
        scope: &Scope,
        holder: &LockHolder,
        wait: Duration,
    ) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
        lock::acquire(self, scope, holder, wait)
    }

    fn lock_holder(&self, scope: &Scope) -> Result<Option<LockHolder>> {
        lock::holder(self, scope)
    }

    fn break_lock(&self, scope: &Scope) -> Result<bool> {
        let existed = lock::holder_exists(self, scope)?;
        self.remove(&spec::lock_name(scope))?;
        Ok(existed)
    }

    fn recover(&self, scope: &Scope, release_ids: &[String]) -> Result<()> {
        for c in self.list(scope, None, true)? {
            let ours = label(&c, spec::LABEL_RELEASE).is_some_and(|id| release_ids.iter().any(|r| r == id));
            let candidate = label(&c, spec::LABEL_ROLE) == Some(Role::Candidate.as_str());
            if ours || candidate {
                self.remove(&summary_name(&c))?;
            }
        }
        // A process killed mid-switch may have stopped the serving release already: bring
        // back the newest kept one so the scope serves again.
        if self.running_releases(scope)?.is_empty()
            && let Some(newest) = self.list(scope, Some(Role::Release), true)?.first()
        {
            self.start(&summary_name(newest))?;
        }
        Ok(())
    }
}
