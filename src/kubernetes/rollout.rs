//! Whether a Deployment's roll-out is done, as a pure function of the Deployment: the
//! controller has observed the newest generation, every replica is updated, ready and
//! available, no old replica is left, and the `Progressing` condition has not given up
//! (`ProgressDeadlineExceeded` after the Deployment's `progressDeadlineSeconds`). The same
//! look feeds the gate while waiting (not ready yet) and during the stability window (any
//! replica lost is a failure).
use crate::deploy::health::Observation;
use k8s_openapi::api::apps::v1::Deployment;

/// One look at a Deployment.
pub fn evaluate(d: &Deployment) -> Observation {
    let name = d.metadata.name.as_deref().unwrap_or("the Deployment");
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if observed < generation {
        return Observation::NotReady(format!(
            "waiting for the controller to observe generation {generation} of {name} (seen {observed})"
        ));
    }
    let stuck = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
    if let Some(c) = stuck {
        let deadline = d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600);
        return Observation::Failed(format!(
            "{name} exceeded its progress deadline ({deadline}s): {}",
            c.message.as_deref().unwrap_or("no progress")
        ));
    }
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < wanted {
        return Observation::NotReady(format!("{updated} of {wanted} replicas of {name} are updated"));
    }
    if total > updated {
        return Observation::NotReady(format!(
            "{} old replica(s) of {name} are pending termination",
            total - updated
        ));
    }
    if ready < wanted {
        return Observation::NotReady(format!(
            "{ready} of {wanted} updated replicas of {name} are ready"
        ));
    }
    if available < wanted {
        return Observation::NotReady(format!(
            "{available} of {wanted} updated replicas of {name} are available"
        ));
    }
    Observation::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "shop-prod", "generation": generation},
            "spec": {
                "replicas": 3, "progressDeadlineSeconds": 60,
                "selector": {"matchLabels": {"app": "shop"}},
                "template": {"spec": {"containers": [{"name": "app"}]}}
            },
            "status": status
        }))
        .expect("deployment")
    }

    fn not_ready(obs: Observation, needle: &str) {
        match obs {
            Observation::NotReady(r) => assert!(r.contains(needle), "{needle} in {r}"),
            other => panic!("expected not ready ({needle}), got {other:?}"),
        }
    }

    #[test]
    fn a_rollout_is_done_when_every_replica_is_new_ready_and_available() {
        let done = json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
        assert_eq!(evaluate(&deployment(4, done)), Observation::Healthy);
    }

    #[test]
    fn each_unfinished_state_says_what_it_waits_for() {
        not_ready(
            evaluate(&deployment(
                5,
                json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
            )),
            "observe generation 5",
        );
        not_ready(
            evaluate(&deployment(
                5,
                json!({"observedGeneration": 5, "replicas": 4, "updatedReplicas": 1}),
            )),
            "1 of 3 replicas",
        );
        not_ready(
            evaluate(&deployment(
                5,
                json!({"observedGeneration": 5, "replicas": 4, "updatedReplicas": 3, "readyReplicas": 3}),
            )),
            "1 old replica",
        );
        not_ready(
            evaluate(&deployment(
                5,
                json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}),
            )),
            "2 of 3 updated replicas of shop-prod are ready",
        );
        not_ready(
            evaluate(&deployment(
                5,
                json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 1}),
            )),
            "1 of 3 updated replicas of shop-prod are available",
        );
    }

    #[test]
    fn a_passed_progress_deadline_fails_at_once() {
        let stuck = json!({"observedGeneration": 5, "replicas": 4, "updatedReplicas": 1,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"shop-prod-7d9\" has timed out progressing."}]});
        match evaluate(&deployment(5, stuck)) {
            Observation::Failed(r) => assert!(
                r.contains("progress deadline (60s)") && r.contains("timed out progressing"),
                "{r}"
            ),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
