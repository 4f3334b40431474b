//! The per-(project, env) deploy lock in the cluster: a `coordination.k8s.io/v1` Lease
//! `autosd-<project>-<env>` in the environment's namespace, visible to every autosd that
//! talks to the cluster, wherever it runs. Creating it is the atomic test-and-set (409:
//! someone holds it). Its spec carries the holder identity and expiry any Lease reader
//! understands; the full `LockHolder` (who, host, pid, operation) sits in an annotation so
//! `autosd lock` can name who holds it. A stale Lease (expired, or its holder ran on this
//! host and died) is taken over by an update carrying the `resourceVersion` that was read:
//! if someone else moved first the update is refused (409) and the race is lost cleanly.
//! Release deletes with that `resourceVersion` as a precondition, so a lock another run took
//! over is never deleted from under it. While held, a thread of its own renews the Lease
//! every third of its duration (as leader election does), so a short `lease_duration` frees
//! the lock soon after a holder is killed, yet never expires under a long roll-out.
use super::KubernetesTarget;
use super::client::{Request, api_error};
use crate::deploy::generic::wait_for_holder;
use crate::deploy::release::Scope;
use crate::deploy::renewer::Renewer;
use crate::deploy::target::{self, LockGuard, LockHolder};
use crate::error::{Error, ErrorCode, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The annotation holding the JSON `LockHolder`.
pub const ANNOTATION_HOLDER: &str = "autosd.io/lock-holder";
const RESOURCE: &str = "leases.coordination.k8s.io";

/// `autosd-<project>-<env>` as a valid object name (lower case; anything else becomes `-`).
pub fn lease_name(scope: &Scope) -> String {
    let raw = format!("autosd-{}-{}", scope.project, scope.env).to_ascii_lowercase();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(253)
        .collect();
    name.trim_end_matches(['-', '.']).to_string()
}

fn micro(unix: i64) -> MicroTime {
    let t = k8s_openapi::jiff::Timestamp::from_second(unix.clamp(0, 253_402_300_799))
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    MicroTime(t)
}

/// The Lease that says `holder`, last renewed at `renewed` (unix seconds), holds the lock
/// until `holder.expires`.
pub fn lease_of(
    name: &str,
    scope: &Scope,
    holder: &LockHolder,
    renewed: i64,
    resource_version: Option<String>,
) -> Lease {
    let seconds = (holder.expires - renewed).clamp(1, i64::from(i32::MAX)) as i32;
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            resource_version,
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/managed-by".to_string(), "autosd".to_string()),
                ("autosd.io/project".to_string(), scope.project.clone()),
                ("autosd.io/env".to_string(), scope.env.clone()),
            ])),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_HOLDER.to_string(),
                serde_json::to_string(holder).unwrap_or_default(),
            )])),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(format!(
                "{} ({} on {}, pid {})",
                holder.who, holder.operation, holder.host, holder.pid
            )),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(micro(holder.acquired)),
            renew_time: Some(micro(renewed)),
            ..Default::default()
        }),
    }
}

/// Who a Lease says holds the lock: autosd's annotation, else what any Lease writer puts
/// in its spec (identity, renew time plus duration), so a foreign or damaged Lease still
/// expires instead of blocking forever.
pub fn holder_of(lease: &Lease) -> LockHolder {
    let annotated = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_HOLDER))
        .and_then(|raw| serde_json::from_str::<LockHolder>(raw).ok());
    if let Some(h) = annotated {
        return h;
    }
    let spec = lease.spec.clone().unwrap_or_default();
    let secs = |t: &Option<MicroTime>| t.as_ref().map(|m| m.0.as_second());
    let acquired = secs(&spec.acquire_time).unwrap_or(0);
    let renewed = secs(&spec.renew_time).unwrap_or(acquired);
    LockHolder {
        who: spec.holder_identity.unwrap_or_else(|| "unknown".into()),
        host: "unknown".into(),
        pid: 0,
        operation: "unknown".into(),
        acquired,
        expires: renewed + i64::from(spec.lease_duration_seconds.unwrap_or(0)),
    }
}

/// A held Lease: renewed until released, then deleted by a delete that only succeeds on
/// the version autosd last wrote.
pub struct KubeLease {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    api: Api<Lease>,
    server: String,
    namespace: String,
    name: String,
    /// The version autosd last wrote, kept current by the renewer.
    resource_version: Arc<Mutex<Option<String>>>,
    renewer: Option<Renewer>,
}

/// What the renewer writes: the Lease of `holder`, with its expiry moved on each time.
struct Renewal {
    config: kube::Config,
    namespace: String,
    name: String,
    scope: Scope,
    holder: LockHolder,
    /// The Lease's duration in seconds.
    duration: i64,
    now: fn() -> i64,
}

impl Renewal {
    /// A client of the renewer's own, and the renewal: an update at the version last
    /// written. False (stop) when the Lease was taken over or deleted (409, 404); a server
    /// that does not answer is tried again at the next period.
    fn open(self, version: Arc<Mutex<Option<String>>>) -> Option<impl FnMut() -> bool> {
        let rt = crate::deploy::target::current_thread_runtime().ok()?;
        let client = rt
            .block_on(async { kube::Client::try_from(self.config.clone()) })
            .ok()?;
        let api: Api<Lease> = Api::namespaced(client, &self.namespace);
        Some(move || {
            let now = (self.now)();
            let holder = LockHolder {
                expires: now + self.duration,
                ..self.holder.clone()
            };
            let current = version.lock().map(|v| v.clone()).unwrap_or(None);
            let body = lease_of(&self.name, &self.scope, &holder, now, current);
            match rt.block_on(api.replace(&self.name, &PostParams::default(), &body)) {
                Ok(written) => {
                    if let Ok(mut v) = version.lock() {
                        *v = written.metadata.resource_version;
                    }
                    true
                }
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {
                    tracing::warn!(lease = %self.name, code = s.code, "the deploy lock Lease was taken over; no longer renewing it");
                    false
                }
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "renewing the deploy lock Lease failed; retrying");
                    true
                }
            }
        })
    }
}

impl LockGuard for KubeLease {
    fn release(mut self: Box<Self>) -> Result<()> {
        // Stopped first, so no renewal races the delete.
        if let Some(r) = self.renewer.take() {
            r.stop();
        }
        let version = self.resource_version.lock().map(|v| v.clone()).unwrap_or(None);
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: version,
                uid: None,
            }),
            ..Default::default()
        };
        let req = Request {
            verb: "delete",
            resource: RESOURCE,
            name: Some(&self.name),
            namespace: &self.namespace,
        };
        match self.rt.block_on(self.api.delete(&self.name, &params)) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::new(
                ErrorCode::TargetConflict,
                format!(
                    "the Lease {} changed since autosd took it (another run took it over); left in place",
                    self.name
                ),
            )),
            Err(e) => Err(api_error(&self.server, req, e)),
        }
    }
}

impl KubernetesTarget {
    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.conn.client.clone(), &self.settings.namespace)
    }

    fn lease_req<'a>(&'a self, verb: &'a str, name: &'a str) -> Request<'a> {
        Request {
            verb,
            resource: RESOURCE,
            name: Some(name),
            namespace: &self.settings.namespace,
        }
    }

    fn read_lease(&self, name: &str) -> Result<Option<Lease>> {
        self.conn
            .rt
            .block_on(self.leases().get_opt(name))
            .map_err(|e| api_error(&self.conn.server, self.lease_req("get", name), e))
    }

    /// The guard of the Lease `written` for `holder`, with its renewer started.
    fn guard(&self, name: String, scope: &Scope, holder: &LockHolder, written: Lease) -> Box<dyn LockGuard> {
        let version = Arc::new(Mutex::new(written.metadata.resource_version));
        let renewal = Renewal {
            config: self.conn.config.clone(),
            namespace: self.settings.namespace.clone(),
            name: name.clone(),
            scope: scope.clone(),
            holder: holder.clone(),
            duration: (holder.expires - holder.acquired).max(1),
            now: self.now,
        };
        let lease = Duration::from_secs(renewal.duration as u64);
        let renewer = {
            let version = Arc::clone(&version);
            Renewer::start(lease, move || renewal.open(version))
        };
        Box::new(KubeLease {
            rt: self.conn.rt.clone(),
            api: self.leases(),
            server: self.conn.server.clone(),
            namespace: self.settings.namespace.clone(),
            name,
            resource_version: version,
            renewer: Some(renewer),
        })
    }

    pub(super) fn acquire(
        &self,
        scope: &Scope,
        holder: &LockHolder,
        wait: Duration,
    ) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
        let name = lease_name(scope);
        let mut holder = holder.clone();
        if let Some(d) = self.settings.lease_duration {
            holder.expires = holder.acquired + d.as_secs() as i64;
        }
        let start = Instant::now();
        let host = target::this_host();
        let mut notes = Vec::new();
        let api = self.leases();
        loop {
            let body = lease_of(&name, scope, &holder, holder.acquired, None);
            match self.conn.rt.block_on(api.create(&PostParams::default(), &body)) {
                Ok(written) => return Ok((self.guard(name, scope, &holder, written), notes)),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(api_error(&self.conn.server, self.lease_req("create", &name), e)),
            }
            // It exists: live, stale, or released a moment ago.
            let Some(found) = self.read_lease(&name)? else {
                continue;
            };
            let current = holder_of(&found);
            if !current.is_stale((self.now)(), &host, target::pid_alive) {
                wait_for_holder(scope, &current, start.elapsed(), wait, Duration::from_millis(250))?;
                continue;
            }
            let takeover = lease_of(
                &name,
                scope,
                &holder,
                holder.acquired,
                found.metadata.resource_version.clone(),
            );
            match self
                .conn
                .rt
                .block_on(api.replace(&name, &PostParams::default(), &takeover))
            {
                Ok(written) => {
                    notes.push(format!(
                        "broke the stale deploy lock of {scope} held by {}",
                        current.describe()
                    ));
                    return Ok((self.guard(name, scope, &holder, written), notes));
                }
                // Someone else took it over (or released it) first: look again.
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
                Err(e) => return Err(api_error(&self.conn.server, self.lease_req("update", &name), e)),
            }
        }
    }

    pub(super) fn lease_holder(&self, scope: &Scope) -> Result<Option<LockHolder>> {
        Ok(self.read_lease(&lease_name(scope))?.as_ref().map(holder_of))
    }

    pub(super) fn break_lease(&self, scope: &Scope) -> Result<bool> {
        let name = lease_name(scope);
        match self
            .conn
            .rt
            .block_on(self.leases().delete(&name, &DeleteParams::default()))
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(api_error(&self.conn.server, self.lease_req("delete", &name), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> LockHolder {
        LockHolder {
            who: "user ann".into(),
            host: "ci-7".into(),
            pid: 42,
            operation: "deploy".into(),
            acquired: 1_800_000_000,
            expires: 1_800_000_900,
        }
    }

    #[test]
    fn a_lease_round_trips_its_holder() {
        let scope = Scope::new("Shop_App", "prod");
        assert_eq!(lease_name(&scope), "autosd-shop-app-prod");
        let lease = lease_of(
            &lease_name(&scope),
            &scope,
            &holder(),
            1_800_000_000,
            Some("7".into()),
        );
        let json = serde_json::to_value(&lease).expect("json");
        assert_eq!(json["spec"]["leaseDurationSeconds"], 900);
        assert_eq!(json["spec"]["acquireTime"], "2027-01-15T08:00:00.000000Z");
        assert_eq!(json["metadata"]["resourceVersion"], "7");
        assert_eq!(holder_of(&lease), holder());
    }

    #[test]
    fn a_foreign_lease_expires_by_its_spec() {
        let lease: Lease = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "autosd-shop-prod"},
            "spec": {"holderIdentity": "other-tool", "leaseDurationSeconds": 30,
                "acquireTime": "2027-01-15T08:00:00.000000Z", "renewTime": "2027-01-15T08:01:00.000000Z"}
        }))
        .expect("lease");
        let h = holder_of(&lease);
        assert_eq!(h.who, "other-tool");
        assert_eq!(h.expires, 1_800_000_090);
        assert!(h.is_stale(1_800_000_090, "here", |_| true));
    }
}
