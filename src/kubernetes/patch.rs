//! The changes autosd makes to a Deployment, as pure functions of what it read: the
//! server-side apply patch of a roll-out (the container image pinned by digest, the release
//! id as a pod-template annotation, and `paused: false`), and heal's restart patch. The
//! apply patch is the complete set of fields autosd owns: server-side apply removes a field
//! its manager stops sending, so every apply sends all of them.
use crate::error::{Error, ErrorCode, Result};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

/// The field manager of every autosd apply; another manager owning the same field is a
/// conflict autosd reports and never forces.
pub const FIELD_MANAGER: &str = "autosd";
/// The pod-template annotation naming the release a Deployment's pods run.
pub const ANNOTATION_RELEASE: &str = "autosd.io/release";
/// The annotation `kubectl rollout restart` bumps; a new value rolls every pod.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The server-side apply patch that makes `container` of `deployment` run `image` for
/// `release_id`. `paused` is true only when a failed release with nothing known-good to
/// return to is frozen (see `KubernetesTarget::freeze`).
pub fn rollout(
    deployment: &str,
    namespace: &str,
    container: &str,
    image: &str,
    release_id: &str,
    paused: bool,
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment, "namespace": namespace},
        "spec": {
            "paused": paused,
            "template": {
                "metadata": {"annotations": {ANNOTATION_RELEASE: release_id}},
                "spec": {"containers": [{"name": container, "image": image}]}
            }
        }
    })
}

/// Heal's restart: what `kubectl rollout restart` sends (a strategic merge patch of the
/// restart annotation). A merge patch, not an apply: applying it as autosd would drop the
/// fields autosd's roll-out owns, and a timestamp another restarter set is no conflict.
pub fn restart(at_rfc3339: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at_rfc3339}}}}})
}

fn containers(d: &Deployment) -> Vec<&k8s_openapi::api::core::v1::Container> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.iter().collect())
        .unwrap_or_default()
}

/// The container of the pod template that gets the image: `wanted`, else the only one.
pub fn container_of(d: &Deployment, wanted: Option<&str>) -> Result<String> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let names: Vec<&str> = containers(d).iter().map(|c| c.name.as_str()).collect();
    match (wanted, names.as_slice()) {
        (Some(w), _) if names.contains(&w) => Ok(w.to_string()),
        (Some(w), _) => Err(Error::new(
            ErrorCode::TargetSettingsInvalid,
            format!(
                "Deployment {name} has no container `{w}` in its pod template (it has: {})",
                names.join(", ")
            ),
        )
        .hint("set `container:` under the environment's target to one of them")),
        (None, [only]) => Ok(only.to_string()),
        (None, _) => Err(Error::new(
            ErrorCode::TargetSettingsInvalid,
            format!(
                "Deployment {name} has {} containers ({}): say which one gets the image",
                names.len(),
                names.join(", ")
            ),
        )
        .hint("set `container:` under the environment's target")),
    }
}

/// The image `container` runs per the pod template.
pub fn image_of(d: &Deployment, container: &str) -> Option<String> {
    containers(d)
        .into_iter()
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone())
}

/// The release the pod template is annotated with.
pub fn release_of(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(ANNOTATION_RELEASE)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(containers: &[&str]) -> Deployment {
        let list: Vec<Value> = containers
            .iter()
            .map(|n| json!({"name": n, "image": format!("{n}:v1")}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "shop-prod"},
            "spec": {
                "selector": {"matchLabels": {"app": "shop"}},
                "template": {
                    "metadata": {"annotations": {ANNOTATION_RELEASE: "r1"}},
                    "spec": {"containers": list}
                }
            }
        }))
        .expect("deployment")
    }

    #[test]
    fn the_apply_patch_is_minimal_and_complete() {
        let p = rollout("shop-prod", "web", "app", "reg/shop@sha256:ab", "r7", false);
        assert_eq!(
            p,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "shop-prod", "namespace": "web"},
                "spec": {"paused": false, "template": {
                    "metadata": {"annotations": {"autosd.io/release": "r7"}},
                    "spec": {"containers": [{"name": "app", "image": "reg/shop@sha256:ab"}]}
                }}
            })
        );
        assert_eq!(
            restart("2026-11-27T10:00:00Z")["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT],
            "2026-11-27T10:00:00Z"
        );
    }

    #[test]
    fn the_container_is_named_or_the_only_one() {
        let one = deployment(&["app"]);
        assert_eq!(container_of(&one, None).expect("only"), "app");
        assert_eq!(image_of(&one, "app").as_deref(), Some("app:v1"));
        assert_eq!(release_of(&one).as_deref(), Some("r1"));
        let two = deployment(&["app", "sidecar"]);
        let e = container_of(&two, None).expect_err("ambiguous");
        assert!(e.message.contains("2 containers (app, sidecar)"), "{}", e.message);
        assert_eq!(container_of(&two, Some("sidecar")).expect("named"), "sidecar");
        let e = container_of(&two, Some("web")).expect_err("absent");
        assert!(e.message.contains("no container `web`"), "{}", e.message);
    }
}
