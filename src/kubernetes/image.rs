//! Pinned image references for the kubernetes target. Kubernetes pulls on the nodes, so a
//! Deployment must name a digest (a moved tag would change what a revert re-applies): the
//! pinned reference (`repo@sha256:…`) is what the ledger records and what a revert
//! re-applies. Tags are resolved to one by `registry.rs`.
use crate::error::{Error, ErrorCode};

/// `repo@sha256:<64 hex>` (a `repo:tag@sha256:…` loses its tag: the digest decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub repository: String,
    pub digest: String,
}

impl Pinned {
    pub fn parse(image: &str) -> std::result::Result<Pinned, Error> {
        let not_pinned = || {
            Error::new(
                ErrorCode::ImageNotPinned,
                format!("image `{image}` is neither pinned by digest (`repo@sha256:<64 hex>`) nor a `repo:tag` reference"),
            )
            .hint("pass --image repo@sha256:… (e.g. the digest `docker buildx build --push` or `crane digest repo:tag` prints)")
        };
        let (name, digest) = image.rsplit_once('@').ok_or_else(not_pinned)?;
        let hex = digest.strip_prefix("sha256:").ok_or_else(not_pinned)?;
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            return Err(not_pinned());
        }
        // A tag is the part after the last `:` that is not part of a registry's host:port.
        let repository = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo,
            _ => name,
        };
        let valid = !repository.is_empty()
            && !repository.starts_with('/')
            && !repository.ends_with('/')
            && repository
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c));
        if !valid {
            return Err(Error::new(
                ErrorCode::ImageNotPinned,
                format!("image `{image}`: `{repository}` is not a repository name"),
            ));
        }
        Ok(Pinned {
            repository: repository.to_string(),
            digest: digest.to_string(),
        })
    }

    /// The reference a pod template carries and the ledger records.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn digests_pin_and_tags_do_not() {
        let p = Pinned::parse(&format!("registry.example:5000/team/shop@sha256:{HEX}")).expect("pinned");
        assert_eq!(p.repository, "registry.example:5000/team/shop");
        assert_eq!(
            p.reference(),
            format!("registry.example:5000/team/shop@sha256:{HEX}")
        );
        let tagged =
            Pinned::parse(&format!("registry.example:5000/shop:v2@sha256:{HEX}")).expect("tag and digest");
        assert_eq!(
            tagged.reference(),
            format!("registry.example:5000/shop@sha256:{HEX}")
        );
        for bad in [
            "shop:v1".to_string(),
            "shop".to_string(),
            "registry.example:5000/shop".to_string(),
            "shop@sha256:abc".to_string(),
            format!("shop@sha512:{HEX}"),
            format!("shop@sha256:{}", HEX.to_uppercase()),
            format!("@sha256:{HEX}"),
            format!("shop shop@sha256:{HEX}"),
        ] {
            let e = Pinned::parse(&bad).expect_err(&bad);
            assert_eq!(e.code, ErrorCode::ImageNotPinned, "{bad}");
        }
        let e = Pinned::parse("shop:v1").expect_err("tag");
        assert!(e.hints.iter().any(|h| h.contains("--image repo@sha256")), "{e:?}");
    }
}
