//! Heal's view of a docker scope: which release container should be serving — the running
//! one, else the one started last (killed, crashed, OOM-killed) — and the evidence an
//! incident records: engine state, exit code, OOM kill, restart count, Docker health status
//! and the last health-check output, the HTTP probe's status, and when the failure began.
use super::{DockerTarget, Observation, spec, summary_name};
use crate::deploy::probe::{self, HttpUrl};
use crate::deploy::release::Scope;
use crate::deploy::settings::HttpCheck;
use crate::deploy::target::Diagnosis;
use crate::error::Result;
use crate::heal::incident::Evidence;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::InspectContainerOptions;
use spec::Role;
use std::time::Duration;

/// Unix seconds of an engine timestamp (`2026-11-27T11:14:22.123456789Z`); the zero time
/// the engine uses for "never" is None.
pub(crate) fn unix_of(ts: &str) -> Option<i64> {
    let secs = ts.get(..19)?;
    let t = humantime::parse_rfc3339(&format!("{secs}Z")).ok()?;
    let unix = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    (unix > 0).then_some(unix)
}

fn is_up(info: &ContainerInspectResponse) -> bool {
    info.state
        .as_ref()
        .is_some_and(|s| s.running == Some(true) || s.restarting == Some(true))
}

fn started_at(info: &ContainerInspectResponse) -> String {
    info.state
        .as_ref()
        .and_then(|s| s.started_at.clone())
        .unwrap_or_default()
}

/// Engine output is untrusted text: one line, bounded.
pub(crate) fn clip(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(300).collect()
}

impl DockerTarget {
    /// The release container that serves `scope` (or should): a running one (newest first),
    /// else the one started most recently. Retained releases were stopped earlier, so a
    /// killed serving container is always the last one started.
    pub(super) fn serving_unit(&self, scope: &Scope) -> Result<Option<(String, ContainerInspectResponse)>> {
        let mut best: Option<(String, ContainerInspectResponse)> = None;
        for c in self.list(scope, Some(Role::Release), true)? {
            let name = summary_name(&c);
            let info = match self.rt.block_on(
                self.docker
                    .inspect_container(&name, None::<InspectContainerOptions>),
            ) {
                Ok(i) => i,
                Err(e) if super::is_not_found(&e) => continue,
                Err(e) => return Err(self.err(&format!("inspect container {name}"), e)),
            };
            let better = match &best {
                None => true,
                Some((_, b)) if is_up(b) => false,
                Some((_, b)) => is_up(&info) || started_at(&info) > started_at(b),
            };
            if better {
                best = Some((name, info));
            }
        }
        Ok(best)
    }

    pub(super) fn diagnose_scope(&self, scope: &Scope) -> Result<Diagnosis> {
        let Some((name, info)) = self.serving_unit(scope)? else {
            return Ok(Diagnosis {
                healthy: false,
                detail: format!("no release container of {scope} exists"),
                release_id: None,
                evidence: Evidence {
                    state: Some("gone".into()),
                    ..Evidence::default()
                },
            });
        };
        let labels = info
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let release_id = labels.get(spec::LABEL_RELEASE).cloned();
        let digest = labels.get(spec::LABEL_DIGEST).cloned().unwrap_or_default();
        let state = info.state.clone().unwrap_or_default();
        let health = state.health.clone();
        let last_check = health
            .as_ref()
            .and_then(|h| h.log.as_ref())
            .and_then(|l| l.last())
            .and_then(|r| r.output.as_deref())
            .map(clip)
            .filter(|o| !o.is_empty());
        // The failure began at the exit, or at the first failed check of the current streak.
        let since = if is_up(&info) {
            health.as_ref().and_then(|h| h.log.as_ref()).and_then(|log| {
                log.iter()
                    .rev()
                    .take_while(|r| r.exit_code != Some(0))
                    .last()
                    .and_then(|r| r.start.as_deref())
                    .and_then(unix_of)
            })
        } else {
            state.finished_at.as_deref().and_then(unix_of)
        };
        let http_status = match &self.settings.http {
            Some(HttpCheck::ContainerPort { port, path }) if is_up(&info) => {
                let ports = info.network_settings.as_ref().and_then(|n| n.ports.as_ref());
                Some(match spec::published_port(ports, *port) {
                    Some(host_port) => {
                        let url = HttpUrl {
                            host: "127.0.0.1".into(),
                            port: host_port,
                            path: path.clone(),
                        };
                        probe::get_status(&url, Duration::from_secs(2)).unwrap_or(0)
                    }
                    None => 0,
                })
            }
            _ => None,
        };
        let evidence = Evidence {
            unit: Some(name.clone()),
            state: state.status.map(|s| s.to_string()),
            exit_code: (!is_up(&info)).then_some(state.exit_code).flatten(),
            oom_killed: state.oom_killed.filter(|o| *o),
            restart_count: info.restart_count.filter(|c| *c > 0),
            health_status: health.as_ref().and_then(|h| h.status).map(|s| s.to_string()),
            health_output: last_check,
            http_status,
            since,
        };
        let engine = self.settings.engine_health && self.image_has_healthcheck(&digest);
        let observed = self.observe(&name, engine, self.settings.http.is_some())?;
        let (healthy, detail) = match observed {
            Observation::Healthy => (true, format!("{name} is healthy")),
            Observation::NotReady(r) | Observation::Failed(r) => (false, r),
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

    #[test]
    fn engine_times_parse_and_zero_is_never() {
        assert_eq!(unix_of("1970-01-01T00:00:10.5Z"), Some(10));
        assert_eq!(unix_of("0001-01-01T00:00:00Z"), None);
        assert_eq!(unix_of("garbage"), None);
        assert_eq!(clip("a\n b\tc"), "a b c");
    }
}
