//! The `swarm` settings of an environment (`kind: swarm`, or nested under `swarm:`),
//! validated into `SwarmSettings` with every problem at the line of its key. Pure: no engine.
use crate::config::TargetSettings;
use crate::deploy::health::GateSpec;
use crate::deploy::release::Scope;
use crate::deploy::settings::{PortMap, Section, TargetKind};
use crate::error::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwarm {
    /// The image deployed when `--image` is not given.
    image: Option<String>,
    /// The service name; default `<project>-<env>`.
    service: Option<String>,
    replicas: Option<u64>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    command: Option<Vec<String>>,
    /// Extra labels on the service (the `io.autosd.` ones are autosd's).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Run an init process as PID 1 (signals reach the app; `--init`).
    init: Option<bool>,
    /// How long a replaced task gets to exit before it is killed (the stop grace period).
    stop_timeout: Option<String>,
    #[serde(default)]
    resources: RawResources,
    #[serde(default)]
    update: RawUpdate,
    #[serde(default)]
    health: RawHealth,
    /// How long the lock lasts once its holder stops renewing it.
    lease_duration: Option<String>,
}

/// `resources:`: the limits at its top, what the scheduler reserves under `reservations:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    memory: Option<String>,
    cpus: Option<f64>,
    #[serde(default)]
    reservations: RawReservations,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReservations {
    memory: Option<String>,
    cpus: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdate {
    parallelism: Option<u64>,
    delay: Option<String>,
    monitor: Option<String>,
    order: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    ready_timeout: Option<String>,
    stability_window: Option<String>,
    interval: Option<String>,
}

/// Which task goes first when Swarm replaces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    StopFirst,
    StartFirst,
}

/// Memory and CPUs of each task, as a limit or a reservation (None: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
}

/// The service's `UpdateConfig`, minus what autosd fixes (failure action `pause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateSettings {
    /// Tasks replaced at once (0: all).
    pub parallelism: u64,
    pub delay: Duration,
    /// How long Swarm watches each replaced task before the next batch.
    pub monitor: Duration,
    pub order: Order,
}

impl Default for UpdateSettings {
    /// Swarm's own defaults.
    fn default() -> Self {
        UpdateSettings {
            parallelism: 1,
            delay: Duration::ZERO,
            monitor: Duration::from_secs(5),
            order: Order::StopFirst,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SwarmSettings {
    pub image: Option<String>,
    /// The service name as written; `service_name` applies the default.
    pub service: Option<String>,
    pub replicas: u64,
    /// Published with mode=host on every node that runs a task (no routing mesh).
    pub ports: Vec<PortMap>,
    pub env: BTreeMap<String, String>,
    pub command: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub init: bool,
    pub stop_timeout: Duration,
    /// What a task may use at most (the container's cgroup limits).
    pub limits: Resources,
    /// What the scheduler sets aside on a node before placing a task there.
    pub reservations: Resources,
    pub update: UpdateSettings,
    pub gate: GateSpec,
    /// The lock's lease (renewed every third of it); None: the holder's own.
    pub lease_duration: Option<Duration>,
}

/// Most replicas a project file may ask for; a typo (10000) should not reach the engine.
const MAX_REPLICAS: u64 = 1000;

/// Swarm refuses smaller values (swarmkit's service validation): caught here, at their line.
const MIN_MEMORY: i64 = 4 << 20;
const MIN_NANO_CPUS: i64 = 1_000_000;

/// Docker's rule for service names: a letter or digit, then letters, digits, `_`, `.`, `-`.
fn valid_service_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `resources:` validated: each value at its own line, within what Swarm accepts, and no
/// reservation above its limit (such a task could never be placed).
fn resources(s: &mut Section<'_>, raw: &RawResources) -> (Resources, Resources) {
    let r = &raw.reservations;
    let limits = Resources {
        memory_bytes: s.memory("resources.memory", &raw.memory),
        nano_cpus: s.cpus("resources.cpus", raw.cpus),
    };
    let reservations = Resources {
        memory_bytes: s.memory("resources.reservations.memory", &r.memory),
        nano_cpus: s.cpus("resources.reservations.cpus", r.cpus),
    };
    for (field, res) in [("resources", limits), ("resources.reservations", reservations)] {
        if res.memory_bytes.is_some_and(|b| b < MIN_MEMORY) {
            s.problem(&format!("{field}.memory"), "swarm needs at least 4m");
        }
        if res.nano_cpus.is_some_and(|n| n < MIN_NANO_CPUS) {
            s.problem(&format!("{field}.cpus"), "swarm needs at least 0.001");
        }
    }
    for (key, reserved, limit) in [
        ("memory", reservations.memory_bytes, limits.memory_bytes),
        ("cpus", reservations.nano_cpus, limits.nano_cpus),
    ] {
        if let (Some(reserved), Some(limit)) = (reserved, limit)
            && reserved > limit
        {
            s.problem(
                &format!("resources.reservations.{key}"),
                format!("is more than the limit `resources.{key}`"),
            );
        }
    }
    (limits, reservations)
}

impl SwarmSettings {
    /// Validates the `swarm` settings of an environment's `target` mapping.
    pub fn from_target(target: &TargetSettings, env: &str) -> Result<Self> {
        let mut s = Section::of(target, TargetKind::Swarm, env)?;
        let Some(raw) = s.parse::<RawSwarm>() else {
            return Err(s.error());
        };
        if let Some(name) = &raw.service
            && !valid_service_name(name)
        {
            s.problem(
                "service",
                format!("`{name}` is not a service name (letters, digits, `_`, `.`, `-`; at most 63)"),
            );
        }
        let replicas = raw.replicas.unwrap_or(1);
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            s.problem(
                "replicas",
                format!(
                    "{replicas} is out of range: from 1 to {MAX_REPLICAS} (the gate needs a task to judge)"
                ),
            );
        }
        // Host-mode publishing binds every interface of the node; an address cannot be chosen.
        let ports = s.ports(&raw.ports, |pm| {
            (pm.host_ip != "0.0.0.0").then(|| {
                "swarm publishes on every address of the node (mode=host); write host:container".to_string()
            })
        });
        s.env_names(&raw.env);
        s.command(&raw.command);
        for key in raw.labels.keys() {
            if key.starts_with("io.autosd.") || key.is_empty() {
                s.problem(
                    &format!("labels.{key}"),
                    format!("`{key}`: labels under io.autosd. are autosd's own"),
                );
            }
        }
        let (limits, reservations) = resources(&mut s, &raw.resources);
        let d = UpdateSettings::default();
        let u = &raw.update;
        let order = match u.order.as_deref() {
            None | Some("stop-first") => Order::StopFirst,
            Some("start-first") => Order::StartFirst,
            Some(other) => {
                s.problem(
                    "update.order",
                    format!("`{other}` is not an order: write start-first or stop-first"),
                );
                d.order
            }
        };
        // A new task cannot bind the host port its predecessor still holds on the same node.
        if order == Order::StartFirst && !ports.is_empty() {
            s.problem(
                "update.order",
                "start-first cannot publish host-mode `ports`: the new task would find its port taken by the old one; use stop-first",
            );
        }
        let update = UpdateSettings {
            parallelism: u.parallelism.unwrap_or(d.parallelism),
            delay: s.duration("update.delay", &u.delay, d.delay),
            monitor: s.duration("update.monitor", &u.monitor, d.monitor),
            order,
        };
        let stop_timeout = s.duration("stop_timeout", &raw.stop_timeout, Duration::from_secs(10));
        let h = &raw.health;
        let gate = s.gate(&h.ready_timeout, &h.stability_window, &h.interval);
        let lease_duration = s.lease_duration(&raw.lease_duration);
        s.finish(SwarmSettings {
            image: raw.image,
            service: raw.service,
            replicas,
            ports,
            env: raw.env,
            command: raw.command,
            labels: raw.labels,
            init: raw.init.unwrap_or(false),
            stop_timeout,
            limits,
            reservations,
            update,
            gate,
            lease_duration,
        })
    }

    /// The service of `scope`: as configured, else `<project>-<env>` (one service per
    /// project and environment, so promote moves a digest from one to the other).
    pub fn service_name(&self, scope: &Scope) -> String {
        self.service
            .clone()
            .unwrap_or_else(|| format!("{}-{}", scope.project, scope.env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::tests::from_file;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn target(v: serde_json::Value) -> TargetSettings {
        TargetSettings::from_json(v, 7)
    }

    #[test]
    fn flat_and_nested_forms_validate_with_defaults() {
        let t = target(json!({"kind": "swarm", "image": "reg/shop:v1", "ports": ["8080:80"]}));
        let s = SwarmSettings::from_target(&t, "staging").expect("valid");
        assert_eq!(s.replicas, 1);
        assert_eq!(s.update, UpdateSettings::default());
        assert_eq!(s.ports[0].host_port, 8080);
        assert_eq!(s.service_name(&Scope::new("shop", "staging")), "shop-staging");
        let t = target(json!({"swarm": {
            "service": "web", "replicas": 3, "env": {"MODE": "x"}, "labels": {"team": "a"},
            "update": {"parallelism": 2, "delay": "1s", "monitor": "3s", "order": "start-first"},
            "health": {"stability_window": "2s", "interval": "500ms"}
        }}));
        let s = SwarmSettings::from_target(&t, "prod").expect("valid");
        assert_eq!(s.service_name(&Scope::new("shop", "prod")), "web");
        assert_eq!(
            s.update,
            UpdateSettings {
                parallelism: 2,
                delay: Duration::from_secs(1),
                monitor: Duration::from_secs(3),
                order: Order::StartFirst
            }
        );
        assert_eq!(s.gate.stability_window, Duration::from_secs(2));
        assert_eq!(s.limits, Resources::default());
        let t = target(json!({"swarm": {"resources": {
            "memory": "1g", "cpus": 1.5, "reservations": {"memory": "256m", "cpus": 0.25}
        }}}));
        let s = SwarmSettings::from_target(&t, "prod").expect("valid");
        assert_eq!(
            (s.limits, s.reservations),
            (
                Resources {
                    memory_bytes: Some(1 << 30),
                    nano_cpus: Some(1_500_000_000)
                },
                Resources {
                    memory_bytes: Some(256 << 20),
                    nano_cpus: Some(250_000_000)
                }
            )
        );
    }

    #[test]
    fn every_problem_is_collected() {
        let t = target(json!({"swarm": {
            "service": "-bad name", "replicas": 0, "ports": ["127.0.0.1:80:80", "x:1"],
            "env": {"1X": "y"}, "command": [], "labels": {"io.autosd.release": "r"},
            "update": {"order": "sideways", "delay": "soon"}, "health": {"interval": "0s"}
        }}));
        let e = SwarmSettings::from_target(&t, "dev").expect_err("invalid");
        assert_eq!(e.code, ErrorCode::TargetSettingsInvalid);
        for needle in [
            "line 7",
            "-bad name",
            "replicas: 0 is out of range",
            "ports.0: port `127.0.0.1:80:80`: swarm publishes on every address of the node (mode=host)",
            "ports.1: port `x:1`",
            "1X",
            "command:",
            "io.autosd.release",
            "sideways",
            "soon",
            "health.interval: must be more than 0",
        ] {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
        let t = target(json!({"swarm": {"ports": ["80:80"], "update": {"order": "start-first"}}}));
        let e = SwarmSettings::from_target(&t, "dev").expect_err("start-first with ports");
        assert!(e.message.contains("start-first cannot publish"), "{}", e.message);
        let e =
            SwarmSettings::from_target(&target(json!({"swarm": {"replica": 2}})), "dev").expect_err("typo");
        assert!(e.message.contains("replica"), "{}", e.message);
    }

    /// Validates `settings` (lines below `kind: swarm`) and checks each needle is in the error.
    #[track_caller]
    fn problems(settings: &str, needles: &[&str]) {
        let t = from_file(&format!("      kind: swarm\n{settings}"));
        let e = SwarmSettings::from_target(&t, "staging").expect_err("invalid");
        for needle in needles {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
    }

    #[test]
    fn problems_name_the_line_of_their_key() {
        problems(
            "      replicas: 2\n      update:\n        parallelism: 1\n        monitor: later\n      health:\n        ready_timeout: 5x\n",
            &["line 10: update.monitor", "line 12: health.ready_timeout"],
        );
    }

    #[test]
    fn resource_problems_name_the_line_of_their_value() {
        problems(
            "      resources:\n        memory: lots\n        cpus: -1\n        reservations:\n          memory: 2k\n          cpus: 0.0001\n",
            &[
                "line 8: resources.memory: `lots` is not a size",
                "line 9: resources.cpus: `-1` must be a positive number",
                "line 11: resources.reservations.memory: swarm needs at least 4m",
                "line 12: resources.reservations.cpus: swarm needs at least 0.001",
            ],
        );
        problems(
            "      resources:\n        memory: 128m\n        cpus: 0.5\n        reservations:\n          memory: 256m\n          cpus: 1\n",
            &[
                "line 11: resources.reservations.memory: is more than the limit `resources.memory`",
                "line 12: resources.reservations.cpus: is more than the limit `resources.cpus`",
            ],
        );
        problems(
            "      resources:\n        memroy: 1g\n",
            &["line 8: resources.memroy"],
        );
    }
}
