//! The kubernetes target, black-box through the CLI, against a mock of the Kubernetes API
//! server (no API server can run on these machines). The mock keeps Deployments (one per
//! environment, by name) and Leases the way the API server does (generations,
//! resourceVersions, 409 on a taken name or a stale version) and replays realistic responses,
//! including roll-outs that progress over several GETs and one that never becomes available;
//! every test then asserts the exact requests autosd sent (method, path, field manager,
//! content type, patch and Lease bodies).
use crate::common::{DockerConfig, Out, autosd, create_grant_json};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{any, method, path, query_param};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const EXIT_DEPLOY_FAILED: i32 = 40;
const EXIT_LOCK_HELD: i32 = 45;
const EXIT_PROMOTE_REFUSED: i32 = 48;
const STAGING: &str = "shop-staging";
const PROD: &str = "shop-prod";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/web/deployments";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/web/deployments/shop-staging";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/web/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/web/leases/autosd-shop-staging";
const LEASE_NAME: &str = "autosd-shop-staging";
const PODS: &str = "/api/v1/namespaces/web/pods";

fn image(c: char) -> String {
    format!("registry.test/shop@sha256:{}", c.to_string().repeat(64))
}

fn status(code: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    }))
}

/// One Deployment the mock holds: its template and how far its roll-out has come.
struct Deployment {
    /// The value of its `app` label, which its selector matches.
    app: String,
    image: String,
    release: Option<String>,
    paused: bool,
    generation: i64,
    /// GETs of the Deployment since its template last changed: the roll-out advances by them.
    looks: u32,
    restarted_at: Option<String>,
    /// Pods crash-loop until a restart bumps the template.
    crashing: bool,
    /// Answer the Deployment's PATCH with a field-manager conflict.
    conflict: bool,
}

impl Deployment {
    fn new(app: &str) -> Deployment {
        Deployment {
            app: app.into(),
            image: "registry.test/shop:manual".into(),
            release: None,
            paused: false,
            generation: 1,
            looks: 5,
            restarted_at: None,
            crashing: false,
            conflict: false,
        }
    }

    /// The object as the API server returns it; `broken`: its image's pods never become ready.
    fn json(&self, name: &str, version: u64, broken: bool) -> Value {
        let (observed, total, updated, ready, stuck) = if self.looks == 0 {
            // The controller has not seen the new template yet.
            (self.generation - 1, 2, 2, 2, false)
        } else if broken {
            (self.generation, 3, 1, 2, self.looks >= 3)
        } else if self.looks == 1 {
            (self.generation, 3, 1, 2, false)
        } else {
            (self.generation, 2, 2, 2, false)
        };
        let progressing = if stuck {
            json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": format!("ReplicaSet \"{name}-7d9\" has timed out progressing.")})
        } else {
            json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                "message": format!("ReplicaSet \"{name}-7d9\" has successfully progressed.")})
        };
        let mut annotations = serde_json::Map::new();
        if let Some(r) = &self.release {
            annotations.insert("autosd.io/release".into(), json!(r));
        }
        if let Some(at) = &self.restarted_at {
            annotations.insert("kubectl.kubernetes.io/restartedAt".into(), json!(at));
        }
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "web", "generation": self.generation,
                "resourceVersion": version.to_string(), "uid": format!("5f1c0b8e-{name}")},
            "spec": {
                "replicas": 2, "progressDeadlineSeconds": 600, "paused": self.paused,
                "selector": {"matchLabels": {"app": self.app}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": self.app}, "annotations": annotations},
                    "spec": {"containers": [{"name": "app", "image": self.image,
                        "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}}}]}
                }
            },
            "status": {
                "observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
                "readyReplicas": ready, "availableReplicas": ready, "conditions": [progressing]
            }
        })
    }

    /// Its pod; `flapping`: its image's container keeps restarting.
    fn pod(&self, name: &str, flapping: bool) -> Value {
        let container = if flapping {
            json!({"name": "app", "ready": true, "restartCount": 2, "image": self.image, "imageID": "",
                "state": {"running": {"startedAt": "2026-11-27T10:05:00Z"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-27T10:04:59Z"}}})
        } else if self.crashing && self.restarted_at.is_none() {
            json!({"name": "app", "ready": false, "restartCount": 6, "image": self.image, "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"}},
                "lastState": {"terminated": {"exitCode": 3, "reason": "Error", "finishedAt": "2026-11-27T10:00:00Z"}}})
        } else {
            json!({"name": "app", "ready": true, "restartCount": 0, "image": self.image, "imageID": "",
                "state": {"running": {"startedAt": "2026-11-27T10:05:00Z"}}})
        };
        json!({
            "metadata": {"name": format!("{name}-7d9-x1"), "namespace": "web", "labels": {"app": self.app},
                "annotations": {"autosd.io/release": self.release}},
            "spec": {"containers": [{"name": "app", "image": self.image}]},
            "status": {"phase": "Running", "containerStatuses": [container]}
        })
    }

    fn apply(&mut self, body: &Value) {
        let template = &body["spec"]["template"];
        let image = template["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let release = template["metadata"]["annotations"]["autosd.io/release"]
            .as_str()
            .map(str::to_string);
        let paused = body["spec"]["paused"].as_bool().unwrap_or(false);
        if image != self.image || release != self.release || paused != self.paused {
            self.generation += 1;
            self.looks = 0;
        }
        (self.image, self.release, self.paused) = (image, release, paused);
    }

    /// A `kubectl rollout restart`: the restart annotation bumps the template.
    fn restart(&mut self, body: &Value) {
        self.restarted_at =
            body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
                .as_str()
                .map(str::to_string);
        self.generation += 1;
        self.looks = 0;
    }
}

/// What the mock API server holds.
struct Cluster {
    /// The Deployments of namespace `web` by name: `shop-staging` and `shop-prod`.
    deployments: BTreeMap<String, Deployment>,
    /// Images whose pods never become ready (the progress deadline passes after 3 looks).
    broken: Vec<String>,
    /// Images whose pods become available but whose container keeps restarting.
    flapping: Vec<String>,
    /// The Leases of namespace `web` by name, each carrying its resourceVersion.
    leases: BTreeMap<String, Value>,
    /// The cluster's resourceVersion counter (one for every object, like etcd's revision).
    version: u64,
    /// Refuse every request for this resource (`deployments`, `leases`) with 403.
    forbidden: Option<&'static str>,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            deployments: BTreeMap::from([
                (STAGING.to_string(), Deployment::new("shop")),
                (PROD.to_string(), Deployment::new("shop-prod")),
            ]),
            broken: vec![],
            flapping: vec![],
            leases: BTreeMap::new(),
            version: 100,
            forbidden: None,
        }
    }

    /// Deployment `name`, for a test to set up or inspect.
    fn get(&mut self, name: &str) -> &mut Deployment {
        self.deployments
            .get_mut(name)
            .expect("a deployment the mock holds")
    }

    fn deployment_response(
        &mut self,
        method: &str,
        name: &str,
        req: &wiremock::Request,
        body: &Value,
    ) -> ResponseTemplate {
        let (version, broken) = (self.version, self.broken.clone());
        let Some(d) = self.deployments.get_mut(name) else {
            return status(404, "NotFound", &format!("deployments.apps \"{name}\" not found"));
        };
        match method {
            "GET" => {
                let json = d.json(name, version, broken.contains(&d.image));
                d.looks += 1;
                ResponseTemplate::new(200).set_body_json(json)
            }
            "PATCH" if d.conflict => ResponseTemplate::new(409).set_body_json(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Conflict", "code": 409,
                "message": "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.template.spec.containers[name=\"app\"].image",
                "details": {"causes": [{"type": "FieldManagerConflict",
                    "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                    "field": ".spec.template.spec.containers[name=\"app\"].image"}]}
            })),
            "PATCH" => {
                if header(req, "content-type") == "application/strategic-merge-patch+json" {
                    d.restart(body);
                } else {
                    d.apply(body);
                }
                self.version += 1;
                let d = &self.deployments[name];
                ResponseTemplate::new(200).set_body_json(d.json(name, self.version, broken.contains(&d.image)))
            }
            _ => status(405, "MethodNotAllowed", "method not allowed"),
        }
    }

    /// The pods of every Deployment whose `app` label the request's selector names.
    fn pods(&self, req: &wiremock::Request) -> Value {
        let selector = query(req)
            .into_iter()
            .find(|(k, _)| k == "labelSelector")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let items: Vec<Value> = self
            .deployments
            .iter()
            .filter(|(_, d)| selector == format!("app={}", d.app))
            .map(|(name, d)| d.pod(name, self.flapping.contains(&d.image)))
            .collect();
        json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items})
    }

    /// `name`: the Lease in the path, or for a create the one in the body.
    fn lease_response(&mut self, method: &str, name: &str, body: &Value) -> ResponseTemplate {
        let current_version = self
            .leases
            .get(name)
            .map(|l| l["metadata"]["resourceVersion"].clone());
        let missing = || {
            status(
                404,
                "NotFound",
                &format!("leases.coordination.k8s.io \"{name}\" not found"),
            )
        };
        match method {
            "GET" => match self.leases.get(name) {
                Some(l) => ResponseTemplate::new(200).set_body_json(l),
                None => missing(),
            },
            "POST" if current_version.is_some() => status(
                409,
                "AlreadyExists",
                &format!("leases.coordination.k8s.io \"{name}\" already exists"),
            ),
            "POST" | "PUT" => {
                if method == "PUT" && current_version != Some(body["metadata"]["resourceVersion"].clone()) {
                    return status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                        ),
                    );
                }
                self.version += 1;
                let mut stored = body.clone();
                stored["metadata"]["resourceVersion"] = json!(self.version.to_string());
                stored["metadata"]["namespace"] = json!("web");
                self.leases.insert(name.to_string(), stored.clone());
                ResponseTemplate::new(if method == "POST" { 201 } else { 200 }).set_body_json(stored)
            }
            "DELETE" => {
                let wanted = &body["preconditions"]["resourceVersion"];
                if current_version.is_none() {
                    missing()
                } else if !wanted.is_null() && current_version.as_ref() != Some(wanted) {
                    status(
                        409,
                        "Conflict",
                        "Precondition failed: ResourceVersion in precondition does not match",
                    )
                } else {
                    self.leases.remove(name);
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
                }
            }
            _ => status(405, "MethodNotAllowed", "method not allowed"),
        }
    }
}

#[derive(Clone)]
struct Fake(Arc<Mutex<Cluster>>);

impl Respond for Fake {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let mut c = self.0.lock().expect("cluster");
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let method = req.method.as_str();
        let p = req.url.path();
        let named = |prefix: &str| p.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('/'));
        if let Some(r) = c.forbidden.filter(|r| p.contains(&format!("/{r}"))) {
            let (verb, group) = match (method, p.starts_with(LEASES)) {
                ("POST", true) => ("create", "coordination.k8s.io"),
                (_, true) => ("get", "coordination.k8s.io"),
                (_, false) => ("get", "apps"),
            };
            return status(
                403,
                "Forbidden",
                &format!(
                    "{r}.{group} \"shop-staging\" is forbidden: User \"system:serviceaccount:ci:autosd\" cannot {verb} resource \"{r}\" in API group \"{group}\" in the namespace \"web\""
                ),
            );
        }
        if let Some(name) = named(DEPLOYMENTS) {
            return c.deployment_response(method, name, req, &body);
        }
        if let Some(name) = named(LEASES) {
            return c.lease_response(method, name, &body);
        }
        match (method, p) {
            ("POST", LEASES) => {
                let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
                c.lease_response(method, &name, &body)
            }
            ("GET", PODS) => ResponseTemplate::new(200).set_body_json(c.pods(req)),
            (m, p) => status(
                404,
                "NotFound",
                &format!("the server could not find the requested resource ({m} {p})"),
            ),
        }
    }
}

/// A project `shop` whose staging and prod run on the mock cluster, and a kubeconfig pointing there.
struct Site {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    server: MockServer,
    cluster: Arc<Mutex<Cluster>>,
}

impl Site {
    fn new(cluster: Cluster, target_extra: &str) -> Site {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(MockServer::start());
        let cluster = Arc::new(Mutex::new(cluster));
        rt.block_on(
            Mock::given(any())
                .respond_with(Fake(cluster.clone()))
                .mount(&server),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let site = Site {
            dir,
            rt,
            server,
            cluster,
        };
        fs::create_dir_all(site.path("repo/.autosd")).expect("mkdir");
        fs::create_dir_all(site.path("home")).expect("mkdir");
        site.kubeconfig(&site.server.uri());
        site.project(target_extra);
        site
    }

    /// A site whose cluster `change` set up.
    fn with(change: impl FnOnce(&mut Cluster)) -> Site {
        let mut cluster = Cluster::new();
        change(&mut cluster);
        Site::new(cluster, "")
    }

    /// A deploy of `image` that fails with `code`, its message naming every one of `needles`.
    #[track_caller]
    fn deploy_fails(&self, image: &str, code: i32, needles: &[&str]) -> Out {
        let out = self.deploy(image, &[], code);
        for needle in needles {
            assert!(out.stderr.contains(needle), "{needle} in {}", out.stderr);
        }
        out
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A mock registry, and its host, that answers every request no test mock takes with a
    /// 401 whose challenge names its token service (`/token`) and the pull scope of
    /// `team/shop`.
    fn registry(&self) -> (MockServer, String) {
        let registry = self.rt.block_on(MockServer::start());
        let host = registry.address().to_string();
        let challenge = format!(
            "Bearer realm=\"http://{host}/token\",service=\"mock-registry\",scope=\"repository:team/shop:pull\""
        );
        self.rt.block_on(
            Mock::given(any())
                .respond_with(
                    ResponseTemplate::new(401).insert_header("www-authenticate", challenge.as_str()),
                )
                .with_priority(5)
                .mount(&registry),
        );
        (registry, host)
    }

    /// The Docker CLI config autosd resolves tags with (empty unless a test writes one).
    fn docker(&self) -> DockerConfig {
        DockerConfig::new(self.path("docker"))
    }

    /// Neither `secret` nor anything under autosd's home shows `secret`.
    #[track_caller]
    fn assert_never_shown(&self, out: &Out, secret: &str) {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} shown: {}\n{}",
            out.stdout,
            out.stderr
        );
        for entry in crate::preauth::all_files(&self.path("home")) {
            let text = fs::read(&entry).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&text).contains(secret),
                "{secret} in {}",
                entry.display()
            );
        }
    }

    fn kubeconfig(&self, server: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: mock\nclusters:\n- name: mock\n  cluster:\n    server: {server}\ncontexts:\n- name: mock\n  context:\n    cluster: mock\n    user: ci\n    namespace: web\n- name: other\n  context:\n    cluster: mock\n    user: ci\nusers:\n- name: ci\n  user:\n    token: kube-test-token\n"
        );
        fs::write(self.path("kubeconfig"), text).expect("kubeconfig");
    }

    /// Staging (with `target_extra` in its target) and prod, each on its own Deployment.
    fn project(&self, target_extra: &str) {
        let env = |name: &str, extra: &str| {
            format!(
                "  {name}:\n    target:\n      kind: kubernetes\n      namespace: web\n{extra}      health:\n        ready_timeout: 10s\n        stability_window: 200ms\n        interval: 50ms\n"
            )
        };
        let text = format!(
            "version: 1\nproject: shop\nenvironments:\n{}{}",
            env("staging", target_extra),
            env("prod", "")
        );
        fs::write(self.path("repo/.autosd/config.yml"), text).expect("config");
    }

    #[track_caller]
    fn run(&self, args: &[&str], code: i32) -> Out {
        let kubeconfig = self.path("kubeconfig");
        let mut cmd = autosd(&self.path("home"));
        cmd.current_dir(self.path("repo"))
            .env("KUBECONFIG", &kubeconfig)
            .env("DOCKER_CONFIG", &self.docker().dir)
            .env("PATH", self.docker().search_path())
            .args(args)
            .timeout(Duration::from_secs(60));
        Out::expect(&mut cmd, args, code)
    }

    #[track_caller]
    fn deploy(&self, image: &str, extra: &[&str], code: i32) -> Out {
        let mut args = vec!["--image", image];
        args.extend_from_slice(extra);
        self.on_staging(&["deploy"], &args, code)
    }

    /// `autosd <command> --project shop --env staging --target kubernetes <extra>`.
    #[track_caller]
    fn on_staging(&self, command: &[&str], extra: &[&str], code: i32) -> Out {
        let mut args = command.to_vec();
        args.extend(["--project", "shop", "--env", "staging", "--target", "kubernetes"]);
        args.extend_from_slice(extra);
        self.run(&args, code)
    }

    /// Every request the mock saw, in order.
    fn requests(&self) -> Vec<wiremock::Request> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }

    /// `METHOD path` of every request, for order assertions and failure messages.
    fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }

    /// The bodies of the server-side applies to staging's Deployment.
    fn applies(&self) -> Vec<Value> {
        self.applies_to(STAGING)
    }

    /// The bodies of the server-side applies to Deployment `name`, in order; each one's
    /// request is checked to be an apply by autosd's field manager that forces nothing.
    fn applies_to(&self, name: &str) -> Vec<Value> {
        let path = format!("{DEPLOYMENTS}/{name}");
        self.requests()
            .iter()
            .filter(|r| r.method.as_str() == "PATCH" && r.url.path() == path)
            .filter(|r| header(r, "content-type") == "application/apply-patch+yaml")
            .map(|r| {
                assert_eq!(query(r), by_autosd(), "{}", r.url);
                assert_eq!(header(r, "authorization"), "Bearer kube-test-token");
                serde_json::from_slice(&r.body).expect("apply body is JSON (valid YAML)")
            })
            .collect()
    }

    fn releases(&self) -> Vec<Value> {
        self.releases_of("staging")
    }

    /// Whether the cluster holds Lease `name` (a lock not released).
    fn holds_lease(&self, name: &str) -> bool {
        self.cluster.lock().expect("cluster").leases.contains_key(name)
    }

    /// Every incident of the project, open or not.
    fn incidents(&self) -> Vec<Value> {
        let out = self.run(&["incidents", "list", "--status", "all", "--output", "json"], 0);
        out.json()["incidents"].as_array().expect("incidents").clone()
    }

    /// A grant that lets a deploy into production through (`--auto-deploy-prod`).
    fn prod_grant(&self) -> String {
        if !self.path("home/trust").exists() {
            self.run(&["preauth", "init-keys"], 0);
        }
        let flags = ["--expires-in-hours", "1", "--auto-deploy-prod"];
        self.run(&create_grant_json("shop", &flags), 0).json()["grant_id"]
            .as_str()
            .expect("grant id")
            .to_string()
    }

    /// `autosd promote --from staging --to prod --target kubernetes`, granted and confirmed.
    #[track_caller]
    fn promote_to_prod(&self, code: i32) -> Out {
        let grant = self.prod_grant();
        let mut args = vec!["promote", "--project", "shop", "--target", "kubernetes"];
        args.extend(["--from", "staging", "--to", "prod", "--preauth-grant", &grant]);
        args.extend(["--force", "--output", "json"]);
        self.run(&args, code)
    }

    /// The ledger of environment `env`, oldest first.
    fn releases_of(&self, env: &str) -> Vec<Value> {
        let out = self.run(
            &["releases", "--project", "shop", "--env", env, "--output", "json"],
            0,
        );
        out.json()["releases"].as_array().expect("releases").clone()
    }
}

/// The query parameters of a request (kube-rs writes `?&fieldManager=…`; the empty pair is
/// not a parameter).
fn query(r: &wiremock::Request) -> Vec<(String, String)> {
    r.url
        .query_pairs()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The query of every autosd patch: its field manager, and no `force`.
fn by_autosd() -> Vec<(String, String)> {
    vec![("fieldManager".to_string(), "autosd".to_string())]
}

fn header(r: &wiremock::Request, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The exact apply patch for `image` and `release` to staging's Deployment.
fn patch(image: &str, release: &str, paused: bool) -> Value {
    patch_of(STAGING, image, release, paused)
}

/// The exact apply patch for `image` and `release` to Deployment `name`.
fn patch_of(name: &str, image: &str, release: &str, paused: bool) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "web"},
        "spec": {"paused": paused, "template": {
            "metadata": {"annotations": {"autosd.io/release": release}},
            "spec": {"containers": [{"name": "app", "image": image}]}
        }}
    })
}

#[test]
fn deploy_applies_the_digest_waits_for_the_rollout_and_records_healthy() {
    let site = Site::new(Cluster::new(), "");
    let good = image('a');
    let tagged = format!("registry.test/shop:v1@sha256:{}", "a".repeat(64));
    let doc = site.deploy(&tagged, &["--output", "json"], 0).json();
    assert_eq!(doc["status"], "healthy", "{doc}");
    assert_eq!(doc["release"]["digest"], good.as_str());
    let id = doc["release"]["id"].as_str().expect("id").to_string();
    assert_eq!(site.applies(), vec![patch(&good, &id, false)]);
    // Lock, read, apply, watch until rolled out and stable, unlock: in that order.
    let calls = site.calls();
    assert_eq!(calls[0], format!("POST {LEASES}"), "{calls:?}");
    assert_eq!(calls[1], format!("GET {DEPLOYMENT}"), "{calls:?}");
    assert_eq!(calls[2], format!("PATCH {DEPLOYMENT}"), "{calls:?}");
    // The gate: the Deployment until rolled out, then it and the release's pods each look.
    let (deployment, pods) = (format!("GET {DEPLOYMENT}"), format!("GET {PODS}"));
    assert!(
        calls[3..calls.len() - 1]
            .iter()
            .all(|c| c == &deployment || c == &pods),
        "{calls:?}"
    );
    let first_pods = calls.iter().position(|c| c == &pods).expect("pods looked at");
    assert!(
        calls[first_pods - 1] == deployment && calls[first_pods - 2] == deployment,
        "pods are looked at only once rolled out: {calls:?}"
    );
    assert!(
        calls.len() >= 3 + 4,
        "the gate watched the roll-out over several GETs: {calls:?}"
    );
    assert_eq!(calls.last(), Some(&format!("DELETE {LEASE}")));
    // The Lease autosd created names its holder; the delete is conditional on its version.
    let requests = site.requests();
    let lease: Value = serde_json::from_slice(&requests[0].body).expect("lease body");
    assert_eq!(lease["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(lease["metadata"]["name"], "autosd-shop-staging");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| h.contains("deploy")),
        "{lease}"
    );
    assert!(
        lease["spec"]["leaseDurationSeconds"]
            .as_i64()
            .is_some_and(|s| s > 0),
        "{lease}"
    );
    assert!(
        lease["spec"]["acquireTime"].is_string() && lease["spec"]["renewTime"].is_string(),
        "{lease}"
    );
    let holder: Value = serde_json::from_str(
        lease["metadata"]["annotations"]["autosd.io/lock-holder"]
            .as_str()
            .expect("holder"),
    )
    .expect("json");
    assert_eq!(holder["operation"], "deploy");
    let delete: Value =
        serde_json::from_slice(&requests.last().expect("delete").body).expect("delete options");
    assert_eq!(delete["preconditions"]["resourceVersion"], "101", "{delete}");
    assert!(!site.holds_lease(LEASE_NAME), "the lock is released");

    let releases = site.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["verdict"], "healthy");
    assert_eq!(releases[0]["digest"], good.as_str());
    // The audit trail has the same shape as for the docker target.
    let audit = fs::read_to_string(site.path("home/audit.log.jsonl")).expect("audit");
    assert!(
        audit.contains("\"op\":\"deploy\"") && audit.contains("\"phase\":\"outcome\""),
        "{audit}"
    );
    site.run(&["audit", "verify"], 0);
}

#[test]
fn a_rollout_past_its_progress_deadline_is_reverted_to_the_known_good_template() {
    let mut cluster = Cluster::new();
    let (good, bad) = (image('a'), image('b'));
    cluster.broken.push(bad.clone());
    let site = Site::new(cluster, "");
    let first = site.deploy(&good, &["--output", "json"], 0).json();
    let good_id = first["release"]["id"].as_str().expect("id").to_string();
    let out = site.deploy(&bad, &[], EXIT_DEPLOY_FAILED);
    assert!(
        out.stderr.contains("AUTOSD-DEPLOY-FAILED") && out.stderr.contains("still serving"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("progress deadline"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );

    let releases = site.releases();
    let bad_id = releases[1]["id"].as_str().expect("id").to_string();
    assert_eq!(releases[1]["verdict"], "failed");
    assert_eq!(releases[0]["verdict"], "healthy");
    // Three applies: the good release, the bad one, and the bad one reverted to the
    // known-good digest the ledger recorded (never a `rollout undo`).
    assert_eq!(
        site.applies(),
        vec![
            patch(&good, &good_id, false),
            patch(&bad, &bad_id, false),
            patch(&good, &good_id, false)
        ]
    );
    let mut c = site.cluster.lock().expect("cluster");
    let d = c.get(STAGING);
    assert_eq!(
        (d.image.as_str(), d.release.as_deref()),
        (good.as_str(), Some(good_id.as_str()))
    );
    drop(c);
    let incidents = fs::read_to_string(site.path("home/state/incidents/shop.jsonl")).expect("incident");
    assert!(incidents.contains("\"source\":\"deploy_gate\""), "{incidents}");

    // A manual rollback is the same roll-out of the known-good digest.
    let third = site.deploy(&image('c'), &["--output", "json"], 0).json();
    assert_eq!(third["status"], "healthy");
    let out = site.on_staging(&["rollback"], &["--force", "--output", "json"], 0);
    let rollback = out.json();
    assert_eq!(rollback["release"]["digest"], good.as_str(), "{rollback}");
    let last = site.applies().pop().expect("apply");
    assert_eq!(
        last,
        patch(&good, rollback["release"]["id"].as_str().expect("id"), false)
    );
}

#[test]
fn a_release_whose_containers_restart_fails_the_gate_although_available() {
    let (good, flapping) = (image('a'), image('f'));
    let site = Site::with(|c| c.flapping.push(image('f')));
    let first = site.deploy(&good, &["--output", "json"], 0).json();
    let good_id = first["release"]["id"].as_str().expect("id").to_string();
    let out = site.deploy(&flapping, &[], EXIT_DEPLOY_FAILED);
    assert!(
        out.stdout
            .contains("container app: running, restarted 2 time(s), last exit code 137"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(site.applies().pop(), Some(patch(&good, &good_id, false)));
    // The gate listed the release's pods by the Deployment's selector.
    let listed = site
        .requests()
        .into_iter()
        .find(|r| r.url.path() == PODS)
        .expect("a pod list");
    assert_eq!(
        query(&listed),
        vec![("labelSelector".to_string(), "app=shop".to_string())]
    );
}

#[test]
fn a_failed_first_release_with_nothing_known_good_is_paused() {
    let mut cluster = Cluster::new();
    let bad = image('b');
    cluster.broken.push(bad.clone());
    let site = Site::new(cluster, "");
    site.deploy(&bad, &[], EXIT_DEPLOY_FAILED);
    let applies = site.applies();
    assert_eq!(applies.len(), 2, "{applies:?}");
    let id = applies[0]["spec"]["template"]["metadata"]["annotations"]["autosd.io/release"].clone();
    assert_eq!(applies[1], patch(&bad, id.as_str().expect("id"), true));
    assert!(site.cluster.lock().expect("cluster").get(STAGING).paused);
    assert_eq!(site.releases()[0]["verdict"], "failed");
    // The next deploy unpauses it with its own apply.
    let doc = site.deploy(&image('a'), &["--output", "json"], 0).json();
    let id = doc["release"]["id"].as_str().expect("id");
    assert_eq!(site.applies().pop(), Some(patch(&image('a'), id, false)));
    assert!(!site.cluster.lock().expect("cluster").get(STAGING).paused);
}

#[test]
fn a_live_lease_blocks_and_an_expired_one_is_taken_over_by_version() {
    let mut cluster = Cluster::new();
    let holder = json!({"who": "user bob", "host": "bobs-laptop", "pid": 4242, "operation": "deploy",
        "acquired": 1_700_000_000, "expires": 4_000_000_000i64});
    cluster.leases.insert(LEASE_NAME.into(), json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "autosd-shop-staging", "namespace": "web", "resourceVersion": "77",
            "annotations": {"autosd.io/lock-holder": holder.to_string()}},
        "spec": {"holderIdentity": "user bob (deploy on bobs-laptop, pid 4242)", "leaseDurationSeconds": 900,
            "acquireTime": "2023-11-14T22:13:20.000000Z", "renewTime": "2023-11-14T22:13:20.000000Z"}
    }));
    let site = Site::new(cluster, "");
    let out = site.deploy(&image('a'), &[], EXIT_LOCK_HELD);
    assert!(
        out.stderr.contains("AUTOSD-LOCK-HELD")
            && out.stderr.contains("user bob (deploy on bobs-laptop, pid 4242)"),
        "{}",
        out.stderr
    );
    assert!(
        site.applies().is_empty(),
        "nothing applied under someone else's lock"
    );
    let show = site.on_staging(&["lock", "show"], &[], 0);
    assert!(show.stdout.contains("user bob"), "{}", show.stdout);

    // The same Lease, expired: taken over with an update that carries the version read.
    let expired = json!({"who": "user bob", "host": "bobs-laptop", "pid": 4242, "operation": "deploy",
        "acquired": 1_700_000_000, "expires": 1_700_000_900});
    site.cluster
        .lock()
        .expect("cluster")
        .leases
        .get_mut(LEASE_NAME)
        .expect("lease")["metadata"]["annotations"]["autosd.io/lock-holder"] = json!(expired.to_string());
    let before = site.requests().len();
    let out = site.deploy(&image('a'), &[], 0);
    assert!(
        out.stdout.contains("broke the stale deploy lock")
            || out.stderr.contains("broke the stale deploy lock"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let requests = site.requests();
    let lease_calls: Vec<String> = requests[before..]
        .iter()
        .filter(|r| r.url.path().starts_with(LEASES))
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        lease_calls,
        vec![
            format!("POST {LEASES}"),
            format!("GET {LEASE}"),
            format!("PUT {LEASE}"),
            format!("DELETE {LEASE}")
        ]
    );
    let put = requests[before..]
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .expect("put");
    let body: Value = serde_json::from_slice(&put.body).expect("json");
    assert_eq!(
        body["metadata"]["resourceVersion"], "77",
        "the takeover is conditional on the version read"
    );
    assert!(
        body["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| !h.contains("bob")),
        "{body}"
    );

    // `lock break` deletes whatever Lease there is, unconditionally.
    site.cluster.lock().expect("cluster").leases.insert(LEASE_NAME.into(), json!({
        "metadata": {"name": "autosd-shop-staging", "resourceVersion": "900"}, "spec": {"holderIdentity": "someone"}
    }));
    let out = site.on_staging(&["lock", "break"], &["--force"], 0);
    assert!(!site.holds_lease(LEASE_NAME), "{}", out.stdout);
    let last = site.requests().pop().expect("delete");
    assert_eq!((last.method.as_str(), last.url.path()), ("DELETE", LEASE));
}

#[test]
fn the_lease_is_renewed_while_a_rollout_outlasts_it_and_released_at_its_last_version() {
    let site = Site::new(Cluster::new(), "      lease_duration: 3s\n");
    // A 3 s Lease renewed every second, under a gate that takes longer than the Lease.
    let config = site.path("repo/.autosd/config.yml");
    let text = fs::read_to_string(&config).expect("config");
    fs::write(
        &config,
        text.replacen("stability_window: 200ms", "stability_window: 4s", 1),
    )
    .expect("config");
    site.deploy(&image('a'), &[], 0);
    let calls: Vec<(String, Value)> = site
        .requests()
        .iter()
        .filter(|r| r.url.path().starts_with(LEASES))
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.method.to_string(), body)
        })
        .collect();
    let methods: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods.first(), Some(&"POST"), "{methods:?}");
    assert_eq!(methods.last(), Some(&"DELETE"), "{methods:?}");
    let renewals: Vec<&Value> = calls.iter().filter(|(m, _)| m == "PUT").map(|(_, b)| b).collect();
    assert!(
        renewals.len() >= 2,
        "renewed every second of a 4 s gate: {methods:?}"
    );
    let mut last_renewed = String::new();
    for body in &renewals {
        let spec = &body["spec"];
        assert_eq!(spec["leaseDurationSeconds"], 3, "{body}");
        assert_eq!(spec["acquireTime"], calls[0].1["spec"]["acquireTime"], "{body}");
        let renewed = spec["renewTime"].as_str().expect("renewTime").to_string();
        assert!(
            renewed > last_renewed,
            "renewTime moves on: {renewed} after {last_renewed}"
        );
        last_renewed = renewed;
        let holder: Value = serde_json::from_str(
            body["metadata"]["annotations"]["autosd.io/lock-holder"]
                .as_str()
                .expect("holder"),
        )
        .expect("holder json");
        assert!(
            holder["expires"].as_i64()
                > calls[0].1["metadata"]["annotations"]["autosd.io/lock-holder"]
                    .as_str()
                    .and_then(|h| serde_json::from_str::<Value>(h).ok())
                    .and_then(|h| h["expires"].as_i64()),
            "the expiry moves on: {holder}"
        );
    }
    // Every renewal carried the version the previous write returned (the mock refuses any
    // other with 409), and so did the delete: the Lease is gone.
    assert!(!site.holds_lease(LEASE_NAME));
}

#[test]
fn a_field_manager_conflict_is_reported_and_nothing_is_forced() {
    let site = Site::with(|c| c.get(STAGING).conflict = true);
    site.deploy_fails(
        &image('a'),
        55,
        &[
            "AUTOSD-TARGET-CONFLICT",
            "field manager kubectl-client-side-apply on .spec.template.spec.containers[name=\"app\"].image",
        ],
    );
    let patches: Vec<Vec<(String, String)>> = site
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(query)
        .collect();
    assert_eq!(patches, vec![by_autosd()], "one apply, never with force=true");
    assert!(
        !site.holds_lease(LEASE_NAME),
        "the lock is released after the error"
    );
}

#[test]
fn dry_run_prints_the_apply_patch_and_changes_nothing() {
    let site = Site::new(Cluster::new(), "");
    let out = site.deploy(&image('a'), &["--dry-run"], 0);
    assert!(
        out.stdout
            .contains("server-side apply patch that would be applied"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&image('a')) && out.stdout.contains("autosd.io/release"),
        "{}",
        out.stdout
    );
    let doc = site
        .deploy(&image('a'), &["--dry-run", "--output", "json"], 0)
        .json();
    let id = doc["plan"]["release"]["id"].as_str().expect("id");
    assert_eq!(doc["change"], patch(&image('a'), id, false), "{doc}");
    assert!(
        site.calls().iter().all(|c| c.starts_with("GET ")),
        "{:?}",
        site.calls()
    );
    // Neither a digest nor a tag: refused before anything is sent, with how to pass a digest.
    site.deploy_fails(
        "registry.test/shop:not a tag",
        58,
        &["AUTOSD-IMAGE-NOT-PINNED", "repo@sha256"],
    );
}

#[test]
fn a_tag_is_resolved_at_its_registry_with_an_anonymous_token() {
    let site = Site::with(|_| {});
    let (registry, host) = site.registry();
    let digest = format!("sha256:{}", "d".repeat(64));
    site.rt.block_on(async {
        Mock::given(method("GET"))
            .and(path("/v2/team/shop/manifests/v1"))
            .and(wiremock::matchers::header("authorization", "Bearer anon-token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("docker-content-digest", digest.as_str())
                    .insert_header("content-type", "application/vnd.oci.image.index.v1+json")
                    .set_body_string("{\"schemaVersion\":2,\"manifests\":[]}"),
            )
            .with_priority(1)
            .mount(&registry)
            .await;
        Mock::given(method("GET"))
            .and(path("/token"))
            .and(query_param("service", "mock-registry"))
            .and(query_param("scope", "repository:team/shop:pull"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "anon-token"})))
            .with_priority(1)
            .mount(&registry)
            .await;
        Mock::given(method("GET"))
            .and(wiremock::matchers::header("authorization", "Bearer anon-token"))
            .respond_with(status(404, "NotFound", "manifest unknown"))
            .with_priority(2)
            .mount(&registry)
            .await;
    });
    let pinned = format!("{host}/team/shop@{digest}");
    let doc = site
        .deploy(&format!("{host}/team/shop:v1"), &["--output", "json"], 0)
        .json();
    assert_eq!(doc["release"]["digest"], pinned.as_str(), "{doc}");
    assert_eq!(doc["release"]["image"], format!("{host}/team/shop:v1"));
    let id = doc["release"]["id"].as_str().expect("id");
    assert_eq!(site.applies(), vec![patch(&pinned, id, false)]);
    // Anonymous first, then the token the challenge names, then the manifest with it.
    let seen: Vec<(String, String, String)> = site
        .rt
        .block_on(registry.received_requests())
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r.url.path().to_string(),
                header(r, "authorization"),
                header(r, "accept"),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str()),
        ("/v2/team/shop/manifests/v1", "")
    );
    assert!(
        seen[0].2.starts_with("application/vnd.oci.image.index.v1+json"),
        "{seen:?}"
    );
    assert_eq!(seen[1].0, "/token");
    assert_eq!(seen[2].1, "Bearer anon-token");

    // A tag the registry does not have.
    site.deploy_fails(
        &format!("{host}/team/shop:gone"),
        42,
        &["AUTOSD-IMAGE-NOT-FOUND", "no tag `gone`"],
    );
}

#[test]
fn a_private_tag_is_resolved_with_the_docker_configs_credentials() {
    use base64::Engine as _;
    let site = Site::with(|_| {});
    let (registry, host) = site.registry();
    let digest = format!("sha256:{}", "e".repeat(64));
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci:pw-k8s-never-shown")
    );
    site.rt.block_on(async {
        for token in ["password-token", "oauth-token"] {
            Mock::given(method("GET"))
                .and(path("/v2/team/shop/manifests/v1"))
                .and(wiremock::matchers::header(
                    "authorization",
                    format!("Bearer {token}"),
                ))
                .respond_with(
                    ResponseTemplate::new(200).insert_header("docker-content-digest", digest.as_str()),
                )
                .with_priority(1)
                .mount(&registry)
                .await;
        }
        // A password goes as Basic on the token GET.
        Mock::given(method("GET"))
            .and(path("/token"))
            .and(query_param("scope", "repository:team/shop:pull"))
            .and(wiremock::matchers::header("authorization", basic.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "password-token"})))
            .with_priority(1)
            .mount(&registry)
            .await;
        // An identity token is traded by POST, OAuth2 style.
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(wiremock::matchers::header(
                "content-type",
                "application/x-www-form-urlencoded",
            ))
            .and(wiremock::matchers::body_string_contains(
                "grant_type=refresh_token",
            ))
            .and(wiremock::matchers::body_string_contains(
                "refresh_token=refresh-never-shown",
            ))
            .and(wiremock::matchers::body_string_contains(
                "scope=repository%3Ateam%2Fshop%3Apull",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "oauth-token"})))
            .with_priority(1)
            .mount(&registry)
            .await;
    });
    let image = format!("{host}/team/shop:v1");
    let pinned = format!("{host}/team/shop@{digest}");

    // No credentials: the token service refuses, and the hint says where autosd looked.
    let out = site.deploy_fails(&image, 58, &["AUTOSD-IMAGE-NOT-PINNED", "anonymous"]);
    assert!(
        out.stderr.contains(&format!("docker login {host}")),
        "{}",
        out.stderr
    );

    // `docker login` without a helper: the `auths` entry.
    let docker = site.docker();
    docker.write(json!({"auths": {&host: {"auth": base64::engine::general_purpose::STANDARD.encode("ci:pw-k8s-never-shown")}}}));
    let out = site.deploy(&image, &["--output", "json"], 0);
    assert_eq!(out.json()["release"]["digest"], pinned.as_str());
    site.assert_never_shown(&out, "pw-k8s-never-shown");

    // A credential helper answering with an identity token.
    docker.helper("oauth", &host, "<token>", "refresh-never-shown");
    docker.write(json!({"credHelpers": {&host: "oauth"}}));
    let out = site.deploy(&image, &["--output", "json"], 0);
    assert_eq!(out.json()["release"]["digest"], pinned.as_str());
    site.assert_never_shown(&out, "refresh-never-shown");
    let tokens: Vec<String> = site
        .rt
        .block_on(registry.received_requests())
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/token")
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(
        tokens,
        ["GET", "GET", "POST"],
        "anonymous, password, identity token"
    );
}

/// A tag in a real registry that demands a password (ci/docker_env.sh starts Debian's
/// `docker-registry` behind htpasswd, exported as AUTOSD_TEST_AUTH_REGISTRY): its Basic
/// challenge is answered with the Docker config's `auths` entry.
#[test]
fn a_tag_in_a_real_password_protected_registry_is_resolved_with_basic_auth() {
    use base64::Engine as _;
    let Some(registry) = crate::common::auth_registry() else {
        return;
    };
    const PASSWORD: &str = "pw-never-shown-7f3a";
    let site = Site::with(|_| {});
    let image = format!("{registry}/autosd-test/web:v1");
    let out = site.deploy_fails(&image, 58, &["asks for a password", "no credentials"]);
    assert!(
        out.stderr.contains(&format!("docker login {registry}")),
        "{}",
        out.stderr
    );
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("autosd-test:{PASSWORD}"));
    site.docker()
        .write(json!({"auths": {&registry: {"auth": &auth}}}));
    let out = site.deploy(&image, &["--output", "json"], 0);
    let doc = out.json();
    let digest = doc["release"]["digest"].as_str().expect("digest").to_string();
    let id = doc["release"]["id"].as_str().expect("id");
    site.assert_never_shown(&out, PASSWORD);
    site.assert_never_shown(&out, &auth);
    assert_eq!(site.applies().last(), Some(&patch(&digest, id, false)));
    // The registry itself serves the manifest by the digest autosd pinned.
    let (_, hash) = digest.split_once('@').expect("pinned");
    let status = registry_status(
        &registry,
        &format!("/v2/autosd-test/web/manifests/{hash}"),
        &format!("Basic {auth}"),
    );
    assert_eq!(status, 200, "{digest}");
}

/// The status of an authorized HEAD at a loopback registry.
fn registry_status(registry: &str, path: &str, authorization: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(registry).expect("registry");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(
        s,
        "HEAD {path} HTTP/1.0\r\nHost: {registry}\r\nAuthorization: {authorization}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn heal_restarts_a_crash_looping_deployment_with_the_restart_annotation() {
    let site = Site::with(|_| {});
    site.deploy(&image('a'), &[], 0);
    site.cluster.lock().expect("cluster").get(STAGING).crashing = true;
    let out = site.run(&["heal", "--project", "shop", "--target", "kubernetes"], 0);
    let restart = site
        .requests()
        .into_iter()
        .find(|r| {
            r.method.as_str() == "PATCH"
                && header(r, "content-type") == "application/strategic-merge-patch+json"
        })
        .expect("a restart patch");
    let body: Value = serde_json::from_slice(&restart.body).expect("json");
    let at = body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .expect("restartedAt");
    assert!(at.ends_with('Z') && at.len() == 20, "{at}");
    assert_eq!(query(&restart), by_autosd());
    let text = json!(site.incidents()).to_string();
    assert!(
        text.contains("CrashLoopBackOff") && text.contains("pod/shop-staging-7d9-x1"),
        "{text}\n{}",
        out.stdout
    );
}

#[test]
fn cluster_errors_are_clear_and_name_what_is_missing() {
    // Unreachable: a kubeconfig pointing at a port nobody listens on.
    let site = Site::with(|_| {});
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    site.kubeconfig(&format!("http://127.0.0.1:{port}"));
    let at = format!("http://127.0.0.1:{port} (context mock)");
    site.deploy_fails(&image('a'), 51, &["AUTOSD-CLUSTER-UNREACHABLE", &at]);

    // A context the kubeconfig does not have: the ones it has are named.
    let site = Site::new(Cluster::new(), "      context: staging\n");
    site.deploy_fails(
        &image('a'),
        52,
        &[
            "AUTOSD-KUBE-CONTEXT-INVALID",
            "no context `staging`",
            "mock, other",
        ],
    );
    assert!(site.requests().is_empty());

    // No Deployment of that name.
    let site = Site::with(|c| {
        c.deployments.remove(STAGING);
    });
    site.deploy_fails(
        &image('a'),
        53,
        &[
            "AUTOSD-TARGET-OBJECT-MISSING",
            "deployments.apps shop-staging in namespace web",
        ],
    );

    // RBAC: the refused verb, resource and namespace are named, and who was refused.
    let site = Site::with(|c| c.forbidden = Some("deployments"));
    site.deploy_fails(
        &image('a'),
        54,
        &[
            "AUTOSD-TARGET-FORBIDDEN",
            "missing permission `get` on `deployments.apps` in namespace `web`",
            "system:serviceaccount:ci:autosd",
        ],
    );
    let site = Site::with(|c| c.forbidden = Some("leases"));
    site.deploy_fails(
        &image('a'),
        54,
        &[
            "AUTOSD-TARGET-FORBIDDEN",
            "missing permission `create` on `leases.coordination.k8s.io` in namespace `web`",
        ],
    );
    assert!(site.applies().is_empty());
}

#[test]
fn settings_problems_name_their_line() {
    let site = Site::new(Cluster::new(), "      replicas: 3\n      lease_duration: 1s\n");
    let out = site.deploy(&image('a'), &[], 44);
    assert!(
        out.stderr.contains("line 8: replicas: unknown field"),
        "{}",
        out.stderr
    );
    site.project("      deployment: Shop_Web\n      lease_duration: 1s\n");
    let out = site.deploy(&image('a'), &[], 44);
    assert!(
        out.stderr.contains("line 8: deployment") && out.stderr.contains("line 9: lease_duration"),
        "{}",
        out.stderr
    );
    assert!(site.requests().is_empty());
}

#[test]
fn promote_rolls_the_staging_digest_into_the_prod_deployment() {
    let (good, bad) = (image('a'), image('b'));
    let site = Site::with(|c| c.broken.push(image('b')));
    let staged = site.deploy(&good, &["--output", "json"], 0).json();
    assert_eq!(staged["release"]["digest"], good.as_str(), "{staged}");

    let doc = site.promote_to_prod(0).json();
    assert_eq!(doc["status"], "healthy", "{doc}");
    assert_eq!(doc["release"]["digest"], good.as_str(), "{doc}");
    let id = doc["release"]["id"].as_str().expect("id").to_string();
    // One apply to prod's Deployment (by autosd's field manager, never forced: checked by
    // `applies_to`) carrying exactly staging's digest; staging's own Deployment untouched.
    assert_eq!(site.applies_to(PROD), vec![patch_of(PROD, &good, &id, false)]);
    assert_eq!(site.applies().len(), 1, "only staging's own deploy applied there");
    let prod = site.releases_of("prod");
    assert_eq!(prod.len(), 1, "{prod:?}");
    assert_eq!(
        (
            &prod[0]["id"],
            &prod[0]["digest"],
            &prod[0]["verdict"],
            &prod[0]["origin"]["kind"]
        ),
        (&json!(id), &json!(good), &json!("healthy"), &json!("promote")),
        "{prod:?}"
    );
    // Prod was locked under its own Lease, released afterwards.
    let prod_lease = format!("{LEASES}/autosd-shop-prod");
    assert!(
        site.calls().contains(&format!("DELETE {prod_lease}")),
        "{:?}",
        site.calls()
    );
    assert!(!site.holds_lease("autosd-shop-prod"));
    assert_eq!(site.cluster.lock().expect("cluster").get(PROD).image, good);

    // Staging's latest release fails its gate: promoting from it is refused before prod's
    // Deployment is touched, and prod's ledger gains nothing.
    site.deploy(&bad, &[], EXIT_DEPLOY_FAILED);
    assert_eq!(site.releases()[1]["verdict"], "failed");
    let before = site.requests().len();
    let out = site.promote_to_prod(EXIT_PROMOTE_REFUSED);
    assert!(out.stderr.contains("AUTOSD-PROMOTE-REFUSED"), "{}", out.stderr);
    let prod_path = format!("{DEPLOYMENTS}/{PROD}");
    let sent: Vec<String> = site.calls()[before..].to_vec();
    assert!(
        !sent.iter().any(|c| c == &format!("PATCH {prod_path}")),
        "{sent:?}"
    );
    assert_eq!(site.applies_to(PROD).len(), 1);
    assert_eq!(site.releases_of("prod").len(), 1);
}

#[test]
fn heal_leaves_a_healthy_deployment_alone() {
    let site = Site::with(|_| {});
    site.deploy(&image('a'), &[], 0);
    let generation = site.cluster.lock().expect("cluster").get(STAGING).generation;
    let before = site.requests().len();
    let out = site.run(
        &[
            "heal",
            "--project",
            "shop",
            "--target",
            "kubernetes",
            "--env",
            "staging",
        ],
        0,
    );
    let sent: Vec<String> = site.calls()[before..].to_vec();
    assert!(
        sent.contains(&format!("GET {DEPLOYMENT}")),
        "heal looked at the Deployment: {sent:?}\n{}",
        out.stdout
    );
    assert!(
        !sent.iter().any(|c| c.starts_with("PATCH ")),
        "nothing changed: {sent:?}"
    );
    assert_eq!(
        site.cluster.lock().expect("cluster").get(STAGING).generation,
        generation
    );
    assert_eq!(site.incidents(), Vec::<Value>::new(), "{}", out.stdout);
    assert_eq!(site.releases().len(), 1, "no release recorded by heal");
}
