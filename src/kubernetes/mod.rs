//! The `kubernetes` target: the only module that names kube-rs. It updates an existing
//! Deployment by server-side apply (field manager `autosd`, never forced) on a private
//! current-thread runtime behind the synchronous `Target` trait, gates the roll-out itself
//! (`rollout::evaluate` until done, the release's pods once it is, then the stability
//! window), and on a failed gate
//! re-applies the known-good template from autosd's ledger — never `rollout undo`, whose
//! "previous revision" flips between the last two templates. The deploy lock is a Lease.
mod client;
mod diagnose;
mod image;
mod lease;
mod patch;
mod registry;
mod rollout;
mod settings;

pub use image::Pinned;
pub use settings::KubernetesSettings;

use crate::deploy::health::{Gate, GateFailure, GateSpec, Observation};
use crate::deploy::plan::{Plan, Step, Strategy};
use crate::deploy::release::Scope;
use crate::deploy::rolling::{Orchestrator, Rollout};
use crate::deploy::target::{
    Change, Diagnosis, HealthReport, LockGuard, LockHolder, Outcome, Phase, Progress, Running, Target,
};
use crate::error::{Error, ErrorCode, Result};
use crate::registry::RegistryAuth;
use client::{Connection, Request, api_error};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use std::time::Duration;

const DEPLOYMENTS: &str = "deployments.apps";

pub struct KubernetesTarget {
    conn: Connection,
    settings: KubernetesSettings,
    /// The credentials a tag is resolved with at its registry.
    registry: RegistryAuth,
    /// Unix seconds (from the `Context` in production).
    now: fn() -> i64,
}

/// What a roll-out sent, so a frozen failure can re-send it.
pub struct Applied {
    deployment: String,
    container: String,
    image: String,
    release_id: String,
}

impl KubernetesTarget {
    /// A client for the settings' cluster and context; `env` reads the session's
    /// environment (KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST). Sends nothing yet.
    pub fn connect(
        settings: KubernetesSettings,
        env: &dyn Fn(&str) -> Option<String>,
        registry: RegistryAuth,
        now: fn() -> i64,
    ) -> Result<Self> {
        let conn = client::connect(&settings, env)?;
        Ok(KubernetesTarget {
            conn,
            settings,
            registry,
            now,
        })
    }

    pub fn settings(&self) -> &KubernetesSettings {
        &self.settings
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.conn.client.clone(), &self.settings.namespace)
    }

    fn req<'a>(&'a self, verb: &'a str, name: &'a str) -> Request<'a> {
        Request {
            verb,
            resource: DEPLOYMENTS,
            name: Some(name),
            namespace: &self.settings.namespace,
        }
    }

    fn get(&self, name: &str) -> Result<Deployment> {
        self.conn
            .rt
            .block_on(self.deployments().get(name))
            .map_err(|e| api_error(&self.conn.server, self.req("get", name), e))
    }

    /// The apply patch that rolls `scope`'s Deployment out to `image` for `release_id`,
    /// read against the Deployment as it is (which container gets the image).
    fn rollout_patch(
        &self,
        scope: &Scope,
        image: &str,
        release_id: &str,
        paused: bool,
    ) -> Result<(Applied, serde_json::Value)> {
        let name = self.settings.deployment_name(scope);
        let found = self.get(&name)?;
        let container = patch::container_of(&found, self.settings.container.as_deref())?;
        let body = patch::rollout(
            &name,
            &self.settings.namespace,
            &container,
            image,
            release_id,
            paused,
        );
        let applied = Applied {
            deployment: name,
            container,
            image: image.to_string(),
            release_id: release_id.to_string(),
        };
        Ok((applied, body))
    }

    fn apply(&self, name: &str, body: &serde_json::Value) -> Result<Deployment> {
        // `force` stays false: a field another manager owns is a conflict to report.
        let params = PatchParams::apply(patch::FIELD_MANAGER);
        self.conn
            .rt
            .block_on(self.deployments().patch(name, &params, &Patch::Apply(body)))
            .map_err(|e| api_error(&self.conn.server, self.req("patch", name), e))
    }

    fn apply_release(
        &self,
        scope: &Scope,
        image: &str,
        release_id: &str,
        progress: &mut dyn Progress,
    ) -> Result<Applied> {
        let (applied, body) = self.rollout_patch(scope, image, release_id, false)?;
        progress.phase(
            Phase::Start,
            &format!(
                "applying {image} to container {} of Deployment {}/{} (release {release_id})",
                applied.container, self.settings.namespace, applied.deployment
            ),
        );
        self.apply(&applied.deployment, &body)?;
        Ok(applied)
    }

    /// Waits for the roll-out of `name` and gates it: `Ok(Ok(ms until ready))`, or the
    /// failure. Errors talking to the cluster are `Err`.
    fn gate_rollout(
        &self,
        name: &str,
        spec: GateSpec,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, GateFailure>> {
        progress.phase(
            Phase::Health,
            &format!(
                "Deployment {name}: rolled out within {}, then available for {}",
                humantime::format_duration(spec.ready_timeout),
                humantime::format_duration(spec.stability_window)
            ),
        );
        // Every look is a request to the API server: at the interval, not faster.
        Gate::new(spec).run(|| self.look(name), |g| g.spec().interval)
    }

    /// One look for the gate: the roll-out status, and once that is done, the release's
    /// pods — a container that restarted (a crash the Deployment's availability can hide
    /// between two looks) fails the gate, as a restarted container does on docker.
    fn look(&self, name: &str) -> Result<Observation> {
        let d = self.get(name)?;
        match rollout::evaluate(&d) {
            Observation::Healthy => self.pods_look(&d),
            other => Ok(other),
        }
    }

    /// After a failed gate with nothing known-good to return to: the failed template stays,
    /// paused, so the controller replaces no further old pods (the ones still serving keep
    /// serving) and the new pods, never ready, get no traffic. The next deploy's apply
    /// unpauses it.
    fn freeze(&self, applied: &Applied, progress: &mut dyn Progress) -> Result<()> {
        progress.phase(
            Phase::Switch,
            &format!(
                "nothing was known-good: pausing Deployment {} on the failed release",
                applied.deployment
            ),
        );
        let body = patch::rollout(
            &applied.deployment,
            &self.settings.namespace,
            &applied.container,
            &applied.image,
            &applied.release_id,
            true,
        );
        self.apply(&applied.deployment, &body).map(|_| ())
    }
}

impl Orchestrator for KubernetesTarget {
    type Written = Applied;

    fn roll_out(&self, scope: &Scope, rollout: &Rollout, progress: &mut dyn Progress) -> Result<Applied> {
        self.apply_release(scope, &rollout.digest, &rollout.release_id, progress)
    }

    fn gate(
        &self,
        applied: &Applied,
        spec: GateSpec,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<u64, GateFailure>> {
        self.gate_rollout(&applied.deployment, spec, progress)
    }

    /// Server-side apply would refuse to take over a field another manager set since, but
    /// a change by a manager sharing autosd's fields would slip through: compare the image.
    fn still_ours(&self, applied: &Applied) -> Result<()> {
        let now = self.get(&applied.deployment)?;
        let image = patch::image_of(&now, &applied.container);
        if image.as_deref() == Some(applied.image.as_str()) {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::TargetConflict,
            format!(
                "Deployment {}/{} was changed by someone else after its roll-out failed the gate \
                 (container {} now runs {}); autosd did not revert it",
                self.settings.namespace,
                applied.deployment,
                applied.container,
                image.as_deref().unwrap_or("nothing")
            ),
        )
        .hint("see `kubectl rollout history` for the other change, then run autosd again"))
    }

    fn withdraw(&self, applied: &Applied, progress: &mut dyn Progress) -> Result<()> {
        self.freeze(applied, progress)
    }
}

impl Target for KubernetesTarget {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn strategy(&self) -> Strategy {
        Strategy::RollingUpdate
    }

    fn preview(&self, plan: &Plan) -> Result<Option<Change>> {
        let Some(digest) = plan.steps.iter().find_map(|s| match s {
            Step::RollOut { digest } => Some(digest),
            _ => None,
        }) else {
            return Ok(None);
        };
        let (_, body) = self.rollout_patch(&plan.scope, digest, &plan.release.id, false)?;
        Ok(Some(Change {
            what: "server-side apply patch",
            body,
        }))
    }

    /// Nodes pull, not autosd: a pinned reference is taken as it is; a tag is resolved to
    /// the digest it names now at its registry, with the Docker config's credentials for it
    /// (anonymously without). The pinned
    /// reference is the "digest" the ledger records.
    fn resolve(&self, image: &str, progress: &mut dyn Progress) -> Result<String> {
        let not_pinned = match Pinned::parse(image) {
            Ok(p) => return Ok(p.reference()),
            Err(e) => e,
        };
        let Some(tagged) = registry::Tagged::parse(image) else {
            return Err(not_pinned);
        };
        progress.phase(
            Phase::Pull,
            &format!("resolving {image} to a digest at {}", tagged.base),
        );
        let digest = self
            .conn
            .rt
            .block_on(registry::resolve(image, &tagged, &self.registry))?;
        // What the registry said must be a digest the cluster can pin.
        Ok(Pinned::parse(&format!("{}@{digest}", tagged.name))?.reference())
    }

    // No stopped release is kept (`retained`'s default): a rollback re-applies the known-good
    // template, run like any other roll-out (`rollback`'s default).
    fn deploy(&self, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome> {
        crate::deploy::rolling::run(self, plan, progress)
    }

    fn current(&self, scope: &Scope) -> Result<Option<Running>> {
        let name = self.settings.deployment_name(scope);
        let found = match self.get(&name) {
            Ok(d) => d,
            Err(e) if e.code == ErrorCode::TargetObjectMissing => return Ok(None),
            Err(e) => return Err(e),
        };
        let container = patch::container_of(&found, self.settings.container.as_deref())?;
        Ok(Some(Running {
            release_id: patch::release_of(&found),
            digest: patch::image_of(&found, &container),
            unit: format!("deployment/{name} in {}", self.settings.namespace),
        }))
    }

    fn health(&self, scope: &Scope) -> Result<HealthReport> {
        let name = self.settings.deployment_name(scope);
        let obs = rollout::evaluate(&self.get(&name)?);
        Ok(HealthReport::of(obs, || {
            format!("Deployment {name}: every replica is updated and available")
        }))
    }

    fn restart(&self, scope: &Scope) -> Result<()> {
        let name = self.settings.deployment_name(scope);
        let at = crate::context::rfc3339((self.now)());
        let params = PatchParams {
            field_manager: Some(patch::FIELD_MANAGER.into()),
            ..Default::default()
        };
        self.conn
            .rt
            .block_on(
                self.deployments()
                    .patch(&name, &params, &Patch::Strategic(patch::restart(&at))),
            )
            .map(|_| ())
            .map_err(|e| api_error(&self.conn.server, self.req("patch", &name), e))
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
        self.acquire(scope, holder, wait)
    }

    fn lock_holder(&self, scope: &Scope) -> Result<Option<LockHolder>> {
        self.lease_holder(scope)
    }

    fn break_lock(&self, scope: &Scope) -> Result<bool> {
        self.break_lease(scope)
    }

    /// A run killed mid-roll-out left the Deployment on a release the ledger now calls
    /// failed; the plan that follows re-applies what it deploys, so nothing is left to
    /// clean up in the cluster.
    fn recover(&self, _: &Scope, _: &[String]) -> Result<()> {
        Ok(())
    }
}
