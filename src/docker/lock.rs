//! The per-(project, env) deploy lock at the engine: a container named
//! `autosd-lock-<project>-<env>` that is created but never started. The engine refuses a
//! second container of the same name, so creating it is an atomic test-and-set visible to
//! every autosd that talks to this engine, whichever machine it runs on. Its holder (who,
//! host, pid, lease) is a label; a lock whose lease ended, or whose holder ran on this host
//! and died, is stale and broken by the next taker. The protocol itself (`test_and_set`) is
//! shared with the swarm target's config-object lock.
use super::{DockerTarget, is_conflict, is_not_found, spec};
use crate::deploy::generic::wait_for_holder;
use crate::deploy::release::Scope;
use crate::deploy::target::{self, LockGuard, LockHolder};
use crate::error::{Error, ErrorCode, Result};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListImagesOptions, RemoveContainerOptions,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct DockerLock {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    docker: bollard::Docker,
    name: String,
}

impl LockGuard for DockerLock {
    fn release(self: Box<Self>) -> Result<()> {
        let opts = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match self
            .rt
            .block_on(self.docker.remove_container(&self.name, Some(opts)))
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::new(
                ErrorCode::TargetFailed,
                format!("remove lock {}: {e}", self.name),
            )),
        }
    }
}

/// The engine needs an image to create any container; the lock is never started, so any
/// local image will do.
fn any_image(t: &DockerTarget) -> Result<String> {
    let images =
        t.rt.block_on(t.docker.list_images(Some(ListImagesOptions::default())))
            .map_err(|e| t.err("list images", e))?;
    images.into_iter().map(|i| i.id).next().ok_or_else(|| {
        Error::new(
            ErrorCode::ImageNotFound,
            format!("the engine at {} has no image at all", t.host),
        )
    })
}

pub fn holder(t: &DockerTarget, scope: &Scope) -> Result<Option<LockHolder>> {
    let name = spec::lock_name(scope);
    match t
        .rt
        .block_on(t.docker.inspect_container(&name, None::<InspectContainerOptions>))
    {
        Ok(info) => {
            let raw = info
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get(spec::LABEL_LOCK_HOLDER).cloned())
                .unwrap_or_default();
            Ok(Some(read_holder(&raw)))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(t.err(&format!("inspect lock {name}"), e)),
    }
}

pub fn holder_exists(t: &DockerTarget, scope: &Scope) -> Result<bool> {
    Ok(holder(t, scope)?.is_some())
}

pub fn acquire(
    t: &DockerTarget,
    scope: &Scope,
    who: &LockHolder,
    wait: Duration,
) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
    let name = spec::lock_name(scope);
    let image = any_image(t)?;
    let labels = HashMap::from([
        (spec::LABEL_MANAGED.to_string(), "true".to_string()),
        (spec::LABEL_PROJECT.to_string(), scope.project.clone()),
        (spec::LABEL_ENV.to_string(), scope.env.clone()),
        (
            spec::LABEL_ROLE.to_string(),
            spec::Role::Lock.as_str().to_string(),
        ),
        (
            spec::LABEL_LOCK_HOLDER.to_string(),
            serde_json::to_string(who).unwrap_or_default(),
        ),
    ]);
    let create = || {
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            labels: Some(labels.clone()),
            cmd: Some(vec!["autosd-lock".into()]),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        match t.rt.block_on(t.docker.create_container(Some(opts), body)) {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(t.err(&format!("create lock {name}"), e)),
        }
    };
    let notes = test_and_set(
        scope,
        wait,
        t.now,
        create,
        || holder(t, scope),
        || t.remove(&name),
    )?;
    let guard = DockerLock {
        rt: t.rt.clone(),
        docker: t.docker.clone(),
        name,
    };
    Ok((Box::new(guard), notes))
}

/// A holder read back from the engine; an unreadable one cannot name anyone, so it reads
/// as a lock that is already stale.
pub(crate) fn read_holder(raw: &str) -> LockHolder {
    serde_json::from_str(raw).unwrap_or(LockHolder {
        who: "unknown".into(),
        host: "unknown".into(),
        pid: 0,
        operation: "unknown".into(),
        acquired: 0,
        expires: 0,
    })
}

/// The lock protocol every engine-side lock follows: `create` is an atomic test-and-set
/// (true: taken; false: someone holds it). A live holder is waited for up to `wait`, then
/// named in `AUTOSD-LOCK-HELD`; a stale one (lease over, or a dead process on this host) is
/// removed and named in the returned notes.
pub(crate) fn test_and_set(
    scope: &Scope,
    wait: Duration,
    now: fn() -> i64,
    mut create: impl FnMut() -> Result<bool>,
    holder: impl Fn() -> Result<Option<LockHolder>>,
    remove: impl Fn() -> Result<()>,
) -> Result<Vec<String>> {
    let start = Instant::now();
    let host = target::this_host();
    let mut notes = Vec::new();
    loop {
        if create()? {
            return Ok(notes);
        }
        match holder()? {
            Some(h) if !h.is_stale(now(), &host, target::pid_alive) => {
                wait_for_holder(scope, &h, start.elapsed(), wait, Duration::from_millis(250))?;
            }
            Some(h) => {
                notes.push(format!(
                    "broke the stale deploy lock of {scope} held by {}",
                    h.describe()
                ));
                remove()?;
            }
            // Released between our create and the look: try again at once.
            None => {}
        }
    }
}
