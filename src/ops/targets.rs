//! The one place that knows every target kind: reads an environment's settings for the kind a
//! command named and opens that target. Use cases see only `dyn Target` and `Configured`.
use crate::config::Environment;
use crate::deploy::generic::GenericTarget;
use crate::deploy::health::GateSpec;
use crate::deploy::settings::{DEFAULT_KEEP, DockerSettings, GenericSettings, TargetKind};
use crate::deploy::target::Target;
use crate::docker::DockerTarget;
use crate::error::Result;
use crate::kubernetes::{KubernetesSettings, KubernetesTarget};
use crate::ops::live::ProjectSession;
use crate::registry::RegistryAuth;
use crate::swarm::{SwarmSettings, SwarmTarget};

/// An environment's target settings, validated for one kind.
#[derive(Debug, Clone)]
pub enum Configured {
    Docker(DockerSettings),
    Generic(GenericSettings),
    Kubernetes(KubernetesSettings),
    Swarm(SwarmSettings),
}

impl Configured {
    /// Validates the environment's `target:` settings as `kind`; every problem names its line.
    pub fn read(env: &Environment, kind: TargetKind) -> Result<Self> {
        let (target, name) = (&env.target, env.name.as_str());
        Ok(match kind {
            TargetKind::Docker => Configured::Docker(DockerSettings::from_target(target, name)?),
            TargetKind::GenericContainer => Configured::Generic(GenericSettings::from_target(target, name)?),
            TargetKind::Kubernetes => Configured::Kubernetes(KubernetesSettings::from_target(target, name)?),
            TargetKind::Swarm => Configured::Swarm(SwarmSettings::from_target(target, name)?),
        })
    }

    pub fn gate(&self) -> GateSpec {
        match self {
            Configured::Docker(s) => s.gate,
            Configured::Generic(s) => s.gate,
            Configured::Kubernetes(s) => s.gate,
            Configured::Swarm(s) => s.gate,
        }
    }

    /// Stopped releases kept for a fast rollback (targets that keep none use the default).
    pub fn keep(&self) -> usize {
        match self {
            Configured::Docker(s) => s.keep,
            Configured::Generic(_) | Configured::Kubernetes(_) | Configured::Swarm(_) => DEFAULT_KEEP,
        }
    }

    /// The image a deploy without `--image` uses.
    pub fn image(&self) -> Option<&str> {
        match self {
            Configured::Docker(s) => s.image.as_deref(),
            Configured::Generic(s) => s.image.as_deref(),
            Configured::Kubernetes(s) => s.image.as_deref(),
            Configured::Swarm(s) => s.image.as_deref(),
        }
    }

    /// Connects to the target these settings describe.
    pub fn open(&self, session: &ProjectSession) -> Result<Box<dyn Target>> {
        let now = crate::context::unix_now;
        let env = |name: &str| session.ctx.env.get(name).map(str::to_string);
        Ok(match self.clone() {
            Configured::Docker(s) => {
                Box::new(DockerTarget::connect(session.ctx.env.get("DOCKER_HOST"), s, now)?)
            }
            Configured::Swarm(s) => Box::new(SwarmTarget::connect(
                session.ctx.env.get("DOCKER_HOST"),
                s,
                RegistryAuth::load(&env)?,
                now,
            )?),
            Configured::Generic(settings) => Box::new(GenericTarget {
                settings,
                workdir: session.config.root.clone(),
                lock_dir: session.ctx.home.join("locks"),
                now,
            }),
            Configured::Kubernetes(s) => Box::new(KubernetesTarget::connect(
                s,
                &env,
                RegistryAuth::load(&env)?,
                now,
            )?),
        })
    }
}

/// Reads the settings of `kind` in `env` and opens the target.
pub fn open_target(session: &ProjectSession, env: &Environment, kind: TargetKind) -> Result<Box<dyn Target>> {
    Configured::read(env, kind)?.open(session)
}
