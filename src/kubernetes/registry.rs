//! Resolving a tag to the digest it names now, through the registry's v2 API, so
//! `--image shop:v1` can be pinned before it reaches a Deployment: `GET /v2/<repo>/manifests/<tag>`,
//! and on a 401 what its `WWW-Authenticate` header asks for: Basic, or a pull token from the
//! token service it names (`realm`, `service`, `scope`). The credentials are the Docker
//! config's for the registry (`crate::registry`); without any, the request is anonymous.
//! Plain HTTP is used only for loopback
//! registries (as Docker treats them), HTTPS with the platform's roots otherwise — kube-rs's
//! own HTTP stack does the transport, so nothing is added to the build.
use crate::error::{Error, ErrorCode, Result};
use crate::registry::{Credentials, Login, RegistryAuth};
use crate::secret::Secret;
use std::time::Duration;

/// What a manifest request accepts: image indexes first, so a multi-arch tag resolves to
/// the index digest every node can pull, as `docker buildx imagetools inspect` shows it.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A tagged image reference, split the way the registry API needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The reference without its tag, as written (`ghcr.io/acme/shop`, `shop`).
    pub name: String,
    /// `https://ghcr.io`, `http://127.0.0.1:5000`, `https://registry-1.docker.io`.
    pub base: String,
    /// The repository path at that registry (`acme/shop`, `library/shop`).
    pub repository: String,
    pub tag: String,
}

impl Tagged {
    /// `[host[:port]/]path[:tag]` (no digest); the tag defaults to `latest`.
    pub fn parse(image: &str) -> Option<Tagged> {
        if image.contains('@') || image.is_empty() {
            return None;
        }
        let (name, tag) = match image.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t),
            _ => (image, "latest"),
        };
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c));
        if !tag_ok || !name_ok {
            return None;
        }
        // Docker's rule: the first component is a registry if it looks like a host.
        let (host, repository) = match name.split_once('/') {
            Some((h, rest)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), rest.to_string())
            }
            Some(_) => ("registry-1.docker.io".to_string(), name.to_string()),
            None => ("registry-1.docker.io".to_string(), format!("library/{name}")),
        };
        let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let loopback = bare == "localhost" || bare.starts_with("127.") || bare == "[::1]";
        let scheme = if loopback { "http" } else { "https" };
        Some(Tagged {
            name: name.to_string(),
            base: format!("{scheme}://{host}"),
            repository,
            tag: tag.to_string(),
        })
    }
}

/// `key="value"` pairs of a `WWW-Authenticate: Bearer …` challenge.
pub fn bearer_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("Bearer ")?;
    let mut pairs = Vec::new();
    let mut s = rest.trim();
    while let Some((key, after)) = s.split_once("=\"") {
        let (value, tail) = after.split_once('"')?;
        pairs.push((
            key.trim().trim_start_matches(',').trim().to_string(),
            value.to_string(),
        ));
        s = tail.trim_start_matches([',', ' ']);
    }
    Some(pairs)
}

/// Percent-encodes a query value (scopes carry `:` and `/`).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn not_resolved(image: &str, why: String) -> Error {
    Error::new(
        ErrorCode::ImageNotPinned,
        format!("image `{image}` is not pinned by digest and its tag cannot be resolved: {why}"),
    )
    .hint("pass --image repo@sha256:… (the digest `docker buildx build --push` or `crane digest repo:tag` prints)")
}

/// One request's answer: status, `Docker-Content-Digest`, `WWW-Authenticate` and body.
struct Answer {
    status: u16,
    digest: Option<String>,
    challenge: Option<String>,
    body: Vec<u8>,
}

/// What a request sends besides its URL; the authorization and the form may hold secrets.
struct Send<'a> {
    accept: &'a str,
    authorization: Option<&'a Secret<String>>,
    /// An `application/x-www-form-urlencoded` body, sent with POST; None is a GET.
    form: Option<&'a Secret<String>>,
}

async fn send(url: &str, what: Send<'_>) -> std::result::Result<Answer, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("`{url}`: {e}"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!("`{url}` is not an absolute URL"));
    };
    let base: http::Uri = format!("{scheme}://{authority}")
        .parse()
        .map_err(|e| format!("`{url}`: {e}"))?;
    let mut config = kube::Config::new(base);
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(30));
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let method = if what.form.is_some() { "POST" } else { "GET" };
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("accept", what.accept);
    if let Some(a) = what.authorization {
        request = request.header("authorization", a.expose().as_str());
    }
    let body = match what.form {
        Some(form) => {
            request = request.header("content-type", "application/x-www-form-urlencoded");
            kube::client::Body::from(form.expose().clone().into_bytes())
        }
        None => kube::client::Body::empty(),
    };
    let request = request.body(body).map_err(|e| e.to_string())?;
    let response = client
        .send(request)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (status, digest, challenge) = (
        response.status().as_u16(),
        header("docker-content-digest"),
        header("www-authenticate"),
    );
    let body = response
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| e.to_string())?
        .to_vec();
    Ok(Answer {
        status,
        digest,
        challenge,
        body,
    })
}

fn basic(username: &str, password: &str) -> Secret<String> {
    use base64::Engine as _;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    Secret::new(format!("Basic {pair}"))
}

/// The `Authorization` a registry's 401 `challenge` asks for, made from `credentials`
/// (anonymous when None): Basic directly, or Bearer with a pull token from its token service.
async fn authorize(
    image: &str,
    challenge: &str,
    credentials: Option<&Credentials>,
) -> Result<Secret<String>> {
    if challenge.trim_start().to_ascii_lowercase().starts_with("basic") {
        return match credentials.map(|c| &c.login) {
            Some(Login::Password { username, password }) => Ok(basic(username, password)),
            Some(Login::IdentityToken(_)) => Err(not_resolved(
                image,
                "the registry asks for a password, and the Docker config holds only an identity token for it"
                    .into(),
            )),
            None => Err(not_resolved(
                image,
                "the registry asks for a password, and the Docker config has none for it".into(),
            )),
        };
    }
    let pairs = bearer_challenge(challenge)
        .ok_or_else(|| not_resolved(image, format!("the registry asks for `{challenge}` credentials")))?;
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let realm = field("realm")
        .ok_or_else(|| not_resolved(image, "the registry's challenge names no realm".into()))?;
    let query: Vec<String> = ["service", "scope"]
        .iter()
        .filter_map(|k| field(k).map(|v| format!("{k}={}", encode(v))))
        .collect();
    let accept = "application/json";
    // An identity token is an OAuth2 refresh token, traded by POST; a password goes as
    // Basic on the token GET, as the Docker engine does it.
    let answer = match credentials.map(|c| &c.login) {
        Some(Login::IdentityToken(token)) => {
            let form = Secret::new(format!(
                "grant_type=refresh_token&client_id=autosd&{}&refresh_token={}",
                query.join("&"),
                encode(token)
            ));
            let what = Send {
                accept,
                authorization: None,
                form: Some(&form),
            };
            send(realm, what).await
        }
        login => {
            let authorization = match login {
                Some(Login::Password { username, password }) => Some(basic(username, password)),
                _ => None,
            };
            let what = Send {
                accept,
                authorization: authorization.as_ref(),
                form: None,
            };
            send(&format!("{realm}?{}", query.join("&")), what).await
        }
    }
    .map_err(|e| not_resolved(image, format!("token service: {e}")))?;
    if answer.status != 200 {
        return Err(not_resolved(
            image,
            format!(
                "the token service answered {} to {}",
                answer.status,
                if credentials.is_some() {
                    "the credentials of the Docker config"
                } else {
                    "an anonymous request"
                }
            ),
        ));
    }
    let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    doc["token"]
        .as_str()
        .or_else(|| doc["access_token"].as_str())
        .map(|t| Secret::new(format!("Bearer {t}")))
        .ok_or_else(|| not_resolved(image, "the token service gave no token".into()))
}

/// `sha256:<hex>` of the manifest `image` (tagged) names now, asked with the credentials
/// `auth` holds for its registry (anonymously when it holds none).
pub async fn resolve(image: &str, tagged: &Tagged, auth: &RegistryAuth) -> Result<String> {
    let credentials = auth.credentials(image)?;
    let credentials = credentials.as_ref().map(Secret::expose);
    let url = format!(
        "{}/v2/{}/manifests/{}",
        tagged.base, tagged.repository, tagged.tag
    );
    let fetch = |authorization: Option<Secret<String>>| {
        let url = url.clone();
        async move {
            let what = Send {
                accept: ACCEPT,
                authorization: authorization.as_ref(),
                form: None,
            };
            send(&url, what)
                .await
                .map_err(|e| not_resolved(image, format!("registry {}: {e}", tagged.base)))
        }
    };
    let mut answer = fetch(None).await?;
    if answer.status == 401
        && let Some(challenge) = answer.challenge.clone()
    {
        let authorization = authorize(image, &challenge, credentials)
            .await
            .map_err(|e| e.hint(auth.refusal_hint(image)))?;
        answer = fetch(Some(authorization)).await?;
    }
    match answer.status {
        200 => {}
        404 => {
            return Err(Error::new(
                ErrorCode::ImageNotFound,
                format!(
                    "registry {} has no tag `{}` of {}",
                    tagged.base, tagged.tag, tagged.repository
                ),
            )
            .hint("check the image reference, or pass the digest with --image repo@sha256:…"));
        }
        401 | 403 => {
            let who = if credentials.is_some() {
                "the credentials of the Docker config"
            } else {
                "an anonymous pull"
            };
            return Err(not_resolved(
                image,
                format!("registry {} refused {who} ({})", tagged.base, answer.status),
            )
            .hint(auth.refusal_hint(image)));
        }
        code => {
            return Err(not_resolved(
                image,
                format!("registry {} answered {code}", tagged.base),
            ));
        }
    }
    // The header is the registry's word; without it, the digest is that of the bytes served.
    let digest = answer.digest.unwrap_or_else(|| {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&answer.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    });
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_like_docker_does() {
        let t = Tagged::parse("shop").expect("hub");
        assert_eq!(
            (t.base.as_str(), t.repository.as_str(), t.tag.as_str()),
            ("https://registry-1.docker.io", "library/shop", "latest")
        );
        let t = Tagged::parse("acme/shop:v1").expect("hub org");
        assert_eq!((t.repository.as_str(), t.tag.as_str()), ("acme/shop", "v1"));
        let t = Tagged::parse("ghcr.io/acme/shop:v2").expect("ghcr");
        assert_eq!(
            (t.base.as_str(), t.repository.as_str()),
            ("https://ghcr.io", "acme/shop")
        );
        let t = Tagged::parse("127.0.0.1:5000/team/shop:rc-1").expect("local");
        assert_eq!(
            (t.base.as_str(), t.name.as_str(), t.tag.as_str()),
            ("http://127.0.0.1:5000", "127.0.0.1:5000/team/shop", "rc-1")
        );
        let t = Tagged::parse("localhost:5000/shop").expect("localhost");
        assert_eq!(
            (t.base.as_str(), t.tag.as_str()),
            ("http://localhost:5000", "latest")
        );
        assert_eq!(Tagged::parse("shop@sha256:ab"), None);
        assert_eq!(Tagged::parse("shop:bad tag"), None);
    }

    #[test]
    fn challenges_and_queries_are_read_and_written() {
        let c = bearer_challenge(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/shop:pull\"",
        )
        .expect("bearer");
        assert_eq!(
            c,
            vec![
                ("realm".to_string(), "https://auth.docker.io/token".to_string()),
                ("service".to_string(), "registry.docker.io".to_string()),
                ("scope".to_string(), "repository:library/shop:pull".to_string()),
            ]
        );
        assert_eq!(bearer_challenge("Basic realm=\"x\""), None);
        assert_eq!(
            encode("repository:library/shop:pull"),
            "repository%3Alibrary%2Fshop%3Apull"
        );
    }
}
