//! The per-(project, env) deploy lock of a swarm: a Swarm *config* object named
//! `autosd-lock-<project>-<env>`. Configs live in the managers' replicated store, so creating
//! one is an atomic test-and-set for every autosd that talks to any manager of the cluster;
//! a second create of the same name gets 409. The holder (who, host, pid, lease) is the
//! config's data and a label. The protocol (wait, stale holders, naming the holder) is the
//! docker target's, shared through `docker::lock::test_and_set`. While held, the label's
//! expiry is renewed every third of the lease (`deploy::renewer`); a config's labels are the
//! one part Swarm lets an update change.
use super::{SwarmTarget, spec};
use crate::deploy::release::Scope;
use crate::deploy::renewer::Renewer;
use crate::deploy::target::{LockGuard, LockHolder};
use crate::docker::lock::{read_holder, test_and_set};
use crate::docker::spec::{LABEL_ENV, LABEL_LOCK_HOLDER, LABEL_MANAGED, LABEL_PROJECT};
use crate::docker::{is_conflict, is_not_found};
use crate::error::Result;
use base64::Engine as _;
use bollard::models::ConfigSpec;
use bollard::query_parameters::UpdateConfigOptions;
use std::collections::HashMap;
use std::time::Duration;

pub struct SwarmLock {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    docker: bollard::Docker,
    host: String,
    name: String,
    renewer: Option<Renewer>,
}

impl LockGuard for SwarmLock {
    fn release(mut self: Box<Self>) -> Result<()> {
        // Stopped first, so no renewal races the removal.
        if let Some(r) = self.renewer.take() {
            r.stop();
        }
        remove(&self.rt, &self.docker, &self.host, &self.name)
    }
}

/// The renewal of the lock config `id` (this holder's own: a lock taken over after it
/// lapsed is another config) through an engine client of the renewer's own: its holder
/// label with the expiry moved on, at the version just read. False (stop) once the config
/// is gone.
fn renewal(
    docker_host: String,
    id: String,
    holder: LockHolder,
    lease: i64,
    now: fn() -> i64,
) -> Option<impl FnMut() -> bool> {
    let (rt, docker, _) = crate::docker::connect_engine(Some(&docker_host)).ok()?;
    Some(move || {
        let config = match rt.block_on(docker.inspect_config(&id)) {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return false,
            Err(e) => {
                tracing::warn!(lock = %id, error = %e, "renewing the deploy lock failed; retrying");
                return true;
            }
        };
        let (Some(mut spec), Some(version)) = (config.spec, config.version.and_then(|v| v.index)) else {
            return true;
        };
        let renewed = LockHolder {
            expires: now() + lease,
            ..holder.clone()
        };
        spec.labels.get_or_insert_with(HashMap::new).insert(
            LABEL_LOCK_HOLDER.to_string(),
            serde_json::to_string(&renewed).unwrap_or_default(),
        );
        let opts = UpdateConfigOptions {
            version: version as i64,
        };
        match rt.block_on(docker.update_config(&id, spec, opts)) {
            Ok(()) => true,
            Err(e) if is_not_found(&e) => false,
            Err(e) => {
                tracing::warn!(lock = %id, error = %e, "renewing the deploy lock failed; retrying");
                true
            }
        }
    })
}

fn remove(rt: &tokio::runtime::Runtime, docker: &bollard::Docker, host: &str, name: &str) -> Result<()> {
    match rt.block_on(docker.delete_config(name)) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(super::swarm_error(host, &format!("remove lock config {name}"), e)),
    }
}

pub fn holder(t: &SwarmTarget, scope: &Scope) -> Result<Option<LockHolder>> {
    let name = spec::lock_name(scope);
    match t.rt.block_on(t.docker.inspect_config(&name)) {
        Ok(config) => {
            let raw = config
                .spec
                .and_then(|s| s.labels)
                .and_then(|l| l.get(LABEL_LOCK_HOLDER).cloned())
                .unwrap_or_default();
            Ok(Some(read_holder(&raw)))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(t.err(&format!("inspect lock config {name}"), e)),
    }
}

pub fn break_lock(t: &SwarmTarget, scope: &Scope) -> Result<bool> {
    let existed = holder(t, scope)?.is_some();
    remove(&t.rt, &t.docker, &t.host, &spec::lock_name(scope))?;
    Ok(existed)
}

pub fn acquire(
    t: &SwarmTarget,
    scope: &Scope,
    who: &LockHolder,
    wait: Duration,
) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
    let name = spec::lock_name(scope);
    let mut who = who.clone();
    if let Some(d) = t.settings.lease_duration {
        who.expires = who.acquired + d.as_secs() as i64;
    }
    let holder_json = serde_json::to_string(&who).unwrap_or_default();
    let config = ConfigSpec {
        name: Some(name.clone()),
        labels: Some(HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_PROJECT.to_string(), scope.project.clone()),
            (LABEL_ENV.to_string(), scope.env.clone()),
            (LABEL_LOCK_HOLDER.to_string(), holder_json.clone()),
        ])),
        // Configs must carry data; the holder, readable with `docker config inspect --pretty`.
        data: Some(base64::engine::general_purpose::STANDARD.encode(holder_json)),
        ..Default::default()
    };
    let created = std::cell::RefCell::new(String::new());
    let create = || match t.rt.block_on(t.docker.create_config(config.clone())) {
        Ok(made) => {
            *created.borrow_mut() = made.id;
            Ok(true)
        }
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(t.err(&format!("create lock config {name}"), e)),
    };
    let notes = test_and_set(
        scope,
        wait,
        t.now,
        create,
        || holder(t, scope),
        || remove(&t.rt, &t.docker, &t.host, &name),
    )?;
    let lease = (who.expires - who.acquired).max(1);
    let (docker_host, id, now) = (t.host.clone(), created.into_inner(), t.now);
    let renewer = Renewer::start(Duration::from_secs(lease as u64), move || {
        renewal(docker_host, id, who, lease, now)
    });
    let guard = SwarmLock {
        rt: t.rt.clone(),
        docker: t.docker.clone(),
        host: t.host.clone(),
        name,
        renewer: Some(renewer),
    };
    Ok((Box::new(guard), notes))
}
