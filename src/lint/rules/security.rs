//! Helpers shared by the security rules (`unpinned-action`, `untrusted-checkout`,
//! `secrets-in-logs`, `persist-credentials`, …): reading `uses:` references, finding secrets
//! inside `${{ }}` expressions, and walking the step lists of workflows and composite actions.
//! No rule lives here and nothing here emits a finding.
use crate::lint::LintContext;
use crate::lint::model::{Job, Step};
use crate::lint::yaml::{Node, ScalarValue};
use std::collections::BTreeSet;
use std::ops::Range;

/// Organisations whose actions GitHub itself publishes: first-party under the
/// `third-party` pinning policy.
pub const FIRST_PARTY_OWNERS: &[&str] = &["actions", "github"];

/// A `uses:` value, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uses<'a> {
    /// `./path` in the same repository (or `.` itself).
    Local,
    /// `docker://image[:tag][@digest]`: the part after `docker://`.
    Docker(&'a str),
    /// `owner/repo[/path]@ref`.
    Remote(RemoteUses<'a>),
    /// Contains `${{` or does not parse; other rules report syntax.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUses<'a> {
    pub owner: &'a str,
    pub repo: &'a str,
    /// The path inside the repository (`sub/dir` or `.github/workflows/x.yml`), if any.
    pub path: Option<&'a str>,
    pub git_ref: &'a str,
    /// Byte offset of `git_ref` in the `uses:` text.
    pub ref_offset: usize,
}

impl RemoteUses<'_> {
    /// `owner/repo` as written.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    pub fn is_first_party(&self) -> bool {
        FIRST_PARTY_OWNERS
            .iter()
            .any(|o| o.eq_ignore_ascii_case(self.owner))
    }

    /// Is this `owner/repo` (with no sub-path), compared as GitHub does, case-insensitively?
    pub fn is(&self, slug: &str) -> bool {
        self.path.is_none() && self.slug().eq_ignore_ascii_case(slug)
    }
}

pub fn parse_uses(raw: &str) -> Uses<'_> {
    let text = raw.trim();
    let lead = raw.len() - raw.trim_start().len();
    if text.contains("${{") || text.is_empty() {
        return Uses::Unknown;
    }
    if text == "." || text.starts_with("./") || text.starts_with("../") {
        return Uses::Local;
    }
    if let Some(image) = text.strip_prefix("docker://") {
        return if image.is_empty() {
            Uses::Unknown
        } else {
            Uses::Docker(image)
        };
    }
    let Some(at) = text.rfind('@') else {
        return Uses::Unknown;
    };
    let (name, git_ref) = (&text[..at], &text[at + 1..]);
    let mut parts = name.splitn(3, '/');
    let (Some(owner), Some(repo)) = (parts.next(), parts.next()) else {
        return Uses::Unknown;
    };
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid(owner) || !valid(repo) || git_ref.is_empty() || git_ref.contains(char::is_whitespace) {
        return Uses::Unknown;
    }
    Uses::Remote(RemoteUses {
        owner,
        repo,
        path: parts.next().filter(|p| !p.is_empty()),
        git_ref,
        ref_offset: lead + at + 1,
    })
}

/// A full commit id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories).
pub fn is_full_sha(git_ref: &str) -> bool {
    matches!(git_ref.len(), 40 | 64) && git_ref.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A docker image reference pinned by content digest (`…@sha256:<64 hex>`).
pub fn is_digest_pinned(image: &str) -> bool {
    image
        .rsplit_once("@sha256:")
        .is_some_and(|(_, digest)| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Does `uses` name the action `slug` (e.g. `actions/checkout`) at any ref?
pub fn uses_action(step: &Step<'_>, slug: &str) -> bool {
    match step.uses().and_then(Node::as_str).map(parse_uses) {
        Some(Uses::Remote(r)) => r.is(slug),
        _ => false,
    }
}

/// A reference to a secret inside a `${{ }}` expression of a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Byte range of the whole `${{ … }}` in the string.
    pub range: Range<usize>,
    /// `secrets.NAME` as written, or `secrets` for a dynamic index.
    pub name: String,
}

/// Every `${{ … }}` of `text` that reads the `secrets` context, in order.
pub fn secret_refs(text: &str) -> Vec<SecretRef> {
    let mut out = Vec::new();
    for (range, inner) in expressions(text) {
        if let Some(name) = secret_in_expression(inner) {
            out.push(SecretRef { range, name });
        }
    }
    out
}

/// The `${{ … }}` occurrences of `text`: whole range and inner text. A `}}` inside a
/// single-quoted literal does not close the expression.
pub fn expressions(text: &str) -> Vec<(Range<usize>, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = text.get(from..).and_then(|t| t.find("${{")) {
        let open = from + rel;
        let mut i = open + 3;
        let mut in_string = false;
        let close = loop {
            match bytes.get(i) {
                None => break None,
                Some(b'\'') => in_string = !in_string,
                Some(b'}') if !in_string && bytes.get(i + 1) == Some(&b'}') => break Some(i),
                _ => {}
            }
            i += 1;
        };
        let Some(close) = close else { break };
        out.push((open..close + 2, &text[open + 3..close]));
        from = close + 2;
    }
    out
}

/// `secrets.NAME` (or `secrets`) when the expression text reads the secrets context outside
/// string literals, e.g. `secrets.TOKEN`, `secrets['X']`, `format('{0}', secrets.A)`.
pub fn secret_in_expression(inner: &str) -> Option<String> {
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\'' {
            in_string = !in_string;
        } else if !in_string
            && bytes
                .get(i..i + 7)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"secrets"))
            && (i == 0 || !is_ident_byte(bytes[i - 1]) && bytes[i - 1] != b'.')
            && !bytes.get(i + 7).is_some_and(|c| is_ident_byte(*c))
        {
            let rest = inner[i + 7..].trim_start();
            if let Some(name) = rest.strip_prefix('.') {
                let name: String = name
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii() && is_ident_byte(*c as u8))
                    .collect();
                if !name.is_empty() {
                    return Some(format!("secrets.{name}"));
                }
            }
            return Some("secrets".to_string());
        }
        i += 1;
    }
    None
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || !b.is_ascii()
}

/// Names of the environment variables whose values come from secrets, from `env:` maps
/// (workflow, job, step: pass them outermost first).
pub fn secret_env_names(envs: &[Option<&Node>]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for env in envs.iter().flatten() {
        for (key, entry) in env.entries() {
            match entry.value.as_str() {
                Some(v) if !secret_refs(v).is_empty() => {
                    names.insert(key.to_string());
                }
                _ => {
                    // An inner scope can rebind the name to a harmless value.
                    names.remove(key);
                }
            }
        }
    }
    names
}

/// A list of steps run one after the other in one job (or one composite action).
pub struct StepList<'a> {
    pub job: Option<Job<'a>>,
    pub steps: Vec<Step<'a>>,
}

/// The step lists of the file in `cx`: one per job of a workflow, or the composite steps of
/// an action.
pub fn step_lists<'a>(cx: &LintContext<'a>) -> Vec<StepList<'a>> {
    if let Some(wf) = cx.workflow() {
        return wf
            .jobs()
            .map(|job| StepList {
                job: Some(job),
                steps: job.steps().collect(),
            })
            .collect();
    }
    if let Some(action) = cx.action() {
        return vec![StepList {
            job: None,
            steps: action.steps().collect(),
        }];
    }
    Vec::new()
}

/// `true`, `"true"` and `false`, `"false"`: the runner reads action inputs as strings.
pub fn bool_value(node: &Node) -> Option<bool> {
    let scalar = node.as_scalar()?;
    match scalar.value() {
        ScalarValue::Bool(b) => Some(b),
        ScalarValue::String => match scalar.text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The owner of the repository the workflow belongs to, when the file says so itself: a
/// condition such as `github.repository == 'owner/repo'` or `github.repository_owner != 'owner'`
/// (common guards against running in forks). Compared case-insensitively by callers.
pub fn home_owner(root: &Node) -> Option<String> {
    let mut found = None;
    visit_strings(root, &mut |text| {
        if found.is_none() {
            found = owner_in_condition(text);
        }
    });
    found
}

fn visit_strings<'a>(node: &'a Node, f: &mut dyn FnMut(&'a str)) {
    match &node.kind {
        crate::lint::yaml::NodeKind::Scalar(s) => f(&s.text),
        crate::lint::yaml::NodeKind::Seq(items) => items.iter().for_each(|n| visit_strings(n, f)),
        crate::lint::yaml::NodeKind::Map(entries) => entries.iter().for_each(|e| visit_strings(&e.value, f)),
    }
}

fn owner_in_condition(text: &str) -> Option<String> {
    // Every scalar of the file comes through here: bail out before allocating unless the
    // text has the quote and dot a fork guard needs.
    if !text.contains('\'') || !text.contains('.') {
        return None;
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("github.repository") {
        return None;
    }
    // (context, `context op '` pattern, `' op context` pattern), in the order they are tried.
    const GUARDS: [(&str, &str, &str); 4] = [
        (
            "github.repository_owner",
            "github.repository_owner=='",
            "'==github.repository_owner",
        ),
        (
            "github.repository_owner",
            "github.repository_owner!='",
            "'!=github.repository_owner",
        ),
        (
            "github.repository",
            "github.repository=='",
            "'==github.repository",
        ),
        (
            "github.repository",
            "github.repository!='",
            "'!=github.repository",
        ),
    ];
    for (context, after, before) in GUARDS {
        let literal_after = compact.find(after).map(|i| i + after.len());
        let literal_before = compact
            .find(before)
            .and_then(|end| compact[..end].rfind('\'').map(|start| start + 1));
        for start in [literal_after, literal_before].into_iter().flatten() {
            let value: String = compact[start..].chars().take_while(|c| *c != '\'').collect();
            let owner = value.split('/').next().unwrap_or_default();
            let valid = !owner.is_empty()
                && owner
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if valid && (context == "github.repository_owner" || value.contains('/')) {
                return Some(owner.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_uses() {
        assert_eq!(parse_uses("./.github/actions/x"), Uses::Local);
        assert_eq!(parse_uses("docker://alpine:3"), Uses::Docker("alpine:3"));
        assert_eq!(parse_uses("${{ matrix.a }}"), Uses::Unknown);
        assert_eq!(parse_uses("$/x.yml"), Uses::Unknown);
        assert_eq!(parse_uses("actions/checkout"), Uses::Unknown);
        let Uses::Remote(r) = parse_uses("Org/Repo/sub/dir@v1") else {
            panic!("remote")
        };
        assert_eq!(
            (r.owner, r.repo, r.path, r.git_ref, r.ref_offset),
            ("Org", "Repo", Some("sub/dir"), "v1", 17)
        );
        assert!(!r.is_first_party());
        let Uses::Remote(c) = parse_uses("Actions/Checkout@v4") else {
            panic!("remote")
        };
        assert!(c.is("actions/checkout") && c.is_first_party());
    }

    #[test]
    fn home_owner_from_fork_guards() {
        assert_eq!(
            owner_in_condition("github.repository == 'duckdb/duckdb'"),
            Some("duckdb".into())
        );
        assert_eq!(
            owner_in_condition("${{ 'Homebrew' != github.repository_owner }}"),
            Some("Homebrew".into())
        );
        assert_eq!(owner_in_condition("github.repository == ''"), None);
        assert_eq!(owner_in_condition("github.repository == github.event.x"), None);
    }

    #[test]
    fn shas_and_digests() {
        assert!(is_full_sha("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_full_sha("0123456"));
        assert!(!is_full_sha("v4"));
        assert!(is_digest_pinned(
            "alpine@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1"
        ));
        assert!(!is_digest_pinned("alpine:3.19"));
    }

    #[test]
    fn finds_secret_references() {
        let text = "a ${{ secrets.TOKEN }} b ${{ github.sha }} ${{ format('{0}', secrets['X']) }} ${{ 'secrets.no' }}";
        let refs = secret_refs(text);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].name, "secrets.TOKEN");
        assert_eq!(&text[refs[0].range.clone()], "${{ secrets.TOKEN }}");
        assert_eq!(refs[1].name, "secrets");
        assert_eq!(secret_in_expression(" inputs.secrets "), None);
        assert_eq!(secret_in_expression("é secrets.É"), Some("secrets".into()));
        assert_eq!(secret_in_expression("ésecretsé"), None);
        assert_eq!(secret_in_expression(" github.token"), None);
        assert!(secret_refs("${{ unterminated").is_empty());
    }
}
