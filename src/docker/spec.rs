//! What autosd asks Docker to create, built by pure functions: container names, the labels
//! that make containers findable (project, env, release, digest, role), and the create body
//! from an environment's settings. No engine calls here.
use crate::deploy::release::{Release, Scope};
use crate::deploy::settings::DockerSettings;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};
use std::collections::HashMap;

pub const LABEL_MANAGED: &str = "io.autosd.managed";
pub const LABEL_PROJECT: &str = "io.autosd.project";
pub const LABEL_ENV: &str = "io.autosd.env";
pub const LABEL_RELEASE: &str = "io.autosd.release";
pub const LABEL_DIGEST: &str = "io.autosd.digest";
pub const LABEL_IMAGE: &str = "io.autosd.image";
pub const LABEL_ROLE: &str = "io.autosd.role";
/// The lock container's holder, as JSON.
pub const LABEL_LOCK_HOLDER: &str = "io.autosd.lock.holder";

/// What a container is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A new release on loopback-only ephemeral ports, on trial before the switch.
    Candidate,
    /// A release on the environment's real ports (serving, or stopped and kept).
    Release,
    /// Never started: its existence is the deploy lock.
    Lock,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Candidate => "candidate",
            Role::Release => "release",
            Role::Lock => "lock",
        }
    }
}

pub fn container_name(scope: &Scope, release_id: &str, role: Role) -> String {
    match role {
        Role::Candidate => format!("autosd-{}-{}-{release_id}-candidate", scope.project, scope.env),
        Role::Release => format!("autosd-{}-{}-{release_id}", scope.project, scope.env),
        Role::Lock => lock_name(scope),
    }
}

pub fn lock_name(scope: &Scope) -> String {
    format!("autosd-lock-{}-{}", scope.project, scope.env)
}

/// Label filters (`key=value`) selecting the containers of `scope` in `role`.
pub fn filters(scope: &Scope, role: Option<Role>) -> HashMap<String, Vec<String>> {
    let mut labels = vec![
        format!("{LABEL_MANAGED}=true"),
        format!("{LABEL_PROJECT}={}", scope.project),
        format!("{LABEL_ENV}={}", scope.env),
    ];
    if let Some(role) = role {
        labels.push(format!("{LABEL_ROLE}={}", role.as_str()));
    }
    HashMap::from([("label".to_string(), labels)])
}

pub fn labels(release: &Release, role: Role) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_PROJECT.to_string(), release.project.clone()),
        (LABEL_ENV.to_string(), release.env.clone()),
        (LABEL_RELEASE.to_string(), release.id.clone()),
        (LABEL_DIGEST.to_string(), release.digest.clone()),
        (LABEL_IMAGE.to_string(), release.image.clone()),
        (LABEL_ROLE.to_string(), role.as_str().to_string()),
    ])
}

fn port_key(container_port: u16, protocol: &str) -> String {
    format!("{container_port}/{protocol}")
}

/// The create body of a release (`Role::Release`: real ports, restarted unless stopped) or a
/// candidate (`Role::Candidate`: each port on 127.0.0.1 with an engine-chosen host port, no
/// restart policy), from the image's digest so a moved tag cannot change what runs.
pub fn create_body(settings: &DockerSettings, release: &Release, role: Role) -> ContainerCreateBody {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &settings.ports {
        let binding = match role {
            Role::Candidate => PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            },
            _ => PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            },
        };
        bindings
            .entry(port_key(p.container_port, &p.protocol))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    let exposed: Vec<String> = bindings.keys().cloned().collect();
    let restart = match role {
        Role::Release => RestartPolicyNameEnum::UNLESS_STOPPED,
        _ => RestartPolicyNameEnum::NO,
    };
    ContainerCreateBody {
        image: Some(release.digest.clone()),
        env: Some(settings.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        cmd: settings.command.clone(),
        labels: Some(labels(release, role)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        stop_timeout: Some(settings.stop_timeout.as_secs() as i64),
        host_config: Some(HostConfig {
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            memory: settings.memory_bytes,
            nano_cpus: settings.nano_cpus,
            init: settings.init.then_some(true),
            restart_policy: Some(RestartPolicy {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The host port a container port is published on, from an inspect's `NetworkSettings.Ports`.
pub fn published_port(
    ports: Option<&HashMap<String, Option<Vec<PortBinding>>>>,
    container_port: u16,
) -> Option<u16> {
    ports?
        .get(&port_key(container_port, "tcp"))?
        .as_ref()?
        .iter()
        .filter_map(|b| b.host_port.as_deref()?.parse().ok())
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::ledger::tests::release;
    use crate::deploy::release::Verdict;
    use serde_json::json;

    fn settings() -> DockerSettings {
        let t = crate::config::TargetSettings::from_json(
            json!({"docker": {
                "ports": ["127.0.0.1:18080:8080"], "env": {"MODE": "prod"}, "memory": "64m", "init": true,
                "health": {"http": {"port": 8080, "path": "/health"}}
            }}),
            0,
        );
        DockerSettings::from_target(&t, "staging").expect("settings")
    }

    #[test]
    fn names_and_filters_carry_the_scope() {
        let s = Scope::new("shop", "staging");
        assert_eq!(
            container_name(&s, "r1-ab", Role::Release),
            "autosd-shop-staging-r1-ab"
        );
        assert_eq!(
            container_name(&s, "r1-ab", Role::Candidate),
            "autosd-shop-staging-r1-ab-candidate"
        );
        assert_eq!(container_name(&s, "x", Role::Lock), "autosd-lock-shop-staging");
        let f = filters(&s, Some(Role::Release));
        assert!(f["label"].contains(&"io.autosd.role=release".to_string()));
        assert!(f["label"].contains(&"io.autosd.env=staging".to_string()));
    }

    #[test]
    fn releases_take_the_real_ports_and_candidates_loopback_ephemeral_ones() {
        let r = release("r1", "aa", Verdict::Pending);
        let body = create_body(&settings(), &r, Role::Release);
        assert_eq!(body.image.as_deref(), Some("sha256:aa"));
        let hc = body.host_config.as_ref().expect("host config");
        let b = &hc.port_bindings.as_ref().expect("ports")["8080/tcp"]
            .as_ref()
            .expect("binding")[0];
        assert_eq!(
            (b.host_ip.as_deref(), b.host_port.as_deref()),
            (Some("127.0.0.1"), Some("18080"))
        );
        assert_eq!(hc.memory, Some(64 << 20));
        assert_eq!(hc.init, Some(true));
        assert_eq!(
            hc.restart_policy.as_ref().and_then(|p| p.name),
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert_eq!(body.env, Some(vec!["MODE=prod".to_string()]));
        assert_eq!(body.labels.as_ref().expect("labels")[LABEL_RELEASE], "r1");

        let cand = create_body(&settings(), &r, Role::Candidate);
        let hc = cand.host_config.as_ref().expect("host config");
        let b = &hc.port_bindings.as_ref().expect("ports")["8080/tcp"]
            .as_ref()
            .expect("binding")[0];
        assert_eq!(
            (b.host_ip.as_deref(), b.host_port.as_deref()),
            (Some("127.0.0.1"), Some(""))
        );
        assert_eq!(cand.labels.as_ref().expect("labels")[LABEL_ROLE], "candidate");
    }

    #[test]
    fn published_ports_are_read_back() {
        let ports = HashMap::from([(
            "8080/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("49153".into()),
            }]),
        )]);
        assert_eq!(published_port(Some(&ports), 8080), Some(49153));
        assert_eq!(published_port(Some(&ports), 81), None);
        assert_eq!(published_port(None, 8080), None);
    }
}
