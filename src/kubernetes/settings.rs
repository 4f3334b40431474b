//! The `kubernetes` settings of an environment (`environments.<env>.target`, `kind:
//! kubernetes`): which Deployment in which namespace of which cluster, which of its
//! containers gets the image, and the gate. Validated with every problem at its own line.
use crate::config::TargetSettings;
use crate::deploy::health::GateSpec;
use crate::deploy::release::Scope;
use crate::deploy::settings::{RawHealth, Section, TargetKind};
use crate::error::Result;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetes {
    /// The image deployed when `--image` is not given (pinned by digest).
    image: Option<String>,
    namespace: Option<String>,
    /// Default `<project>-<env>`.
    deployment: Option<String>,
    /// The container of the pod template that gets the image; default: the only one.
    container: Option<String>,
    /// Kubeconfig context; default: the kubeconfig's current-context.
    context: Option<String>,
    /// Kubeconfig path; default `$KUBECONFIG`, else `~/.kube/config`, else in-cluster.
    kubeconfig: Option<String>,
    lease_duration: Option<String>,
    #[serde(default)]
    health: RawHealth,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesSettings {
    pub image: Option<String>,
    pub namespace: String,
    /// None: `<project>-<env>` (see `deployment_name`).
    pub deployment: Option<String>,
    pub container: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub gate: GateSpec,
    /// How long a deploy Lease lasts when autosd dies without releasing it. None: the
    /// holder's own lease (twice the longest gate plus ten minutes).
    pub lease_duration: Option<Duration>,
}

/// A DNS-1123 label (namespaces, container names): lower-case alphanumerics and `-`.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (Deployment and Lease names): labels joined by dots.
pub(crate) fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

impl KubernetesSettings {
    /// Validates the `kubernetes` settings of an environment's `target` mapping.
    pub fn from_target(target: &TargetSettings, env: &str) -> Result<Self> {
        let mut s = Section::of(target, TargetKind::Kubernetes, env)?;
        let Some(raw) = s.parse::<RawKubernetes>() else {
            return Err(s.error());
        };
        let namespace = raw.namespace.unwrap_or_else(|| "default".into());
        if !is_label(&namespace) {
            s.problem(
                "namespace",
                format!("`{namespace}` is not a namespace name (lower-case letters, digits and -)"),
            );
        }
        if let Some(d) = &raw.deployment
            && !is_subdomain(d)
        {
            s.problem(
                "deployment",
                format!("`{d}` is not a Deployment name (lower-case letters, digits, - and .)"),
            );
        }
        if let Some(c) = &raw.container
            && !is_label(c)
        {
            s.problem("container", format!("`{c}` is not a container name"));
        }
        if raw.context.as_deref() == Some("") {
            s.problem(
                "context",
                "give a context name, or leave it out for the current-context",
            );
        }
        if raw.kubeconfig.as_deref() == Some("") {
            s.problem(
                "kubeconfig",
                "give a path, or leave it out for $KUBECONFIG or ~/.kube/config",
            );
        }
        if let Some(image) = &raw.image
            && let Err(e) = super::image::Pinned::parse(image)
            && super::registry::Tagged::parse(image).is_none()
        {
            s.problem("image", e.message);
        }
        let h = &raw.health;
        let gate = s.gate(&h.ready_timeout, &h.stability_window, &h.interval);
        if h.http.is_some() {
            s.problem(
                "health.http",
                "the kubernetes gate reads the Deployment's and pods' readiness: put the HTTP check in the container's readinessProbe",
            );
        }
        if h.engine.is_some() {
            s.problem(
                "health.engine",
                "only the docker target reads the engine's health",
            );
        }
        let lease_duration = s.lease_duration(&raw.lease_duration);
        s.finish(KubernetesSettings {
            image: raw.image,
            namespace,
            deployment: raw.deployment,
            container: raw.container,
            context: raw.context,
            kubeconfig: raw.kubeconfig.map(PathBuf::from),
            gate,
            lease_duration,
        })
    }

    /// The Deployment of `scope`: the setting, else `<project>-<env>`.
    pub fn deployment_name(&self, scope: &Scope) -> String {
        self.deployment
            .clone()
            .unwrap_or_else(|| format!("{}-{}", scope.project, scope.env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    /// The settings of `v` given at line 7 of a project file.
    fn read(v: serde_json::Value) -> Result<KubernetesSettings> {
        KubernetesSettings::from_target(&TargetSettings::from_json(v, 7), "staging")
    }

    #[test]
    fn defaults_and_explicit_settings() {
        let s = read(json!({"kind": "kubernetes"})).expect("defaults");
        assert_eq!(s.namespace, "default");
        assert_eq!(s.deployment_name(&Scope::new("shop", "staging")), "shop-staging");
        assert_eq!(s.gate, GateSpec::default());
        assert_eq!(s.lease_duration, None);
        let s = read(json!({"kubernetes": {
                "namespace": "web", "deployment": "shop", "container": "app", "context": "prod-eu",
                "kubeconfig": "/etc/kube.yml", "lease_duration": "30m",
                "image": "registry.example/shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "health": {"ready_timeout": "5m", "stability_window": "30s", "interval": "2s"}
        }}))
        .expect("valid");
        assert_eq!(s.deployment_name(&Scope::new("shop", "prod")), "shop");
        assert_eq!(s.container.as_deref(), Some("app"));
        assert_eq!(s.context.as_deref(), Some("prod-eu"));
        assert_eq!(s.kubeconfig, Some(PathBuf::from("/etc/kube.yml")));
        assert_eq!(s.gate.ready_timeout, Duration::from_secs(300));
        assert_eq!(s.lease_duration, Some(Duration::from_secs(1800)));
    }

    #[test]
    fn every_problem_is_reported() {
        let e = read(json!({"kubernetes": {
            "namespace": "Web", "deployment": "-x", "container": "A_B", "context": "",
            "image": "shop:bad tag", "lease_duration": "1s", "health": {"interval": "soon", "http": {"port": 80}}
        }}))
        .expect_err("invalid");
        assert_eq!(e.code, ErrorCode::TargetSettingsInvalid);
        for needle in [
            "line 7",
            "namespace: `Web`",
            "deployment: `-x`",
            "container: `A_B`",
            "context:",
            "image:",
            "lease_duration: must be at least",
            "health.interval",
            "health.http: the kubernetes gate reads",
        ] {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
        let e = read(json!({"kubernetes": {"replicas": 3}})).expect_err("unknown key");
        assert!(e.message.contains("replicas"), "{}", e.message);
    }

    #[test]
    fn the_documented_example_is_valid() {
        // docs/targets.md's example, read as a project file: the docs cannot drift.
        let docs = include_str!("../../docs/targets.md");
        let section = docs.split("## `kubernetes`").nth(1).expect("kubernetes section");
        let yaml = section
            .split("```yaml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("example");
        let text = format!("version: 1\nproject: shop\n{yaml}");
        let config = crate::config::parse(&text, std::path::Path::new("c.yml"), std::path::Path::new("/"))
            .expect("project file");
        let target = &config.environment("staging").expect("env").target;
        let s = KubernetesSettings::from_target(target, "staging").expect("valid example");
        assert_eq!(
            (s.namespace.as_str(), s.container.as_deref()),
            ("web", Some("app"))
        );
        assert_eq!(s.gate.ready_timeout, Duration::from_secs(300));
    }

    #[test]
    fn names_follow_dns_rules() {
        assert!(is_subdomain("shop-staging.v2"));
        assert!(!is_subdomain("Shop"));
        assert!(!is_subdomain("a..b"));
        assert!(is_label("a1-b"));
        assert!(!is_label(&"a".repeat(64)));
    }
}
