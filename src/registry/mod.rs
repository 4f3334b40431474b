//! Container registries as the user already configured them for the Docker CLI: which
//! registry an image lives in, and the credentials to pull it with — a credential helper's,
//! else an `auths` entry's. The swarm target hands them to the engine (which hands them to
//! the nodes); the kubernetes target uses them to resolve a tag to its digest.
mod credential_helper;
mod docker_config;

pub use docker_config::{RegistryAuth, is_refusal, registry_of};

/// Credentials for one registry. No `Debug`: they only ever travel inside a `Secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The server address they are for, as the Docker CLI names it
    /// (`https://index.docker.io/v1/` for Docker Hub, else the registry host).
    pub server: String,
    pub login: Login,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Login {
    Password {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (a credential helper answering with the user `<token>`),
    /// traded at the registry's token service for a pull token.
    IdentityToken(String),
}
