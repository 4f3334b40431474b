//! The per-(project, env) deploy lock of a swarm: a Swarm *config* object named
//! `autosd-lock-<project>-<env>`. Configs live in the managers' replicated store, so creating
//! one is an atomic test-and-set for every autosd that talks to any manager of the cluster;
//! a second create of the same name gets 409. The holder (who, host, pid, lease) is the
//! config's data and a label. The protocol (wait, stale holders, naming the holder) is the
//! docker target's, shared through `docker::lock::test_and_set`.
use super::{SwarmTarget, spec};
use crate::deploy::release::Scope;
use crate::deploy::target::{LockGuard, LockHolder};
use crate::docker::lock::{read_holder, test_and_set};
use crate::docker::spec::{LABEL_ENV, LABEL_LOCK_HOLDER, LABEL_MANAGED, LABEL_PROJECT};
use crate::docker::{is_conflict, is_not_found};
use crate::error::Result;
use base64::Engine as _;
use bollard::models::ConfigSpec;
use std::collections::HashMap;
use std::time::Duration;

pub struct SwarmLock {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    docker: bollard::Docker,
    host: String,
    name: String,
}

impl LockGuard for SwarmLock {
    fn release(self: Box<Self>) -> Result<()> {
        remove(&self.rt, &self.docker, &self.host, &self.name)
    }
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
    let holder_json = serde_json::to_string(who).unwrap_or_default();
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
    let create = || match t.rt.block_on(t.docker.create_config(config.clone())) {
        Ok(_) => Ok(true),
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
    let guard = SwarmLock {
        rt: t.rt.clone(),
        docker: t.docker.clone(),
        host: t.host.clone(),
        name,
    };
    Ok((Box::new(guard), notes))
}
