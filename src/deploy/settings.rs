//! Target settings of one environment, from the project file's `environments.<env>.target`
//! mapping (`docker:` or `generic_container:`). Raw file-shaped structs are validated into
//! checked ones, collecting every problem rather than stopping at the first.
use crate::config::TargetSettings;
use crate::deploy::health::GateSpec;
use crate::error::{Error, ErrorCode, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The shortest lease of a cluster lock: renewed every second at that.
const MIN_LEASE: Duration = Duration::from_secs(3);

/// Previous releases kept (stopped containers) so a rollback needs no pull.
pub const DEFAULT_KEEP: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Docker,
    GenericContainer,
    Swarm,
    Kubernetes,
}

impl TargetKind {
    pub fn parse(s: &str) -> Option<TargetKind> {
        match s {
            "docker" => Some(TargetKind::Docker),
            "generic_container" => Some(TargetKind::GenericContainer),
            "swarm" => Some(TargetKind::Swarm),
            "kubernetes" => Some(TargetKind::Kubernetes),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Docker => "docker",
            TargetKind::GenericContainer => "generic_container",
            TargetKind::Swarm => "swarm",
            TargetKind::Kubernetes => "kubernetes",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub(crate) ready_timeout: Option<String>,
    pub(crate) stability_window: Option<String>,
    pub(crate) interval: Option<String>,
    pub(crate) http: Option<RawHttp>,
    /// docker only: also wait for the image's HEALTHCHECK (default true when it has one).
    pub(crate) engine: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
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

/// One kind's settings inside an environment's `target:` mapping, with where each key sits
/// in the project file. Validation collects every problem, each at the line of its key,
/// and `finish` reports them together.
pub struct Section<'a> {
    env: &'a str,
    target: &'a TargetSettings,
    /// Where this kind's keys start below `target:`: "" (flat form) or "docker." (nested).
    prefix: String,
    value: serde_json::Value,
    problems: Vec<(u64, String)>,
    /// `target.key_lines()`, read at the first problem.
    lines: std::cell::OnceCell<BTreeMap<String, u64>>,
}

impl<'a> Section<'a> {
    /// The settings of `kind` in an environment's `target` mapping: either flat with a
    /// `kind:` key (`{kind: docker, image: …}`, the documented form) or nested under the
    /// kind's name (`{docker: {…}}`).
    pub fn of(target: &'a TargetSettings, kind: TargetKind, env: &'a str) -> Result<Section<'a>> {
        let mut section = Section {
            env,
            target,
            prefix: String::new(),
            value: serde_json::Value::Null,
            problems: Vec::new(),
            lines: std::cell::OnceCell::new(),
        };
        let settings = &target.settings;
        if let Some(declared) = settings.get("kind") {
            if declared.as_str() != Some(kind.as_str()) {
                section.problem(
                    "kind",
                    format!(
                        "the target kind is {declared}, not `{}`: pass --target to match",
                        kind.as_str()
                    ),
                );
                return Err(section.error());
            }
            let rest: serde_json::Map<String, serde_json::Value> = settings
                .iter()
                .filter(|(k, _)| k.as_str() != "kind")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            section.value = serde_json::Value::Object(rest);
            return Ok(section);
        }
        match settings.get(kind.as_str()) {
            Some(v) => {
                section.value = v.clone();
                section.prefix = format!("{}.", kind.as_str());
                Ok(section)
            }
            None => {
                section.problem(
                    "",
                    format!(
                        "no `{}` target; add `kind: {}` and its settings under environments.{env}.target",
                        kind.as_str(),
                        kind.as_str()
                    ),
                );
                Err(section.error())
            }
        }
    }

    pub fn env(&self) -> &str {
        self.env
    }

    /// The line of `field` (a dotted path below the kind, e.g. `update.parallelism`): the
    /// key itself, else its nearest written parent, else the `target:` line.
    pub fn line(&self, field: &str) -> u64 {
        let lines = self.lines.get_or_init(|| self.target.key_lines());
        let mut path = format!("{}{field}", self.prefix);
        loop {
            if let Some(line) = lines.get(path.trim_end_matches('.')) {
                return *line;
            }
            match path.trim_end_matches('.').rsplit_once('.') {
                Some((parent, _)) => path = format!("{parent}."),
                None => return self.target.line,
            }
        }
    }

    /// Records a problem with `field` ("" for the section as a whole).
    pub fn problem(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        let text = if field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        };
        self.problems.push((self.line(field), text));
    }

    /// The section in its file shape `T`; a wrong key or type is a problem at its line.
    pub fn parse<T: for<'de> Deserialize<'de>>(&mut self) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(&self.value) {
            Ok(t) => Some(t),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                // The path ends at the offending key (an unknown one included).
                let field = if path == "." { String::new() } else { path };
                self.problem(&field, inner);
                None
            }
        }
    }

    /// A duration field (`30s`, `500ms`); `default` when absent or wrong.
    pub fn duration(&mut self, field: &str, raw: &Option<String>, default: Duration) -> Duration {
        match raw {
            None => default,
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.problem(
                        field,
                        format!("`{s}` is not a duration ({e}); write e.g. 30s or 500ms"),
                    );
                    default
                }
            },
        }
    }

    /// A cluster lock's `lease_duration` (renewed every third of it while held), None when
    /// absent or wrong.
    pub fn lease_duration(&mut self, raw: &Option<String>) -> Option<Duration> {
        raw.as_ref()?;
        let d = self.duration("lease_duration", raw, Duration::ZERO);
        if d < MIN_LEASE {
            self.problem(
                "lease_duration",
                format!(
                    "must be at least {} (autosd renews the lock every third of it)",
                    humantime::format_duration(MIN_LEASE)
                ),
            );
            return None;
        }
        Some(d)
    }

    /// A memory size field (`256m`, `1g`) in bytes; None when absent or wrong.
    pub fn memory(&mut self, field: &str, raw: &Option<String>) -> Option<i64> {
        let m = raw.as_ref()?;
        let bytes = parse_memory(m);
        if bytes.is_none() {
            self.problem(field, format!("`{m}` is not a size like 256m or 1g"));
        }
        bytes
    }

    /// A CPUs field (`0.5`) in nano-CPUs; None when absent or wrong.
    pub fn cpus(&mut self, field: &str, raw: Option<f64>) -> Option<i64> {
        let c = raw?;
        let n = nano_cpus(c);
        if n.is_none() {
            self.problem(field, format!("`{c}` must be a positive number of CPUs"));
        }
        n
    }

    /// The health gate's three times under `health.`.
    pub fn gate(
        &mut self,
        ready_timeout: &Option<String>,
        stability_window: &Option<String>,
        interval: &Option<String>,
    ) -> GateSpec {
        let d = GateSpec::default();
        let spec = GateSpec {
            ready_timeout: self.duration("health.ready_timeout", ready_timeout, d.ready_timeout),
            stability_window: self.duration("health.stability_window", stability_window, d.stability_window),
            interval: self.duration("health.interval", interval, d.interval),
        };
        if spec.interval.is_zero() {
            self.problem("health.interval", "must be more than 0");
        }
        spec
    }

    /// Environment variable names under `env:`.
    pub fn env_names(&mut self, env: &BTreeMap<String, String>) {
        for name in env.keys() {
            let ok = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                self.problem(
                    &format!("env.{name}"),
                    format!("`{name}` is not a valid variable name"),
                );
            }
        }
    }

    /// The port mappings under `ports:`; `refuse` names what this target cannot publish
    /// (a reason), after the syntax is checked. Each problem is at its item's line.
    pub fn ports(&mut self, raw: &[String], refuse: impl Fn(&PortMap) -> Option<String>) -> Vec<PortMap> {
        let mut ports = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            match parse_port(p).and_then(|pm| match refuse(&pm) {
                Some(why) => Err(format!("port `{p}`: {why}")),
                None => Ok(pm),
            }) {
                Ok(pm) => ports.push(pm),
                Err(e) => self.problem(&format!("ports.{i}"), e),
            }
        }
        ports
    }

    /// A `command:` override must name at least the program.
    pub fn command(&mut self, raw: &Option<Vec<String>>) {
        if raw.as_ref().is_some_and(Vec::is_empty) {
            self.problem(
                "command",
                "give at least the program, or leave it out to use the image's",
            );
        }
    }

    /// `settings` if no problem was found, else every problem, in line order, as one error.
    pub fn finish<T>(self, settings: T) -> Result<T> {
        if self.problems.is_empty() {
            Ok(settings)
        } else {
            Err(self.error())
        }
    }

    /// Every problem so far as one error (for a section that cannot be read at all).
    pub fn error(mut self) -> Error {
        self.problems.sort_by_key(|(line, _)| *line);
        let list: Vec<String> = self
            .problems
            .iter()
            .map(|(line, text)| format!("line {line}: {text}"))
            .collect();
        Error::new(
            ErrorCode::TargetSettingsInvalid,
            format!(
                "target settings of environment `{}`: {}",
                self.env,
                list.join("; ")
            ),
        )
        .hint("see the target settings documented in docs/targets.md")
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

impl DockerSettings {
    /// Validates the `docker` settings of an environment's `target` mapping.
    pub fn from_target(target: &TargetSettings, env: &str) -> Result<Self> {
        let mut s = Section::of(target, TargetKind::Docker, env)?;
        let Some(raw) = s.parse::<RawDocker>() else {
            return Err(s.error());
        };
        let ports = s.ports(&raw.ports, |_| None);
        s.env_names(&raw.env);
        s.command(&raw.command);
        let memory_bytes = s.memory("memory", &raw.memory);
        let nano_cpus = s.cpus("cpus", raw.cpus);
        let keep = raw.keep.unwrap_or(DEFAULT_KEEP);
        let stop_timeout = s.duration("stop_timeout", &raw.stop_timeout, Duration::from_secs(10));
        let h = &raw.health;
        let gate = s.gate(&h.ready_timeout, &h.stability_window, &h.interval);
        let http = match &h.http {
            None => None,
            Some(RawHttp { url: Some(_), .. }) => {
                s.problem(
                    "health.http.url",
                    "docker probes name a container `port` and `path`, not a `url`",
                );
                None
            }
            Some(RawHttp { port: None, .. }) => {
                s.problem("health.http", "`port`, the container port to probe, is required");
                None
            }
            Some(RawHttp {
                port: Some(port),
                path,
                ..
            }) => {
                let path = path.clone().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') {
                    s.problem("health.http.path", format!("`{path}` must start with /"));
                }
                if !ports.iter().any(|p| p.container_port == *port) {
                    s.problem(
                        "health.http.port",
                        format!("container port {port} is not in `ports`"),
                    );
                }
                Some(HttpCheck::ContainerPort { port: *port, path })
            }
        };
        s.finish(DockerSettings {
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

/// CPUs as Docker's nano-CPUs, if a sane positive number.
pub fn nano_cpus(cpus: f64) -> Option<i64> {
    (cpus.is_finite() && cpus > 0.0 && cpus <= 1024.0).then_some((cpus * 1e9) as i64)
}

impl GenericSettings {
    /// Validates the `generic_container` settings of an environment's `target` mapping.
    pub fn from_target(target: &TargetSettings, env: &str) -> Result<Self> {
        let mut s = Section::of(target, TargetKind::GenericContainer, env)?;
        let Some(raw) = s.parse::<RawGeneric>() else {
            return Err(s.error());
        };
        for (name, argv) in [
            ("deploy", Some(&raw.deploy)),
            ("status", raw.status.as_ref()),
            ("rollback", raw.rollback.as_ref()),
            ("restart", raw.restart.as_ref()),
        ] {
            if argv.is_some_and(|a| a.is_empty() || a[0].is_empty()) {
                s.problem(
                    name,
                    "an argv array with the program first, e.g. [\"./deploy.sh\", \"--fast\"]",
                );
            }
        }
        s.env_names(&raw.env);
        let timeout = s.duration("timeout", &raw.timeout, Duration::from_secs(300));
        let h = &raw.health;
        let gate = s.gate(&h.ready_timeout, &h.stability_window, &h.interval);
        if h.engine.is_some() {
            s.problem(
                "health.engine",
                "only the docker target reads the engine's health",
            );
        }
        let http = match &h.http {
            None => None,
            Some(RawHttp {
                url: Some(url),
                port: None,
                path: None,
            }) => {
                if crate::deploy::probe::HttpUrl::parse(url).is_err() {
                    s.problem(
                        "health.http.url",
                        format!("`{url}` is not an http://host:port/path URL"),
                    );
                }
                Some(url.clone())
            }
            Some(_) => {
                s.problem("health.http", "generic_container probes give a `url` only");
                None
            }
        };
        s.finish(GenericSettings {
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
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn target(v: serde_json::Value) -> TargetSettings {
        TargetSettings::from_json(v, 7)
    }

    #[test]
    fn docker_settings_validate() {
        let t = target(json!({"docker": {
            "ports": ["127.0.0.1:8080:80"], "env": {"MODE": "x"}, "memory": "64m", "cpus": 0.5,
            "health": {"http": {"port": 80, "path": "/health"}, "stability_window": "2s"}
        }}));
        let s = DockerSettings::from_target(&t, "staging").expect("valid");
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
        let e = DockerSettings::from_target(&t, "prod").expect_err("invalid");
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
        let e = DockerSettings::from_target(&target(json!({"docker": {"portz": []}})), "dev")
            .expect_err("unknown");
        assert!(e.message.contains("portz"), "{}", e.message);
        let e = DockerSettings::from_target(&target(json!({})), "dev").expect_err("missing");
        assert!(e.message.contains("no `docker` target"), "{}", e.message);
        let flat = target(json!({"kind": "docker", "image": "shop:v1", "ports": ["80:8080"]}));
        let s = DockerSettings::from_target(&flat, "dev").expect("flat form");
        assert_eq!(s.image.as_deref(), Some("shop:v1"));
        let e = GenericSettings::from_target(&flat, "dev").expect_err("other kind");
        assert!(
            e.message.contains("not `generic_container`") && e.message.contains("line 7"),
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
        let s = GenericSettings::from_target(&t, "staging").expect("valid");
        assert_eq!(s.deploy, vec!["./deploy.sh"]);
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.http.as_deref(), Some("http://127.0.0.1:9000/health"));
        let bad =
            target(json!({"generic_container": {"deploy": [], "health": {"http": {"url": "ftp://x"}}}}));
        let e = GenericSettings::from_target(&bad, "staging").expect_err("invalid");
        assert!(
            e.message.contains("deploy:") && e.message.contains("ftp://x"),
            "{}",
            e.message
        );
    }

    /// The `target:` of environment `staging` in a project file whose target mapping is `body`.
    pub(crate) fn from_file(body: &str) -> TargetSettings {
        let text = format!("version: 1\nproject: shop\nenvironments:\n  staging:\n    target:\n{body}");
        let config = crate::config::parse(&text, std::path::Path::new("c.yml"), std::path::Path::new("/"))
            .expect("project file");
        config.environment("staging").expect("env").target.clone()
    }

    #[test]
    fn problems_name_the_line_of_their_key() {
        let t = from_file(
            "      kind: docker\n      ports:\n        - \"80:80\"\n        - \"x:1\"\n      memory: lots\n      health:\n        interval: soon\n",
        );
        let e = DockerSettings::from_target(&t, "staging").expect_err("invalid");
        for needle in ["line 9: ports.1", "line 10: memory", "line 12: health.interval"] {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
        let t = from_file("      docker:\n        image: a\n        portz: 1\n");
        let e = DockerSettings::from_target(&t, "staging").expect_err("unknown key");
        assert!(
            e.message.contains("line 8: portz: unknown field"),
            "{}",
            e.message
        );
        let t = from_file("      docker:\n        keep: many\n");
        let e = DockerSettings::from_target(&t, "staging").expect_err("wrong type");
        assert!(e.message.contains("line 7: keep: invalid type"), "{}", e.message);
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
