//! What a service's tasks say about its health: the gate's look at one roll-out (every task
//! of that roll-out running, its container healthy where the image has a HEALTHCHECK; any
//! failed task fails it), and heal's diagnosis of what serves (the newest task of each slot,
//! with the failing task's state, exit code, error and health-check output as evidence).
use super::{SwarmTarget, spec};
use crate::deploy::health::Observation;
use crate::deploy::release::Scope;
use crate::deploy::target::Diagnosis;
use crate::docker::diagnose::{clip, unix_of};
use crate::docker::spec::LABEL_RELEASE;
use crate::error::{Error, ErrorCode, Result};
use crate::heal::incident::Evidence;
use bollard::models::{HealthStatusEnum, ServiceSpec, ServiceUpdateStatusStateEnum, Task, TaskState};
use bollard::query_parameters::{InspectContainerOptions, ListTasksOptions};
use std::collections::{BTreeMap, HashMap};

/// A task's container health, where the engine we talk to runs it: status and the last
/// health-check output. Tasks on other nodes are judged by their task state alone.
struct ContainerHealth {
    status: HealthStatusEnum,
    output: Option<String>,
}

fn state(t: &Task) -> Option<TaskState> {
    t.status.as_ref().and_then(|s| s.state)
}

/// The task ended: failed, was refused, lost its node, or exited (even with 0: a service
/// task must keep running).
fn ended_badly(t: &Task) -> bool {
    matches!(
        state(t),
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED | TaskState::COMPLETE)
    )
}

fn exit_code(t: &Task) -> Option<i64> {
    t.status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.exit_code)
        .filter(|c| *c != 0 || state(t) == Some(TaskState::COMPLETE))
}

/// `web.1 (failed): task: non-zero exit (3), exit code 3`.
fn describe(service: &str, t: &Task) -> String {
    let slot = t.slot.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
    let status = t.status.as_ref();
    let why = status
        .and_then(|s| s.err.clone().filter(|e| !e.is_empty()))
        .or_else(|| status.and_then(|s| s.message.clone()))
        .map(|m| clip(&m))
        .unwrap_or_default();
    let code = exit_code(t)
        .map(|c| format!(", exit code {c}"))
        .unwrap_or_default();
    let state = state(t)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown".into());
    format!("task {service}.{slot} ({state}): {why}{code}")
}

/// Whether `t` belongs to the generation `(rollout, force_update)` of a spec.
fn of_generation(t: &Task, generation: &(Option<String>, u64)) -> bool {
    let spec = t.spec.as_ref();
    let rollout = spec
        .and_then(|s| s.container_spec.as_ref())
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(spec::LABEL_ROLLOUT).cloned());
    rollout == generation.0 && spec.and_then(|s| s.force_update).unwrap_or(0) == generation.1
}

impl SwarmTarget {
    pub(super) fn tasks(&self, service: &str) -> Result<Vec<Task>> {
        let opts = ListTasksOptions {
            filters: Some(HashMap::from([(
                "service".to_string(),
                vec![service.to_string()],
            )])),
        };
        self.rt
            .block_on(self.docker.list_tasks(Some(opts)))
            .map_err(|e| self.err(&format!("list the tasks of service {service}"), e))
    }

    fn container_health(&self, t: &Task) -> Option<ContainerHealth> {
        let id = t
            .status
            .as_ref()?
            .container_status
            .as_ref()?
            .container_id
            .clone()?;
        let info = self
            .rt
            .block_on(
                self.docker
                    .inspect_container(&id, None::<InspectContainerOptions>),
            )
            .ok()?;
        let health = info.state?.health?;
        Some(ContainerHealth {
            status: health.status?,
            output: health
                .log
                .and_then(|l| l.last().and_then(|r| r.output.clone()))
                .map(|o| clip(&o))
                .filter(|o| !o.is_empty()),
        })
    }

    /// A task's verdict: None when it runs and is healthy, else why not. An unhealthy
    /// container is final even while the task still shows `starting`: Swarm is about to
    /// kill it, after the stop grace period.
    fn task_problem(&self, service: &str, t: &Task) -> Option<Observation> {
        let running = state(t) == Some(TaskState::RUNNING);
        match self.container_health(t).map(|h| h.status) {
            Some(HealthStatusEnum::UNHEALTHY) => Some(Observation::Failed(format!(
                "{}: the image's HEALTHCHECK reports unhealthy",
                describe(service, t)
            ))),
            Some(HealthStatusEnum::STARTING) if running => Some(Observation::NotReady(format!(
                "{}: the image's HEALTHCHECK has not passed yet",
                describe(service, t)
            ))),
            _ if running => None,
            _ => Some(Observation::NotReady(describe(service, t))),
        }
    }

    /// One look at the roll-out `expected` (the spec as the engine stored it after autosd's
    /// update). A spec that changed since is someone else's change: an error, never judged.
    pub(super) fn observe_rollout(&self, service: &str, expected: &ServiceSpec) -> Result<Observation> {
        let Some(current) = self.inspect(service)? else {
            return Err(Error::new(
                ErrorCode::TargetConflict,
                format!("service {service} was removed by someone else while autosd gated it"),
            ));
        };
        if current.spec.as_ref() != Some(expected) {
            return Err(super::changed_elsewhere(
                service,
                "while autosd gated its roll-out",
            ));
        }
        let generation = spec::generation(expected);
        let want = spec::replicas(expected);
        let tasks: Vec<Task> = self
            .tasks(service)?
            .into_iter()
            .filter(|t| of_generation(t, &generation))
            .collect();
        if let Some(t) = tasks.iter().find(|t| ended_badly(t)) {
            return Ok(Observation::Failed(describe(service, t)));
        }
        // Paused for a reason the tasks no longer show (Swarm's monitor saw it first).
        if let Some(u) = &current.update_status
            && u.state == Some(ServiceUpdateStatusStateEnum::PAUSED)
        {
            return Ok(Observation::Failed(format!(
                "Swarm paused the update: {}",
                u.message.clone().unwrap_or_default()
            )));
        }
        let mut ready = 0;
        let mut waiting = None;
        for t in tasks
            .iter()
            .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        {
            match self.task_problem(service, t) {
                None | Some(Observation::Healthy) => ready += 1,
                Some(fail @ Observation::Failed(_)) => return Ok(fail),
                Some(Observation::NotReady(why)) => {
                    waiting.get_or_insert(why);
                }
            }
        }
        if ready >= want {
            return Ok(Observation::Healthy);
        }
        let rollout = generation.0.unwrap_or_default();
        Ok(Observation::NotReady(format!(
            "{ready} of {want} tasks of roll-out {rollout} running and healthy{}",
            waiting.map(|w| format!("; {w}")).unwrap_or_default()
        )))
    }

    /// What serves `scope` and how well: the newest task of each slot of the service's
    /// current generation must run (and be healthy) for all replicas.
    pub(super) fn diagnose_service(&self, scope: &Scope) -> Result<Diagnosis> {
        let service = self.settings.service_name(scope);
        let Some(spec) = self.inspect(&service)?.and_then(|s| s.spec) else {
            return Ok(Diagnosis {
                healthy: false,
                detail: format!("service {service} does not exist"),
                release_id: None,
                evidence: Evidence {
                    unit: Some(service),
                    state: Some("gone".into()),
                    ..Evidence::default()
                },
            });
        };
        let release_id = spec::label(&spec, LABEL_RELEASE).map(str::to_string);
        let generation = spec::generation(&spec);
        let want = spec::replicas(&spec);
        let tasks: Vec<Task> = self
            .tasks(&service)?
            .into_iter()
            .filter(|t| of_generation(t, &generation))
            .collect();
        let failed: Vec<&Task> = tasks.iter().filter(|t| ended_badly(t)).collect();
        let failures = failed.len();
        // The newest task of each slot; created_at is RFC 3339 from one clock, so text order is time order.
        let mut newest: BTreeMap<i64, &Task> = BTreeMap::new();
        for t in &tasks {
            let slot = t.slot.unwrap_or(0);
            if newest.get(&slot).is_none_or(|n| n.created_at < t.created_at) {
                newest.insert(slot, t);
            }
        }
        let mut ready = 0;
        let mut worst: Option<(&Task, String)> = None;
        for t in newest.values() {
            match self.task_problem(&service, t) {
                None | Some(Observation::Healthy) => ready += 1,
                Some(Observation::NotReady(why) | Observation::Failed(why)) => {
                    worst.get_or_insert((t, why));
                }
            }
        }
        // A task of this spec that failed and was replaced by Swarm is a crash (loop) even
        // when its replacement runs for now: only a restart (a new generation) clears it,
        // as restarts count against a container on the docker target.
        if worst.is_none()
            && let Some(last) = failed.iter().max_by(|a, b| a.created_at.cmp(&b.created_at))
        {
            worst = Some((
                last,
                format!(
                    "{failures} task(s) of the current spec failed; the last: {}",
                    describe(&service, last)
                ),
            ));
        }
        let healthy = want > 0 && ready >= want && worst.is_none();
        // The evidence comes from the task in trouble, or the most recent failure of its slot.
        let subject = worst
            .as_ref()
            .map(|(t, _)| *t)
            .or_else(|| newest.values().next().copied());
        let failed_in_slot = subject.and_then(|s| {
            tasks
                .iter()
                .filter(|t| t.slot == s.slot && ended_badly(t))
                .max_by(|a, b| a.created_at.cmp(&b.created_at))
        });
        let evidence = match subject {
            None => Evidence {
                unit: Some(service.clone()),
                state: Some("no tasks".into()),
                ..Evidence::default()
            },
            Some(t) => {
                let health = self.container_health(t);
                let source = if ended_badly(t) { Some(t) } else { failed_in_slot };
                Evidence {
                    unit: Some(format!("{service}.{}", t.slot.unwrap_or(0))),
                    state: state(t).map(|s| s.to_string()),
                    exit_code: source.and_then(exit_code),
                    restart_count: (failures > 0).then(|| i64::try_from(failures).unwrap_or(i64::MAX)),
                    health_status: health.as_ref().map(|h| h.status.to_string()),
                    health_output: health.and_then(|h| h.output),
                    since: (!healthy)
                        .then(|| source.unwrap_or(t))
                        .and_then(|t| t.status.as_ref()?.timestamp.as_deref().and_then(unix_of)),
                    ..Evidence::default()
                }
            }
        };
        let detail = match worst {
            Some((_, why)) => why,
            None if want == 0 => format!("service {service} is scaled to 0: nothing serves"),
            None if healthy => format!("service {service}: {ready} of {want} tasks running and healthy"),
            None => format!("service {service}: {ready} of {want} tasks running"),
        };
        Ok(Diagnosis {
            healthy,
            detail,
            release_id,
            evidence,
        })
    }
}
