//! The `swarm` target: a Docker Swarm service per (project, env), driven through bollard's
//! services API on the engine at `DOCKER_HOST` (a manager), sharing the docker target's
//! connection and error plumbing.
//!
//! A roll-out (deploy, promote, rollback alike) creates the service or updates it to an
//! image pinned by registry digest, with the update settings of the project file and
//! `FailureAction: pause` — autosd judges the result with its own gate over every task of
//! the roll-out and, when it fails, updates the service back to the ledger's known-good
//! digest itself (Swarm's own rollback is never used). Every write carries the service
//! version read before it, and a spec that changed under autosd is reported
//! (`AUTOSD-TARGET-CONFLICT`), never overwritten. The deploy lock is a Swarm config object.
//! Every call that makes the engine or its nodes pull carries the registry credentials of
//! the user's Docker CLI config (`crate::registry`).
mod health;
mod lock;
pub mod settings;
pub mod spec;

pub use settings::SwarmSettings;

use crate::deploy::health::{Gate, GateFailure, GateSpec};
use crate::deploy::plan::Plan;
use crate::deploy::release::Scope;
use crate::deploy::rolling::{Orchestrator, Rollout};
use crate::deploy::target::{
    Change, Diagnosis, HealthReport, LockGuard, LockHolder, Outcome, Phase, Progress, Running, Target,
};
use crate::docker::spec::{LABEL_DIGEST, LABEL_RELEASE};
use crate::docker::{connect_engine, engine_error, is_conflict, is_not_found};
use crate::error::{Error, ErrorCode, Result};
use crate::registry::{Login, RegistryAuth};
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::models::{Service, ServiceSpec};
use bollard::query_parameters::{InspectServiceOptions, UpdateServiceOptions};
use std::time::Duration;

pub struct SwarmTarget {
    /// Shared with lock guards (only `Runtime::block_on` drives a current-thread runtime).
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    docker: Docker,
    host: String,
    settings: SwarmSettings,
    registry: RegistryAuth,
    /// Unix seconds (from the `Context` in production).
    now: fn() -> i64,
}

/// How an engine error reads for a swarm operation `what`: the swarm-specific cases, then
/// the docker target's mapping.
pub(crate) fn swarm_error(host: &str, what: &str, e: BollardError) -> Error {
    if let BollardError::DockerResponseServerError { status_code, message } = &e {
        let lower = message.to_lowercase();
        if lower.contains("not a swarm manager") || (*status_code == 503 && lower.contains("swarm")) {
            return Error::new(
                ErrorCode::ClusterUnreachable,
                format!("{what}: the engine at {host} is not a swarm manager: {message}"),
            )
            .hint("run `docker swarm init` there, or point DOCKER_HOST at a manager of the swarm");
        }
        if is_out_of_sequence(&e) {
            return Error::new(
                ErrorCode::TargetConflict,
                format!("{what}: someone else updated it since autosd read it ({message}); nothing was overwritten"),
            )
            .hint("see `docker service inspect` for the other change, then run autosd again");
        }
        if *status_code == 403 {
            return Error::new(
                ErrorCode::TargetForbidden,
                format!("{what}: the engine at {host} refused it (403): {message}"),
            )
            .hint("the engine's authorization plugin must allow this request for autosd's user");
        }
    } else if e.to_string().contains("Permission denied") {
        return Error::new(
            ErrorCode::TargetForbidden,
            format!("{what}: permission denied on the Docker socket {host}: {e}"),
        )
        .hint(
            "autosd's user needs read and write access to the socket (e.g. membership of the `docker` group)",
        );
    }
    engine_error(host, what, e)
}

/// The engine refused a service update made at a version that is no longer current.
fn is_out_of_sequence(e: &BollardError) -> bool {
    matches!(e, BollardError::DockerResponseServerError { message, .. }
        if message.to_lowercase().contains("out of sequence"))
}

/// Someone else changed `service` at a point `when` autosd must not overwrite it.
pub(crate) fn changed_elsewhere(service: &str, when: &str) -> Error {
    Error::new(
        ErrorCode::TargetConflict,
        format!("service {service} was changed by someone else {when}; autosd overwrote nothing"),
    )
    .hint("see `docker service inspect` for the other change, then run autosd again")
}

impl SwarmTarget {
    /// Connects to `docker_host` (or the default socket) and checks that it is a swarm
    /// manager: `AUTOSD-DOCKER-UNREACHABLE` when nobody answers, `AUTOSD-CLUSTER-UNREACHABLE`
    /// when it answers but manages no swarm.
    /// `registry` holds the credentials sent with every pull and service write.
    pub fn connect(
        docker_host: Option<&str>,
        settings: SwarmSettings,
        registry: RegistryAuth,
        now: fn() -> i64,
    ) -> Result<Self> {
        let (rt, docker, host) = connect_engine(docker_host)?;
        rt.block_on(docker.inspect_swarm())
            .map_err(|e| swarm_error(&host, "inspect the swarm", e))?;
        Ok(SwarmTarget {
            rt: std::sync::Arc::new(rt),
            docker,
            host,
            settings,
            registry,
            now,
        })
    }

    /// The credentials for pulling `image`, exposed only to be handed to one engine call
    /// (bollard sends them as X-Registry-Auth; the engine never shows them in an inspect).
    fn credentials(&self, image: &str) -> Result<Option<DockerCredentials>> {
        Ok(self.registry.credentials(image)?.map(|c| {
            let c = c.expose();
            let mut docker = DockerCredentials {
                serveraddress: Some(c.server.clone()),
                ..Default::default()
            };
            match &c.login {
                Login::Password { username, password } => {
                    docker.username = Some(username.clone());
                    docker.password = Some(password.clone());
                }
                Login::IdentityToken(token) => docker.identitytoken = Some(token.clone()),
            }
            docker
        }))
    }

    pub fn settings(&self) -> &SwarmSettings {
        &self.settings
    }

    fn err(&self, what: &str, e: BollardError) -> Error {
        swarm_error(&self.host, what, e)
    }

    fn inspect(&self, service: &str) -> Result<Option<Service>> {
        match self.rt.block_on(
            self.docker
                .inspect_service(service, None::<InspectServiceOptions>),
        ) {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.err(&format!("inspect service {service}"), e)),
        }
    }

    fn require(&self, scope: &Scope) -> Result<(String, Service)> {
        let name = self.settings.service_name(scope);
        match self.inspect(&name)? {
            Some(s) => Ok((name, s)),
            None => Err(Error::new(
                ErrorCode::TargetObjectMissing,
                format!("service {name} of {scope} does not exist"),
            )
            .hint("`autosd deploy --target swarm` creates it; or set `service:` to the service's name")),
        }
    }

    /// Writes `spec`: creates the service when `current` is None, else updates it at the
    /// version `current` was read at, so a change by anyone in between is refused by the
    /// engine. Returns the spec as the engine stored it, the reference for every later look.
    fn write(&self, service: &str, current: Option<&Service>, spec: ServiceSpec) -> Result<ServiceSpec> {
        let generation = spec::generation(&spec);
        // The nodes pull with what the write carries (the engine keeps it with the service).
        let image = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let credentials = self.credentials(&image)?;
        match current {
            None => match self.rt.block_on(self.docker.create_service(spec, credentials)) {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {
                    return Err(changed_elsewhere(
                        service,
                        "(created) while autosd was creating it",
                    ));
                }
                Err(e) => return Err(self.err(&format!("create service {service}"), e)),
            },
            Some(svc) => self.update_at_version(service, svc, spec, credentials)?,
        }
        let stored = self.inspect(service)?.and_then(|s| s.spec);
        match stored {
            Some(stored) if spec::generation(&stored) == generation => Ok(stored),
            _ => Err(changed_elsewhere(service, "right after autosd updated it")),
        }
    }

    /// Updates `service` to `spec` at the version `read` was taken at. Swarm bumps that
    /// version for its own bookkeeping too (an update pausing or completing rewrites the
    /// service's update status), so a refusal as "out of sequence" only means someone else
    /// changed the service when its spec is no longer the one read: otherwise the write is
    /// retried at the new version.
    fn update_at_version(
        &self,
        service: &str,
        read: &Service,
        spec: ServiceSpec,
        credentials: Option<DockerCredentials>,
    ) -> Result<()> {
        const ATTEMPTS: usize = 5;
        let mut at = read.clone();
        for _ in 0..ATTEMPTS {
            let index = at.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            let version = i32::try_from(index).map_err(|_| {
                Error::new(
                    ErrorCode::TargetFailed,
                    format!("service {service} is at version {index}, beyond what the API client can send"),
                )
            })?;
            let opts = UpdateServiceOptions {
                version,
                ..Default::default()
            };
            match self.rt.block_on(self.docker.update_service(
                service,
                spec.clone(),
                opts,
                credentials.clone(),
            )) {
                Ok(_) => return Ok(()),
                Err(e) if is_out_of_sequence(&e) => match self.inspect(service)? {
                    Some(now) if now.spec == read.spec => at = now,
                    _ => return Err(self.err(&format!("update service {service}"), e)),
                },
                Err(e) => return Err(self.err(&format!("update service {service}"), e)),
            }
        }
        Err(changed_elsewhere(
            service,
            &format!("over and over while autosd tried {ATTEMPTS} times to update it"),
        ))
    }

    /// The gate over the roll-out `expected`: Ok(ms until every task was ready) or why not.
    fn gate_rollout(
        &self,
        service: &str,
        expected: &ServiceSpec,
        g: GateSpec,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, GateFailure>> {
        progress.phase(
            Phase::Health,
            &format!(
                "service {service}: all {} task(s) running and healthy within {}, then for {}",
                spec::replicas(expected),
                humantime::format_duration(g.ready_timeout),
                humantime::format_duration(g.stability_window)
            ),
        );
        Gate::new(g).poll(|| self.observe_rollout(service, expected))
    }
}

/// A roll-out as the engine stored it.
pub struct Written {
    service: String,
    /// The spec read back after the write: what every later look and check compares with.
    spec: ServiceSpec,
    /// This roll-out created the service (so taking it out of service removes it).
    created: bool,
}

impl Orchestrator for SwarmTarget {
    type Written = Written;

    fn roll_out(&self, scope: &Scope, rollout: &Rollout, progress: &mut dyn Progress) -> Result<Written> {
        let service = self.settings.service_name(scope);
        // The version the write is checked against.
        let before = self.inspect(&service)?;
        let base = before.as_ref().and_then(|s| s.spec.as_ref());
        let spec = spec::service_spec(&self.settings, scope, base, rollout, self.settings.replicas);
        progress.phase(
            Phase::Start,
            &format!(
                "{} service {service} with {} (release {})",
                if before.is_some() { "updating" } else { "creating" },
                rollout.digest,
                rollout.release_id
            ),
        );
        let spec = self.write(&service, before.as_ref(), spec)?;
        Ok(Written {
            service,
            spec,
            created: before.is_none(),
        })
    }

    fn gate(
        &self,
        written: &Written,
        spec: GateSpec,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, GateFailure>> {
        self.gate_rollout(&written.service, &written.spec, spec, progress)
    }

    fn still_ours(&self, written: &Written) -> Result<()> {
        match self.inspect(&written.service)? {
            Some(now) if now.spec.as_ref() == Some(&written.spec) => Ok(()),
            _ => Err(changed_elsewhere(
                &written.service,
                "after its roll-out failed the gate: autosd did not revert it",
            )),
        }
    }

    fn withdraw(&self, written: &Written, progress: &mut dyn Progress) -> Result<()> {
        let service = &written.service;
        if written.created {
            progress.phase(
                Phase::Switch,
                &format!("removing service {service} (nothing was known-good)"),
            );
            return self
                .rt
                .block_on(self.docker.delete_service(service))
                .map_err(|e| self.err(&format!("remove service {service}"), e));
        }
        progress.phase(
            Phase::Switch,
            &format!("scaling service {service} to 0 (nothing was known-good)"),
        );
        // Gone since the check: nothing serves the failed release any more.
        let Some(now) = self.inspect(service)? else {
            return Ok(());
        };
        let mut down = written.spec.clone();
        if let Some(mode) = down.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
            mode.replicas = Some(0);
        }
        self.write(service, Some(&now), down).map(|_| ())
    }
}

impl Target for SwarmTarget {
    fn kind(&self) -> &'static str {
        "swarm"
    }

    fn strategy(&self) -> crate::deploy::plan::Strategy {
        crate::deploy::plan::Strategy::RollingUpdate
    }

    fn preview(&self, plan: &Plan) -> Result<Option<Change>> {
        let service = self.settings.service_name(&plan.scope);
        let before = self.inspect(&service)?;
        let base = before.as_ref().and_then(|s| s.spec.as_ref());
        let spec = spec::service_spec(
            &self.settings,
            &plan.scope,
            base,
            &Rollout::of(&plan.release),
            self.settings.replicas,
        );
        let body = serde_json::to_value(spec)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("render the service spec: {e}")))?;
        Ok(Some(Change {
            what: "service spec",
            body,
        }))
    }

    fn resolve(&self, image: &str, progress: &mut dyn Progress) -> Result<String> {
        progress.phase(Phase::Pull, &format!("resolving {image} to its registry digest"));
        let credentials = self.credentials(image)?;
        let found = self
            .rt
            .block_on(self.docker.inspect_registry_image(image, credentials))
            .map_err(|e| {
                let refused = matches!(&e, BollardError::DockerResponseServerError { status_code, message }
                    if *status_code == 401 || crate::registry::is_refusal(message));
                let err = self.err(&format!("look up {image} in its registry"), e);
                if refused {
                    Error::new(ErrorCode::ImageNotFound, err.message).hint(self.registry.refusal_hint(image))
                } else if err.code == ErrorCode::TargetFailed {
                    Error::new(ErrorCode::ImageNotFound, err.message).hint(
                        "push the image to a registry every node can pull from: services run images by registry digest",
                    )
                } else {
                    err
                }
            })?;
        let digest = found.descriptor.digest.ok_or_else(|| {
            Error::new(
                ErrorCode::ImageNotFound,
                format!("the registry gave no digest for {image}"),
            )
        })?;
        Ok(spec::pinned(image, &digest))
    }

    // Swarm keeps no stopped release (`retained`'s default): a rollback is a roll-out of the
    // known-good digest, run like any other (`rollback`'s default).
    fn deploy(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        crate::deploy::rolling::run(self, plan, progress)
    }

    fn current(&self, scope: &Scope) -> Result<Option<Running>> {
        let service = self.settings.service_name(scope);
        Ok(self.inspect(&service)?.and_then(|s| s.spec).map(|spec| Running {
            release_id: spec::label(&spec, LABEL_RELEASE).map(str::to_string),
            digest: spec::label(&spec, LABEL_DIGEST).map(str::to_string).or_else(|| {
                spec.task_template
                    .as_ref()
                    .and_then(|t| t.container_spec.as_ref())
                    .and_then(|c| c.image.clone())
            }),
            unit: service,
        }))
    }

    fn health(&self, scope: &Scope) -> Result<HealthReport> {
        let d = self.diagnose_service(scope)?;
        Ok(HealthReport {
            healthy: d.healthy,
            detail: d.detail,
        })
    }

    fn restart(&self, scope: &Scope) -> Result<()> {
        // `docker service update --force`: new tasks of the same spec, at the version read.
        let (name, svc) = self.require(scope)?;
        let mut spec = svc.spec.clone().unwrap_or_default();
        let task = spec.task_template.get_or_insert_with(Default::default);
        task.force_update = Some(task.force_update.unwrap_or(0).wrapping_add(1));
        self.write(&name, Some(&svc), spec).map(|_| ())
    }

    fn diagnose(&self, scope: &Scope) -> Result<Diagnosis> {
        self.diagnose_service(scope)
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
        lock::break_lock(self, scope)
    }

    fn recover(&self, _: &Scope, _: &[String]) -> Result<()> {
        // An interrupted run leaves at most a service spec that was never judged; the RollOut
        // that follows in the same plan replaces it. There are no candidates to remove.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn engine_answers_map_to_the_swarm_errors() {
        let e = swarm_error(
            "h",
            "inspect the swarm",
            answered(503, "This node is not a swarm manager. Use \"docker swarm init\""),
        );
        assert_eq!(e.code, ErrorCode::ClusterUnreachable);
        assert!(e.hints.iter().any(|h| h.contains("docker swarm init")), "{e:?}");
        let e = swarm_error(
            "h",
            "update service web",
            answered(500, "rpc error: code = Unknown desc = update out of sequence"),
        );
        assert_eq!(e.code, ErrorCode::TargetConflict);
        assert!(e.message.contains("update service web"), "{}", e.message);
        let e = swarm_error(
            "h",
            "create service web",
            answered(403, "authorization denied by plugin"),
        );
        assert_eq!(e.code, ErrorCode::TargetForbidden);
        assert!(e.message.contains("create service web"), "{}", e.message);
        // Everything else reads as on the docker target.
        assert_eq!(
            swarm_error("h", "x", answered(500, "boom")).code,
            ErrorCode::TargetFailed
        );
        let e = changed_elsewhere("web", "while autosd gated its roll-out");
        assert_eq!(e.code, ErrorCode::TargetConflict);
        assert!(e.message.contains("overwrote nothing"));
    }
}
