//! Heal's view of a Deployment: the roll-out status, and the pods of its selector that run
//! the current release — the worst one's evidence goes into the incident: a waiting reason
//! (CrashLoopBackOff, ImagePullBackOff), readiness, restart count, and the last
//! termination's exit code, OOM kill and time.
use super::{KubernetesTarget, patch, rollout};
use crate::deploy::health::Observation;
use crate::deploy::release::Scope;
use crate::deploy::target::Diagnosis;
use crate::error::Result;
use crate::heal::incident::Evidence;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

/// Waiting reasons that mean the container will not come up by itself.
const BROKEN: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
];

/// `app=shop,tier=web` from the Deployment's `matchLabels` (expressions are not needed to
/// find its pods: every pod it creates carries the labels).
fn selector(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// One pod's evidence and how bad it looks (higher is worse).
pub fn pod_evidence(pod: &Pod, container: &str) -> (u8, Evidence) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let Some(c) = status
        .container_statuses
        .iter()
        .flatten()
        .find(|c| c.name == container)
    else {
        let phase = status.phase.unwrap_or_else(|| "Pending".into());
        return (
            2,
            Evidence {
                unit: Some(format!("pod/{name}")),
                state: Some(phase),
                ..Evidence::default()
            },
        );
    };
    let state = c.state.clone().unwrap_or_default();
    let last = c.last_state.as_ref().and_then(|s| s.terminated.clone());
    let waiting = state.waiting.as_ref().and_then(|w| w.reason.clone());
    let (severity, label) = match (&waiting, &state.terminated, &state.running) {
        (Some(r), _, _) if BROKEN.contains(&r.as_str()) => (4, r.clone()),
        (Some(r), _, _) => (2, r.clone()),
        (None, Some(t), _) => (
            3,
            format!("terminated ({})", t.reason.clone().unwrap_or_default()),
        ),
        (None, None, Some(_)) if !c.ready => (2, "running, not ready".into()),
        (None, None, Some(_)) => (0, "running".into()),
        _ => (1, "unknown".into()),
    };
    let ended = state.terminated.clone().or(last);
    let evidence = Evidence {
        unit: Some(format!("pod/{name} container {container}")),
        state: Some(label),
        exit_code: ended.as_ref().map(|t| i64::from(t.exit_code)),
        oom_killed: ended
            .as_ref()
            .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
            .map(|_| true),
        restart_count: Some(i64::from(c.restart_count)).filter(|n| *n > 0),
        health_status: Some(if c.ready { "ready" } else { "not ready" }.into()),
        health_output: state.waiting.as_ref().and_then(|w| w.message.clone()).map(|m| {
            m.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(300)
                .collect()
        }),
        http_status: None,
        since: ended.and_then(|t| t.finished_at).map(|t| t.0.as_second()),
    };
    (severity, evidence)
}

impl KubernetesTarget {
    fn pods(&self, d: &Deployment) -> Result<Vec<Pod>> {
        let api: Api<Pod> = Api::namespaced(self.conn.client.clone(), &self.settings.namespace);
        let params = ListParams::default().labels(&selector(d));
        let req = super::client::Request {
            verb: "list",
            resource: "pods",
            name: None,
            namespace: &self.settings.namespace,
        };
        self.conn
            .rt
            .block_on(api.list(&params))
            .map(|l| l.items)
            .map_err(|e| super::client::api_error(&self.conn.server, req, e))
    }

    /// The pods of the Deployment's current release (all of its pods when none carries
    /// the release annotation).
    fn release_pods(&self, d: &Deployment) -> Result<(Vec<Pod>, Option<String>)> {
        let release_id = patch::release_of(d);
        let pods = self.pods(d)?;
        // Pods carry the template's annotations: prefer those of the current release.
        let current: Vec<Pod> = pods
            .iter()
            .filter(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(patch::ANNOTATION_RELEASE))
                    == release_id.as_ref()
            })
            .cloned()
            .collect();
        Ok((if current.is_empty() { pods } else { current }, release_id))
    }

    /// The gate's look at the pods of a rolled-out Deployment: any restarted or broken
    /// container of the release fails it.
    pub(super) fn pods_look(&self, d: &Deployment) -> Result<Observation> {
        let container = patch::container_of(d, self.settings.container.as_deref())?;
        let (pods, _) = self.release_pods(d)?;
        for pod in &pods {
            let (severity, ev) = pod_evidence(pod, &container);
            if severity >= 3 || ev.restart_count.is_some() {
                let exit = ev
                    .exit_code
                    .map(|c| format!(", last exit code {c}"))
                    .unwrap_or_default();
                return Ok(Observation::Failed(format!(
                    "{}: {}, restarted {} time(s){exit}",
                    ev.unit.unwrap_or_default(),
                    ev.state.unwrap_or_default(),
                    ev.restart_count.unwrap_or(0)
                )));
            }
        }
        Ok(Observation::Healthy)
    }

    pub(super) fn diagnose_scope(&self, scope: &Scope) -> Result<Diagnosis> {
        let name = self.settings.deployment_name(scope);
        let d = self.get(&name)?;
        let container = patch::container_of(&d, self.settings.container.as_deref())?;
        let (looked, release_id) = self.release_pods(&d)?;
        let worst = looked
            .iter()
            .map(|p| pod_evidence(p, &container))
            .max_by_key(|(severity, _)| *severity);
        let rollout = rollout::evaluate(&d);
        let (healthy, detail, evidence) = match (worst, rollout) {
            (None, _) => (
                false,
                format!("Deployment {name} has no pods"),
                Evidence {
                    unit: Some(format!("deployment/{name}")),
                    state: Some("no pods".into()),
                    ..Evidence::default()
                },
            ),
            (Some((severity, ev)), Observation::Healthy) if severity < 2 => (
                true,
                format!("Deployment {name}: every replica is updated and available"),
                ev,
            ),
            (Some((_, ev)), obs) => {
                let why = match obs {
                    Observation::Healthy => String::new(),
                    Observation::NotReady(r) | Observation::Failed(r) => format!("; {r}"),
                };
                let unit = ev.unit.clone().unwrap_or_default();
                let state = ev.state.clone().unwrap_or_default();
                (false, format!("{unit}: {state}{why}"), ev)
            }
        };
        Ok(Diagnosis {
            healthy,
            detail,
            release_id,
            evidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "shop-prod-7d9-abc"}, "status": status}))
            .expect("pod")
    }

    #[test]
    fn a_crash_looping_pod_is_the_worst_and_says_why() {
        let crashing = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 5, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2027-01-15T08:00:00Z"}}
        }]}));
        let (severity, ev) = pod_evidence(&crashing, "app");
        assert_eq!(severity, 4);
        assert_eq!(ev.state.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(ev.exit_code, Some(137));
        assert_eq!(ev.oom_killed, Some(true));
        assert_eq!(ev.restart_count, Some(5));
        assert_eq!(ev.health_status.as_deref(), Some("not ready"));
        assert_eq!(ev.since, Some(1_800_000_000));
        assert!(
            ev.health_output
                .as_deref()
                .is_some_and(|o| o.contains("back-off"))
        );
        let fine = pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "app", "ready": true, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"running": {"startedAt": "2027-01-15T08:00:00Z"}}
        }]}));
        let (severity, ev) = pod_evidence(&fine, "app");
        assert_eq!(
            (severity, ev.state.as_deref(), ev.restart_count),
            (0, Some("running"), None)
        );
        let pending = pod(json!({"phase": "Pending"}));
        assert_eq!(pod_evidence(&pending, "app").1.state.as_deref(), Some("Pending"));
    }
}
