//! What autosd asks Swarm for, built by pure functions: the pinned image reference, the
//! service spec of a roll-out (laid over whatever the service already has, so an operator's
//! networks, mounts, secrets and placement survive), the labels that tie tasks to a roll-out,
//! and the lock config's name. No engine calls here.
use super::settings::{Order, SwarmSettings};
use crate::deploy::release::Scope;
use crate::deploy::rolling::Rollout;
use crate::docker::spec::{
    LABEL_DIGEST, LABEL_ENV, LABEL_IMAGE, LABEL_MANAGED, LABEL_PROJECT, LABEL_RELEASE,
};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum,
};
use std::collections::HashMap;

/// On the container spec: which roll-out made the task (a release id, `…-revert` for the
/// way back), so the gate judges only the tasks of its own roll-out.
pub const LABEL_ROLLOUT: &str = "io.autosd.rollout";

/// The repository of an image reference: without `@digest` and without `:tag` (a `:` before
/// the last `/` is a registry port).
pub fn repository(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    match name.rfind(':') {
        Some(colon) if colon > name.rfind('/').unwrap_or(0) => &name[..colon],
        _ => name,
    }
}

/// `repo@sha256:…`: what every node pulls, whatever the tag points to by then.
pub fn pinned(image: &str, digest: &str) -> String {
    format!("{}@{digest}", repository(image))
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The spec a roll-out of `pin` sends: `base` (the service as it is, if it exists) with
/// every field autosd owns set from `settings`; `replicas` is the settings' unless a
/// take-down asks for 0.
pub fn service_spec(
    settings: &SwarmSettings,
    scope: &Scope,
    base: Option<&ServiceSpec>,
    pin: &Rollout,
    replicas: u64,
) -> ServiceSpec {
    let mut spec = base.cloned().unwrap_or_default();
    spec.name = Some(settings.service_name(scope));
    let ours = HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_PROJECT.to_string(), scope.project.clone()),
        (LABEL_ENV.to_string(), scope.env.clone()),
        (LABEL_RELEASE.to_string(), pin.release_id.clone()),
        (LABEL_DIGEST.to_string(), pin.digest.clone()),
        (LABEL_IMAGE.to_string(), pin.image.clone()),
    ]);
    let mut labels: HashMap<String, String> = settings.labels.clone().into_iter().collect();
    labels.extend(ours.clone());
    spec.labels = Some(labels);

    let mut task = spec.task_template.take().unwrap_or_default();
    let mut container = task.container_spec.take().unwrap_or_default();
    container.image = Some(pin.digest.clone());
    let mut container_labels = ours;
    container_labels.insert(LABEL_ROLLOUT.to_string(), pin.mark.clone());
    container.labels = Some(container_labels);
    container.env =
        (!settings.env.is_empty()).then(|| settings.env.iter().map(|(k, v)| format!("{k}={v}")).collect());
    // Like `docker service create IMAGE CMD…`: the command replaces the image's CMD.
    container.command = None;
    container.args = settings.command.clone();
    container.init = Some(settings.init);
    container.stop_grace_period = Some(nanos(settings.stop_timeout));
    task.container_spec = Some(container);
    // Memory and CPUs are the project file's (unset there: unset); Pids, swap and generic
    // resources an operator gave stay.
    let mut resources = task.resources.take().unwrap_or_default();
    let (l, r) = (settings.limits, settings.reservations);
    let mut limits = resources.limits.take().unwrap_or_default();
    limits.memory_bytes = l.memory_bytes;
    limits.nano_cpus = l.nano_cpus;
    resources.limits = Some(limits);
    let mut reservations = resources.reservations.take().unwrap_or_default();
    reservations.memory_bytes = r.memory_bytes;
    reservations.nano_cpus = r.nano_cpus;
    resources.reservations = Some(reservations);
    task.resources = Some(resources);
    spec.task_template = Some(task);

    spec.mode = Some(ServiceSpecMode {
        replicated: Some(ServiceSpecModeReplicated {
            replicas: Some(i64::try_from(replicas).unwrap_or(i64::MAX)),
        }),
        ..Default::default()
    });
    let u = &settings.update;
    spec.update_config = Some(ServiceSpecUpdateConfig {
        parallelism: Some(i64::try_from(u.parallelism).unwrap_or(i64::MAX)),
        delay: Some(nanos(u.delay)),
        // autosd judges the result and rolls back itself: Swarm only stops.
        failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
        monitor: Some(nanos(u.monitor)),
        max_failure_ratio: Some(0.0),
        order: Some(match u.order {
            Order::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
            Order::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        }),
    });
    // Host mode: each task's node publishes the port itself; the routing mesh needs IPVS.
    let ports: Vec<EndpointPortConfig> = settings
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(match p.protocol.as_str() {
                "udp" => bollard::models::EndpointPortConfigProtocolEnum::UDP,
                _ => bollard::models::EndpointPortConfigProtocolEnum::TCP,
            }),
            target_port: Some(i64::from(p.container_port)),
            published_port: Some(i64::from(p.host_port)),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect();
    let mut endpoint = spec.endpoint_spec.take().unwrap_or_default();
    endpoint.ports = (!ports.is_empty()).then_some(ports);
    spec.endpoint_spec = Some(endpoint);
    spec
}

/// The roll-out label of a service spec's tasks, and its force-update counter: together
/// they name the generation of tasks the spec asks for.
pub fn generation(spec: &ServiceSpec) -> (Option<String>, u64) {
    let task = spec.task_template.as_ref();
    let rollout = task
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL_ROLLOUT).cloned());
    (rollout, task.and_then(|t| t.force_update).unwrap_or(0))
}

/// The replicas a spec asks for (1 when it does not say: Swarm's default).
pub fn replicas(spec: &ServiceSpec) -> u64 {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(1)
}

pub fn label<'a>(spec: &'a ServiceSpec, key: &str) -> Option<&'a str> {
    spec.labels.as_ref()?.get(key).map(String::as_str)
}

/// The Swarm config whose existence is the deploy lock of `scope`.
pub fn lock_name(scope: &Scope) -> String {
    format!("autosd-lock-{}-{}", scope.project, scope.env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetSettings;
    use serde_json::json;

    fn settings(v: serde_json::Value) -> SwarmSettings {
        SwarmSettings::from_target(&TargetSettings::from_json(json!({ "swarm": v }), 1), "staging")
            .expect("settings")
    }

    fn pin() -> Rollout {
        Rollout {
            release_id: "r1".into(),
            image: "reg:5000/shop:v1".into(),
            digest: "reg:5000/shop@sha256:ab".into(),
            mark: "r1".into(),
        }
    }

    #[test]
    fn references_are_pinned_to_the_repository() {
        assert_eq!(repository("reg:5000/shop:v1"), "reg:5000/shop");
        assert_eq!(repository("reg:5000/shop"), "reg:5000/shop");
        assert_eq!(repository("shop:v1@sha256:ab"), "shop");
        assert_eq!(pinned("reg:5000/a/b:v2", "sha256:cd"), "reg:5000/a/b@sha256:cd");
    }

    #[test]
    fn a_rollout_spec_pins_the_digest_pauses_on_failure_and_publishes_in_host_mode() {
        let s = settings(json!({
            "replicas": 2, "ports": ["18080:8080"], "env": {"A": "1"}, "command": ["serve", "-v"],
            "labels": {"team": "web"}, "init": true, "stop_timeout": "2s",
            "resources": {"memory": "256m", "cpus": 0.5, "reservations": {"memory": "64m"}},
            "update": {"monitor": "3s", "delay": "1s"}
        }));
        let spec = service_spec(&s, &Scope::new("shop", "staging"), None, &pin(), 2);
        let v = serde_json::to_value(&spec).expect("json");
        assert_eq!(v["Name"], "shop-staging");
        assert_eq!(v["Labels"]["team"], "web");
        assert_eq!(v["Labels"]["io.autosd.release"], "r1");
        let c = &v["TaskTemplate"]["ContainerSpec"];
        assert_eq!(c["Image"], "reg:5000/shop@sha256:ab");
        assert_eq!(c["Labels"][LABEL_ROLLOUT], "r1");
        assert_eq!(c["Env"], json!(["A=1"]));
        assert_eq!(c["Args"], json!(["serve", "-v"]));
        assert_eq!(c["Init"], true);
        assert_eq!(c["StopGracePeriod"], 2_000_000_000i64);
        assert_eq!(v["Mode"]["Replicated"]["Replicas"], 2);
        assert_eq!(
            v["TaskTemplate"]["Resources"],
            json!({"Limits": {"MemoryBytes": 256i64 << 20, "NanoCPUs": 500_000_000},
                   "Reservations": {"MemoryBytes": 64i64 << 20}})
        );
        let u = &v["UpdateConfig"];
        assert_eq!(u["FailureAction"], "pause");
        assert_eq!(u["Monitor"], 3_000_000_000i64);
        assert_eq!(u["Delay"], 1_000_000_000i64);
        assert_eq!(u["Order"], "stop-first");
        assert_eq!(
            v["EndpointSpec"]["Ports"],
            json!([{"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 18080, "PublishMode": "host"}])
        );
        assert!(v.get("RollbackConfig").is_none());
        assert_eq!(generation(&spec), (Some("r1".into()), 0));
        assert_eq!(replicas(&spec), 2);
    }

    #[test]
    fn operator_fields_survive_and_autosd_fields_are_replaced() {
        let s = settings(json!({}));
        let base: ServiceSpec = serde_json::from_value(json!({
            "Name": "shop-staging",
            "Labels": {"owner": "ops"},
            "TaskTemplate": {"ContainerSpec": {"Image": "old", "Env": ["STALE=1"], "Mounts": [{"Type": "volume", "Target": "/data"}]},
                             "Placement": {"Constraints": ["node.role==manager"]}, "ForceUpdate": 4,
                             "Resources": {"Limits": {"MemoryBytes": 1, "Pids": 50}, "Reservations": {"NanoCPUs": 2}}},
            "EndpointSpec": {"Ports": [{"TargetPort": 1, "PublishedPort": 2}]}
        }))
        .expect("spec");
        let spec = service_spec(&s, &Scope::new("shop", "staging"), Some(&base), &pin(), 0);
        let v = serde_json::to_value(&spec).expect("json");
        assert_eq!(
            v["TaskTemplate"]["Placement"]["Constraints"],
            json!(["node.role==manager"])
        );
        assert_eq!(v["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Target"], "/data");
        assert!(v["TaskTemplate"]["ContainerSpec"].get("Env").is_none());
        assert!(v["EndpointSpec"].get("Ports").is_none());
        assert_eq!(
            v["TaskTemplate"]["Resources"],
            json!({"Limits": {"Pids": 50}, "Reservations": {}}),
            "memory and CPUs are the project file's, the pids limit the operator's"
        );
        assert!(
            v["Labels"].get("owner").is_none(),
            "service labels are the project file's"
        );
        assert_eq!(v["Mode"]["Replicated"]["Replicas"], 0);
        assert_eq!(generation(&spec).1, 4, "the force-update counter is kept");
    }
}
