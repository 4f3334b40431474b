//! Target settings of one environment, from the project file's `environments.<env>.target`
//! mapping (`docker:` or `generic_container:`). Raw file-shaped structs are validated into
//! checked ones, collecting every problem rather than stopping at the first.
use crate::deploy::health::GateSpec;
use crate::error::{Error, ErrorCode, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Previous releases kept (stopped containers) so a rollback needs no pull.
pub const DEFAULT_KEEP: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Docker,
    GenericContainer,
}

impl TargetKind {
    pub fn parse(s: &str) -> Option<TargetKind> {
        match s {
            "docker" => Some(TargetKind::Docker),
            "generic_container" => Some(TargetKind::GenericContainer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Docker => "docker",
            TargetKind::GenericContainer => "generic_container",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    ready_timeout: Option<String>,
    stability_window: Option<String>,
    interval: Option<String>,
    http: Option<RawHttp>,
    /// docker only: also wait for the image's HEALTHCHECK (default true when it has one).
    engine: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// generic_container: the full `http://host:port/path` to probe.
    url: Option<String>,
    /// docker: the container port to probe (autosd finds the host port it is published on).
    port: Option<u16>,
    /// docker: the path to probe (default `/`).
    path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    /// The image deployed when `--image` is not given.
    image: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    command: Option<Vec<String>>,
    memory: Option<String>,
    cpus: Option<f64>,
    keep: Option<usize>,
    /// Run an init process as PID 1 (signals reach the app; `docker run --init`).
    init: Option<bool>,
    /// How long a stopped release gets to exit before it is killed.
    stop_timeout: Option<String>,
    #[serde(default)]
    health: RawHealth,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeneric {
    /// The image deployed when `--image` is not given.
    image: Option<String>,
    deploy: Vec<String>,
    status: Option<Vec<String>>,
    rollback: Option<Vec<String>>,
    restart: Option<Vec<String>>,
    timeout: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    health: RawHealth,
}

/// `[ip:]host:container[/tcp|/udp]`, Docker's short form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// An HTTP check of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpCheck {
    /// A container port and path; the host side is looked up per container.
    ContainerPort { port: u16, path: String },
    /// A fixed URL.
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DockerSettings {
    pub image: Option<String>,
    pub ports: Vec<PortMap>,
    pub env: BTreeMap<String, String>,
    pub command: Option<Vec<String>>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub keep: usize,
    pub init: bool,
    pub stop_timeout: Duration,
    pub gate: GateSpec,
    pub http: Option<HttpCheck>,
    /// Wait for the image's HEALTHCHECK too (ignored when the image has none).
    pub engine_health: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenericSettings {
    pub image: Option<String>,
    pub deploy: Vec<String>,
    pub status: Option<Vec<String>>,
    pub rollback: Option<Vec<String>>,
    pub restart: Option<Vec<String>>,
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
    pub gate: GateSpec,
    pub http: Option<String>,
}

fn problem(env: &str, line: u64, problems: Vec<String>) -> Error {
    let at = if line > 0 {
        format!(" (line {line})")
    } else {
        String::new()
    };
    Error::new(
        ErrorCode::TargetSettingsInvalid,
        format!(
            "target settings of environment `{env}`{at}: {}",
            problems.join("; ")
        ),
    )
    .hint("see the target settings documented in docs/targets.md")
}

/// The settings of `kind` in an environment's `target` mapping: either flat with a `kind:`
/// key (`{kind: docker, image: …, ports: […]}`, the documented form) or nested under the
/// kind's name (`{docker: {…}}`).
fn section(
    target: &BTreeMap<String, serde_json::Value>,
    kind: TargetKind,
    env: &str,
    line: u64,
) -> Result<serde_json::Value> {
    if let Some(declared) = target.get("kind") {
        if declared.as_str() != Some(kind.as_str()) {
            return Err(problem(
                env,
                line,
                vec![format!(
                    "the target kind is {declared}, not `{}`: pass --target to match",
                    kind.as_str()
                )],
            ));
        }
        let rest: serde_json::Map<String, serde_json::Value> = target
            .iter()
            .filter(|(k, _)| k.as_str() != "kind")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return Ok(serde_json::Value::Object(rest));
    }
    target.get(kind.as_str()).cloned().ok_or_else(|| {
        problem(
            env,
            line,
            vec![format!(
                "no `{}` target; add `kind: {}` and its settings under environments.{env}.target",
                kind.as_str(),
                kind.as_str()
            )],
        )
    })
}

fn duration(field: &str, raw: &Option<String>, default: Duration, problems: &mut Vec<String>) -> Duration {
    match raw {
        None => default,
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!(
                    "{field}: `{s}` is not a duration ({e}); write e.g. 30s or 500ms"
                ));
                default
            }
        },
    }
}

fn gate(raw: &RawHealth, problems: &mut Vec<String>) -> GateSpec {
    let d = GateSpec::default();
    let spec = GateSpec {
        ready_timeout: duration(
            "health.ready_timeout",
            &raw.ready_timeout,
            d.ready_timeout,
            problems,
        ),
        stability_window: duration(
            "health.stability_window",
            &raw.stability_window,
            d.stability_window,
            problems,
        ),
        interval: duration("health.interval", &raw.interval, d.interval, problems),
    };
    if spec.interval.is_zero() {
        problems.push("health.interval must be more than 0".into());
    }
    spec
}

fn env_names(env: &BTreeMap<String, String>, problems: &mut Vec<String>) {
    for name in env.keys() {
        let ok = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            problems.push(format!("env: `{name}` is not a valid variable name"));
        }
    }
}

pub fn parse_port(spec: &str) -> std::result::Result<PortMap, String> {
    let (main, protocol) = match spec.rsplit_once('/') {
        Some((m, p)) if p == "tcp" || p == "udp" => (m, p.to_string()),
        Some((_, p)) => return Err(format!("port `{spec}`: unknown protocol `{p}`")),
        None => (spec, "tcp".to_string()),
    };
    let parts: Vec<&str> = main.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [h, c] => ("0.0.0.0", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(format!("port `{spec}`: write [ip:]host:container")),
    };
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("port `{spec}`: `{ip}` is not an IPv4 address"));
    }
    let num = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
    match (num(host), num(container)) {
        (Some(host_port), Some(container_port)) => Ok(PortMap {
            host_ip: ip.to_string(),
            host_port,
            container_port,
            protocol,
        }),
        _ => Err(format!("port `{spec}`: ports are numbers from 1 to 65535")),
    }
}

/// `256m`, `1g`, `1048576` → bytes.
pub fn parse_memory(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        'b' => (&s[..s.len() - 1], 1),
        _ => (s.as_str(), 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
}

fn from_value<T: for<'de> Deserialize<'de>>(v: &serde_json::Value, problems: &mut Vec<String>) -> Option<T> {
    match T::deserialize(v) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}

impl DockerSettings {
    /// Validates the `docker:` section of an environment's `target` mapping.
    pub fn from_target(target: &BTreeMap<String, serde_json::Value>, env: &str, line: u64) -> Result<Self> {
        let value = section(target, TargetKind::Docker, env, line)?;
        let mut problems = Vec::new();
        let Some(raw) = from_value::<RawDocker>(&value, &mut problems) else {
            return Err(problem(env, line, problems));
        };
        let mut ports = Vec::new();
        for p in &raw.ports {
            match parse_port(p) {
                Ok(pm) => ports.push(pm),
                Err(e) => problems.push(e),
            }
        }
        env_names(&raw.env, &mut problems);
        if raw.command.as_ref().is_some_and(Vec::is_empty) {
            problems.push("command: give at least the program, or leave it out to use the image's".into());
        }
        let memory_bytes = raw.memory.as_ref().and_then(|m| {
            let b = parse_memory(m);
            if b.is_none() {
                problems.push(format!("memory: `{m}` is not a size like 256m or 1g"));
            }
            b
        });
        let nano_cpus = raw.cpus.and_then(|c| {
            if c.is_finite() && c > 0.0 && c <= 1024.0 {
                Some((c * 1e9) as i64)
            } else {
                problems.push(format!("cpus: `{c}` must be a positive number of CPUs"));
                None
            }
        });
        let keep = raw.keep.unwrap_or(DEFAULT_KEEP);
        let stop_timeout = duration(
            "stop_timeout",
            &raw.stop_timeout,
            Duration::from_secs(10),
            &mut problems,
        );
        let gate = gate(&raw.health, &mut problems);
        let http = match &raw.health.http {
            None => None,
            Some(RawHttp { url: Some(_), .. }) => {
                problems.push(
                    "health.http: docker probes name a container `port` and `path`, not a `url`".into(),
                );
                None
            }
            Some(RawHttp { port: None, .. }) => {
                problems.push("health.http.port: the container port to probe is required".into());
                None
            }
            Some(RawHttp {
                port: Some(port),
                path,
                ..
            }) => {
                let path = path.clone().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') {
                    problems.push(format!("health.http.path: `{path}` must start with /"));
                }
                if !ports.iter().any(|p| p.container_port == *port) {
                    problems.push(format!(
                        "health.http.port: container port {port} is not in `ports`"
                    ));
                }
                Some(HttpCheck::ContainerPort { port: *port, path })
            }
        };
        if !problems.is_empty() {
            return Err(problem(env, line, problems));
        }
        Ok(DockerSettings {
            image: raw.image,
            ports,
            env: raw.env,
            command: raw.command,
            memory_bytes,
            nano_cpus,
            keep,
            init: raw.init.unwrap_or(false),
            stop_timeout,
            gate,
            http,
            engine_health: raw.health.engine.unwrap_or(true),
        })
    }
}

impl GenericSettings {
    /// Validates the `generic_container:` section of an environment's `target` mapping.
    pub fn from_target(target: &BTreeMap<String, serde_json::Value>, env: &str, line: u64) -> Result<Self> {
        let value = section(target, TargetKind::GenericContainer, env, line)?;
        let mut problems = Vec::new();
        let Some(raw) = from_value::<RawGeneric>(&value, &mut problems) else {
            return Err(problem(env, line, problems));
        };
        for (name, argv) in [
            ("deploy", Some(&raw.deploy)),
            ("status", raw.status.as_ref()),
            ("rollback", raw.rollback.as_ref()),
            ("restart", raw.restart.as_ref()),
        ] {
            if argv.is_some_and(|a| a.is_empty() || a[0].is_empty()) {
                problems.push(format!(
                    "{name}: an argv array with the program first, e.g. [\"./deploy.sh\", \"--fast\"]"
                ));
            }
        }
        env_names(&raw.env, &mut problems);
        let timeout = duration("timeout", &raw.timeout, Duration::from_secs(300), &mut problems);
        let gate = gate(&raw.health, &mut problems);
        if raw.health.engine.is_some() {
            problems.push("health.engine: only the docker target reads the engine's health".into());
        }
        let http = match &raw.health.http {
            None => None,
            Some(RawHttp {
                url: Some(url),
                port: None,
                path: None,
            }) => {
                if crate::deploy::probe::HttpUrl::parse(url).is_err() {
                    problems.push(format!(
                        "health.http.url: `{url}` is not an http://host:port/path URL"
                    ));
                }
                Some(url.clone())
            }
            Some(_) => {
                problems.push("health.http: generic_container probes give a `url` only".into());
                None
            }
        };
        if !problems.is_empty() {
            return Err(problem(env, line, problems));
        }
        Ok(GenericSettings {
            image: raw.image,
            deploy: raw.deploy,
            status: raw.status,
            rollback: raw.rollback,
            restart: raw.restart,
            timeout,
            env: raw.env,
            gate,
            http,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(v: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        serde_json::from_value(v).expect("map")
    }

    #[test]
    fn docker_settings_validate() {
        let t = target(json!({"docker": {
            "ports": ["127.0.0.1:8080:80"], "env": {"MODE": "x"}, "memory": "64m", "cpus": 0.5,
            "health": {"http": {"port": 80, "path": "/health"}, "stability_window": "2s"}
        }}));
        let s = DockerSettings::from_target(&t, "staging", 3).expect("valid");
        assert_eq!(s.ports[0].host_port, 8080);
        assert_eq!(s.ports[0].host_ip, "127.0.0.1");
        assert_eq!(s.memory_bytes, Some(64 << 20));
        assert_eq!(s.nano_cpus, Some(500_000_000));
        assert_eq!(s.keep, DEFAULT_KEEP);
        assert_eq!(s.gate.stability_window, Duration::from_secs(2));
        assert_eq!(
            s.http,
            Some(HttpCheck::ContainerPort {
                port: 80,
                path: "/health".into()
            })
        );
    }

    #[test]
    fn docker_problems_are_all_collected() {
        let t = target(json!({"docker": {
            "ports": ["127.0.0.1:x:80", "1:2:3:4"], "env": {"1BAD": "x"}, "memory": "lots",
            "health": {"http": {"port": 81}, "interval": "soon"}
        }}));
        let e = DockerSettings::from_target(&t, "prod", 7).expect_err("invalid");
        assert_eq!(e.code, ErrorCode::TargetSettingsInvalid);
        for needle in [
            "line 7",
            "127.0.0.1:x:80",
            "1:2:3:4",
            "1BAD",
            "lots",
            "81",
            "soon",
        ] {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
    }

    #[test]
    fn unknown_keys_and_missing_sections_are_refused() {
        let e = DockerSettings::from_target(&target(json!({"docker": {"portz": []}})), "dev", 0)
            .expect_err("unknown");
        assert!(e.message.contains("portz"), "{}", e.message);
        let e = DockerSettings::from_target(&target(json!({})), "dev", 0).expect_err("missing");
        assert!(e.message.contains("no `docker` target"), "{}", e.message);
        let flat = target(json!({"kind": "docker", "image": "shop:v1", "ports": ["80:8080"]}));
        let s = DockerSettings::from_target(&flat, "dev", 0).expect("flat form");
        assert_eq!(s.image.as_deref(), Some("shop:v1"));
        let e = GenericSettings::from_target(&flat, "dev", 4).expect_err("other kind");
        assert!(
            e.message.contains("not `generic_container`") && e.message.contains("line 4"),
            "{}",
            e.message
        );
    }

    #[test]
    fn generic_settings_validate() {
        let t = target(json!({"generic_container": {
            "deploy": ["./deploy.sh"], "status": ["./status.sh"], "timeout": "30s",
            "health": {"http": {"url": "http://127.0.0.1:9000/health"}}
        }}));
        let s = GenericSettings::from_target(&t, "staging", 0).expect("valid");
        assert_eq!(s.deploy, vec!["./deploy.sh"]);
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.http.as_deref(), Some("http://127.0.0.1:9000/health"));
        let bad =
            target(json!({"generic_container": {"deploy": [], "health": {"http": {"url": "ftp://x"}}}}));
        let e = GenericSettings::from_target(&bad, "staging", 0).expect_err("invalid");
        assert!(
            e.message.contains("deploy:") && e.message.contains("ftp://x"),
            "{}",
            e.message
        );
    }

    #[test]
    fn ports_and_sizes_parse() {
        assert_eq!(
            parse_port("80:8080").map(|p| (p.host_ip, p.host_port, p.container_port)),
            Ok(("0.0.0.0".into(), 80, 8080))
        );
        assert_eq!(parse_port("53:53/udp").map(|p| p.protocol), Ok("udp".into()));
        assert!(parse_port("0:80").is_err());
        assert!(parse_port("80:80/sctp").is_err());
        assert_eq!(parse_memory("1g"), Some(1 << 30));
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(parse_memory("-1m"), None);
    }
}
