//! The file-shaped mirror of `.autosd/config.yml`: exactly what may be written, with the
//! position of every value. Nothing here decides; `config::validate` turns it into checked types.
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub version: Spanned<u32>,
    pub project: Spanned<String>,
    #[serde(default)]
    pub environments: Option<Spanned<RawEnvironments>>,
    #[serde(default)]
    pub state: Option<Spanned<RawState>>,
    #[serde(default)]
    pub patch: Option<Spanned<RawPatch>>,
}

/// `patch:`: how `autosd patch` checks and publishes its fixes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPatch {
    #[serde(default)]
    pub check: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub timeout_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub remote: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: Option<Spanned<Vec<String>>>,
}

/// Environments in file order (the order `policy show` and `status` print them in).
#[derive(Debug)]
pub struct RawEnvironments(pub Vec<(Spanned<String>, Option<Spanned<RawEnvironment>>)>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    #[serde(default)]
    pub production: Option<Spanned<bool>>,
    #[serde(default)]
    pub require_grant: Option<Spanned<bool>>,
    /// Where the environment is reachable, shown on GitHub's Environments page.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Kept open on purpose: each target kind validates its own settings (deploy issue).
    #[serde(default)]
    pub target: Option<Spanned<BTreeMap<String, serde_json::Value>>>,
    /// Self-healing limits (`autosd heal`).
    #[serde(default)]
    pub heal: Option<Spanned<RawHeal>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeal {
    /// Restarts of one release per rolling hour before heal escalates to a rollback.
    #[serde(default)]
    pub max_restarts_per_hour: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub backend: Spanned<String>,
    #[serde(default)]
    pub remote: Option<Spanned<String>>,
    #[serde(default)]
    pub branch: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawEnvironments {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = RawEnvironments;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping from environment name to its settings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawEnvironments(entries))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}
