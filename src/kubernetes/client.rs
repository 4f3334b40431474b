//! Connecting to a cluster and reading its errors. The kubeconfig is found the way kubectl
//! finds it (the `kubeconfig` setting, else every file in `$KUBECONFIG`, else
//! `~/.kube/config`), else the pod's service account when autosd runs in-cluster. The
//! environment is read only through the caller's `env` (the session's context), never by
//! kube-rs itself. API errors become autosd errors that name what was refused.
use super::settings::KubernetesSettings;
use crate::error::{Error, ErrorCode, Result};
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use std::path::PathBuf;
use std::time::Duration;

/// Where a pod finds its service account.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The context name given to the in-cluster configuration.
const IN_CLUSTER: &str = "in-cluster";

/// A client and the facts error messages need.
pub struct Connection {
    pub rt: std::sync::Arc<tokio::runtime::Runtime>,
    pub client: kube::Client,
    /// What `client` was made from: a thread with a runtime of its own (the Lease renewer)
    /// makes its own client from it.
    pub config: kube::Config,
    /// The API server's URL and the context it came from, for messages.
    pub server: String,
}

/// Where the configuration came from, for messages.
enum Source {
    Files(Vec<PathBuf>),
    InCluster(String),
}

fn context_error(message: String) -> Error {
    Error::new(ErrorCode::KubeContextInvalid, message)
        .hint("set `kubeconfig:` / `context:` under the environment's target, or KUBECONFIG, to a kubeconfig with that context (`kubectl config get-contexts` lists them)")
}

/// The kubeconfig files to read, or the in-cluster server, per kubectl's rules.
fn source(settings: &KubernetesSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Source> {
    if let Some(path) = &settings.kubeconfig {
        return Ok(Source::Files(vec![path.clone()]));
    }
    if let Some(list) = env("KUBECONFIG").filter(|v| !v.is_empty()) {
        return Ok(Source::Files(
            list.split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
        ));
    }
    let home = env("HOME").map(|h| PathBuf::from(h).join(".kube/config"));
    if let Some(home) = home.as_ref().filter(|p| p.exists()) {
        return Ok(Source::Files(vec![home.clone()]));
    }
    if let Some(host) = env("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty()) {
        let port = env("KUBERNETES_SERVICE_PORT").unwrap_or_else(|| "443".into());
        // An IPv6 service address needs brackets in a URL.
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        return Ok(Source::InCluster(format!("https://{host}:{port}")));
    }
    Err(context_error(format!(
        "no kubeconfig: `kubeconfig` is not set, KUBECONFIG is empty, {} does not exist, and autosd does not run in a pod (KUBERNETES_SERVICE_HOST is not set)",
        home.map(|h| h.display().to_string())
            .unwrap_or_else(|| "~/.kube/config".into())
    )))
}

/// The kubeconfig of a pod: its service account's token and CA, refreshed by kube-rs as
/// the kubelet rotates them.
fn in_cluster(server: &str) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: IN_CLUSTER.into(),
            cluster: Some(Cluster {
                server: Some(server.to_string()),
                certificate_authority: Some(format!("{SERVICE_ACCOUNT}/ca.crt")),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: IN_CLUSTER.into(),
            auth_info: Some(AuthInfo {
                token_file: Some(format!("{SERVICE_ACCOUNT}/token")),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: IN_CLUSTER.into(),
            context: Some(Context {
                cluster: IN_CLUSTER.into(),
                user: Some(IN_CLUSTER.into()),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(IN_CLUSTER.into()),
        ..Default::default()
    }
}

fn read_files(paths: &[PathBuf]) -> Result<Kubeconfig> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        if !path.exists() {
            // kubectl skips missing entries of a KUBECONFIG list; a single named file must exist.
            if paths.len() > 1 {
                continue;
            }
            return Err(context_error(format!(
                "kubeconfig {} does not exist",
                path.display()
            )));
        }
        let config = Kubeconfig::read_from(path)
            .map_err(|e| context_error(format!("kubeconfig {} cannot be read: {e}", path.display())))?;
        merged = Some(match merged {
            None => config,
            Some(m) => m
                .merge(config)
                .map_err(|e| context_error(format!("kubeconfig {} cannot be merged: {e}", path.display())))?,
        });
    }
    merged.ok_or_else(|| context_error("none of the files in KUBECONFIG exists".into()))
}

/// Opens a client for the settings' cluster and context. Nothing is sent yet: an
/// unreachable server shows at the first request.
pub fn connect(settings: &KubernetesSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Connection> {
    let (kubeconfig, origin) = match source(settings, env)? {
        Source::Files(paths) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            (read_files(&paths)?, names.join(":"))
        }
        Source::InCluster(server) => (in_cluster(&server), "the pod's service account".into()),
    };
    let available: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
    let listed = if available.is_empty() {
        "it has no contexts at all".to_string()
    } else {
        format!("its contexts are: {}", available.join(", "))
    };
    let context = match settings
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
    {
        Some(c) => c,
        None => {
            return Err(context_error(format!(
                "kubeconfig {origin} has no current-context and the project file names no `context`; {listed}"
            )));
        }
    };
    if !available.contains(&context.as_str()) {
        return Err(context_error(format!(
            "kubeconfig {origin} has no context `{context}`; {listed}"
        )));
    }
    let rt = crate::deploy::target::current_thread_runtime()?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let client = rt.block_on(async {
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| context_error(format!("context `{context}` of kubeconfig {origin}: {e}")))?;
        // A cluster that does not answer should fail a deploy quickly, not after kube-rs's
        // default half minute.
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(60));
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config.clone())
            .map_err(|e| context_error(format!("context `{context}` of kubeconfig {origin}: {e}")))?;
        Ok::<_, Error>((client, config, server))
    })?;
    let (client, config, server) = client;
    Ok(Connection {
        rt: std::sync::Arc::new(rt),
        client,
        config,
        server: format!("{} (context {context})", server.trim_end_matches('/')),
    })
}

/// One API request, for error messages: `patch` `deployments.apps` `shop-staging` in `web`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub namespace: &'a str,
}

impl Request<'_> {
    fn describe(&self) -> String {
        match self.name {
            Some(n) => format!(
                "{} {} {n} in namespace {}",
                self.verb, self.resource, self.namespace
            ),
            None => format!("{} {} in namespace {}", self.verb, self.resource, self.namespace),
        }
    }
}

/// The field managers named in a server-side apply conflict (`conflict with "kubectl-edit"`).
pub fn conflicting_managers(status: &kube::core::Status) -> Vec<String> {
    let mut texts: Vec<&str> = vec![status.message.as_str()];
    if let Some(d) = &status.details {
        texts.extend(d.causes.iter().map(|c| c.message.as_str()));
    }
    let mut managers: Vec<String> = Vec::new();
    for text in texts {
        for part in text.split("conflict with \"").skip(1) {
            if let Some((name, _)) = part.split_once('"')
                && !managers.iter().any(|m| m == name)
            {
                managers.push(name.to_string());
            }
        }
    }
    managers
}

/// The fields of a conflict (`.spec.template.spec.containers[name="app"].image`).
fn conflicting_fields(status: &kube::core::Status) -> Vec<String> {
    status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .map(|c| c.field.clone())
        .filter(|f| !f.is_empty())
        .collect()
}

/// The identity the cluster refused (`User "system:serviceaccount:ci:autosd" cannot …`).
fn refused_user(message: &str) -> Option<&str> {
    message.split("User \"").nth(1)?.split('"').next()
}

/// A kube-rs error as an autosd error. `server` is the API server's URL.
pub fn api_error(server: &str, req: Request<'_>, e: kube::Error) -> Error {
    let what = req.describe();
    match e {
        kube::Error::Api(status) => match status.code {
            403 => {
                let who = refused_user(&status.message)
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default();
                Error::new(
                    ErrorCode::TargetForbidden,
                    format!(
                        "the cluster refused to let autosd{who} {what}: missing permission `{}` on `{}` in namespace `{}` (API server: {})",
                        req.verb, req.resource, req.namespace, status.message
                    ),
                )
                .hint(format!(
                    "grant it with a Role in namespace {} (docs/targets.md lists the minimal one), e.g. `kubectl create role autosd --verb={} --resource={} -n {}` and a RoleBinding",
                    req.namespace, req.verb, req.resource, req.namespace
                ))
            }
            404 => Error::new(
                ErrorCode::TargetObjectMissing,
                format!("{what}: not found ({})", status.message),
            )
            .hint("create the Deployment first (autosd only updates it), or set `deployment:` / `namespace:` in the project file"),
            409 => {
                let managers = conflicting_managers(&status);
                let fields = conflicting_fields(&status);
                let by = if managers.is_empty() {
                    "another writer".to_string()
                } else {
                    format!("field manager {}", managers.join(", "))
                };
                let on = if fields.is_empty() {
                    String::new()
                } else {
                    format!(" on {}", fields.join(", "))
                };
                Error::new(
                    ErrorCode::TargetConflict,
                    format!("{what}: conflict with {by}{on}; nothing was overwritten ({})", status.message),
                )
                .hint("another tool owns the field: stop managing the image there, or hand it over once with `kubectl apply --server-side --field-manager=autosd --force-conflicts`")
            }
            401 => context_error(format!(
                "{what}: the cluster did not accept the credentials ({})",
                status.message
            )),
            code => Error::new(
                ErrorCode::TargetFailed,
                format!("{what}: the API server answered {code} {}: {}", status.reason, status.message),
            ),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => Error::new(
            ErrorCode::ClusterUnreachable,
            format!("{what}: cannot reach the Kubernetes API server at {server}: {}", chain(&e)),
        )
        .hint("check the cluster is up and the kubeconfig's server address (`kubectl cluster-info`)"),
        kube::Error::Auth(_) | kube::Error::RustlsTls(_) | kube::Error::TlsRequired => context_error(format!(
            "{what}: cannot authenticate to {server}: {}",
            chain(&e)
        )),
        other => Error::new(
            ErrorCode::TargetFailed,
            format!("{what}: {}", chain(&other)),
        ),
    }
}

/// An error and its causes on one line (hyper's "connection refused" sits several deep).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::core::response::{StatusCause, StatusDetails};

    fn settings() -> KubernetesSettings {
        KubernetesSettings {
            image: None,
            namespace: "web".into(),
            deployment: None,
            container: None,
            context: None,
            kubeconfig: None,
            gate: Default::default(),
            lease_duration: None,
        }
    }

    const REQ: Request<'static> = Request {
        verb: "patch",
        resource: "deployments.apps",
        name: Some("shop-prod"),
        namespace: "web",
    };

    #[test]
    fn a_forbidden_request_names_the_permission() {
        let status = Status::failure(
            "deployments.apps \"shop-prod\" is forbidden: User \"system:serviceaccount:ci:autosd\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"web\"",
            "Forbidden",
        )
        .with_code(403);
        let e = api_error("https://k:6443", REQ, kube::Error::Api(status.boxed()));
        assert_eq!(e.code, ErrorCode::TargetForbidden);
        assert!(
            e.message
                .contains("missing permission `patch` on `deployments.apps` in namespace `web`")
                && e.message.contains("system:serviceaccount:ci:autosd"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_conflict_names_the_other_manager_and_field() {
        let status = Status::failure(
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"app\"].image",
            "Conflict",
        )
        .with_code(409)
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                reason: "FieldManagerConflict".into(),
                message: "conflict with \"kubectl-edit\" using apps/v1".into(),
                field: ".spec.template.spec.containers[name=\"app\"].image".into(),
            }],
            name: "shop-prod".into(),
            group: "apps".into(),
            kind: "deployments".into(),
            uid: String::new(),
            retry_after_seconds: 0,
        });
        assert_eq!(conflicting_managers(&status), vec!["kubectl-edit"]);
        let e = api_error("https://k:6443", REQ, kube::Error::Api(status.boxed()));
        assert_eq!(e.code, ErrorCode::TargetConflict);
        assert!(
            e.message
                .contains("field manager kubectl-edit on .spec.template.spec.containers[name=\"app\"].image"),
            "{}",
            e.message
        );
    }

    #[test]
    fn kubeconfig_lookup_follows_kubectl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().to_string_lossy().to_string();
        // Nothing anywhere, not in a pod.
        let e = source(&settings(), &|k| (k == "HOME").then(|| home.clone()))
            .err()
            .expect("nothing");
        assert_eq!(e.code, ErrorCode::KubeContextInvalid);
        assert!(e.message.contains(".kube/config does not exist"), "{}", e.message);
        // In a pod.
        let pod = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.0.0.1".to_string()),
            "KUBERNETES_SERVICE_PORT" => Some("6443".to_string()),
            _ => None,
        };
        assert!(
            matches!(source(&settings(), &pod), Ok(Source::InCluster(s)) if s == "https://10.0.0.1:6443")
        );
        let c = in_cluster("https://10.0.0.1:6443");
        assert_eq!(c.current_context.as_deref(), Some(IN_CLUSTER));
        // KUBECONFIG lists win over the pod, and name every file.
        let list = |k: &str| (k == "KUBECONFIG").then(|| "/a:/b".to_string());
        assert!(matches!(source(&settings(), &list), Ok(Source::Files(f)) if f.len() == 2));
    }

    #[test]
    fn a_missing_context_names_the_ones_that_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u}\n- name: prod\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
        )
        .expect("write");
        let mut s = settings();
        s.kubeconfig = Some(path.clone());
        s.context = Some("staging".into());
        let e = connect(&s, &|_| None).err().expect("no such context");
        assert_eq!(e.code, ErrorCode::KubeContextInvalid);
        assert!(
            e.message.contains("no context `staging`") && e.message.contains("dev, prod"),
            "{}",
            e.message
        );
        s.context = None;
        let c = connect(&s, &|_| None).expect("current-context");
        assert_eq!(c.server, "http://127.0.0.1:1 (context dev)");
        s.kubeconfig = Some(dir.path().join("absent"));
        let e = connect(&s, &|_| None).err().expect("missing file");
        assert!(e.message.contains("does not exist"), "{}", e.message);
    }
}
