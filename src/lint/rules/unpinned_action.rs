//! `unpinned-action`: remote actions and reusable workflows must be pinned to a full commit
//! SHA, and `docker://` images to a content digest, as the configured pinning policy asks
//! (`off`, `third-party` — the default, where `actions/*` and `github/*` are first-party —
//! or `all`). Local `./` references are the repository's own code and always fine.
use super::security::{Uses, home_owner, is_digest_pinned, is_full_sha, parse_uses};
use crate::lint::LintContext;
use crate::lint::config::PinPolicy;
use crate::lint::finding::{Finding, Severity};
use crate::lint::model::Job;
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;

pub struct UnpinnedAction;

static META: RuleMeta = RuleMeta {
    id: "unpinned-action",
    severity: Severity::Error,
    summary: "Checks that actions and reusable workflows are pinned to a full commit SHA and docker images to a digest.",
    applies: Applies::Both,
    fixable: false,
};

impl Rule for UnpinnedAction {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let policy = cx.config.pinning;
        if policy == PinPolicy::Off {
            return;
        }
        let mut uses_nodes: Vec<&Node> = Vec::new();
        if let Some(wf) = cx.workflow() {
            for job in wf.jobs() {
                uses_nodes.extend(job.uses());
                uses_nodes.extend(job.steps().filter_map(|s| s.uses()));
                check_images(cx, &job, out);
            }
        } else if let Some(action) = cx.action() {
            uses_nodes.extend(action.steps().filter_map(|s| s.uses()));
        }
        // Actions of the workflow's own organisation are not third-party.
        let home = std::cell::OnceCell::new();
        for node in uses_nodes {
            let Some(text) = node.as_str() else { continue };
            if policy == PinPolicy::ThirdParty
                && let Uses::Remote(r) = parse_uses(text)
                && home
                    .get_or_init(|| cx.root().and_then(home_owner))
                    .as_deref()
                    .is_some_and(|h: &str| h.eq_ignore_ascii_case(r.owner))
            {
                continue;
            }
            if let Some(f) = check_uses(cx, node, text, policy) {
                out.push(f);
            }
        }
    }
}

/// Job containers and service containers: images referenced by tag. A warning, because such
/// base images are usually bumped deliberately, yet the tag can still be re-pushed.
fn check_images(cx: &LintContext<'_>, job: &Job<'_>, out: &mut Vec<Finding>) {
    let mut images: Vec<(&Node, String)> = Vec::new();
    if let Some(container) = job.get("container") {
        let image = container.get("image").unwrap_or(container);
        images.push((image, "job container".to_string()));
    }
    if let Some(services) = job.get("services") {
        for (name, svc) in services.entries() {
            if let Some(image) = svc.value.get("image") {
                images.push((image, format!("service `{name}`")));
            }
        }
    }
    for (node, what) in images {
        let Some(image) = node.as_string() else { continue };
        let image = image.trim();
        if image.is_empty() || image.contains("${{") || is_digest_pinned(image) {
            continue;
        }
        let message = format!(
            "{what} image `{image}` is not pinned by digest; its tag can be re-pushed with different content"
        );
        out.push(
            cx.finding(&META, node.span, message)
                .severity(Severity::Warning)
                .help("pin the image by digest: `image: <name>@sha256:<digest>` (keep the tag in a comment)"),
        );
    }
}

/// Actions whose documentation requires a tag: the SLSA generator's provenance names the
/// tag it was called at, and `slsa-verifier` rejects provenance from a SHA-pinned call.
const MUST_USE_TAGS: &[&str] = &["slsa-framework/slsa-github-generator"];

fn check_uses(cx: &LintContext<'_>, node: &Node, text: &str, policy: PinPolicy) -> Option<Finding> {
    match parse_uses(text) {
        Uses::Local | Uses::Unknown => None,
        Uses::Docker(image) => {
            if is_digest_pinned(image) {
                return None;
            }
            let message = format!(
                "docker image `{image}` is not pinned by digest; its tag can be re-pushed with different content"
            );
            Some(
                cx.finding(&META, node.span, message)
                    .help("pin the image by digest: `docker://<image>@sha256:<digest>` (see `docker buildx imagetools inspect <image>`)"),
            )
        }
        Uses::Remote(remote) => {
            if is_full_sha(remote.git_ref)
                || (policy == PinPolicy::ThirdParty && remote.is_first_party())
                || MUST_USE_TAGS
                    .iter()
                    .any(|slug| remote.slug().eq_ignore_ascii_case(slug))
            {
                return None;
            }
            let what = if remote.path.is_some_and(|p| p.starts_with(".github/workflows/")) {
                "reusable workflow"
            } else {
                "action"
            };
            let git_ref = remote.git_ref;
            let why = describe_ref(git_ref);
            let message = format!(
                "{what} `{}` is not pinned to a full commit SHA: {why}",
                text.trim()
            );
            let span = cx.locate(node, remote.ref_offset, git_ref.len());
            let name = match remote.path {
                Some(path) => format!("{}/{path}", remote.slug()),
                None => remote.slug(),
            };
            let help = format!(
                "pin the commit and keep the version as a comment: `{name}@<40-hex commit SHA> # {git_ref}` (tools such as `pinact` or `ratchet` do this)"
            );
            Some(cx.finding(&META, span, message).help(help))
        }
    }
}

/// Why a non-SHA ref is a moving target, in words that fit the ref.
fn describe_ref(git_ref: &str) -> String {
    let hexish = git_ref.bytes().all(|b| b.is_ascii_hexdigit());
    if hexish && git_ref.len() >= 7 {
        return format!(
            "`{git_ref}` is an abbreviated SHA; only a full 40-character SHA is an immutable pin"
        );
    }
    let tag_like = git_ref
        .strip_prefix('v')
        .unwrap_or(git_ref)
        .starts_with(|c: char| c.is_ascii_digit());
    if tag_like {
        format!("the tag `{git_ref}` can be moved to different code at any time")
    } else {
        format!("`{git_ref}` is a branch or tag that can point to different code at any time")
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::NoLocalFiles;
    use crate::lint::config::{Config, PinPolicy};
    use crate::lint::testing::{lint, lint_with};

    const WF: &str = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: docker/login-action@v3\n      - uses: o/r@0123456789abcdef0123456789abcdef01234567\n      - uses: ./local\n      - uses: docker://alpine:3\n      - uses: \"o/r@main\"\n  b:\n    uses: o/w/.github/workflows/x.yml@v1\n";

    #[test]
    fn third_party_policy_flags_tags_branches_and_images() {
        let got = lint("wf.yml", WF, "unpinned-action");
        let at: Vec<_> = got.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(at, vec![(7, 35), (10, 15), (11, 20), (13, 39)], "{got:?}");
        assert!(got[0].2.contains("tag `v3`"));
        assert!(got[1].2.contains("docker image `alpine:3`"));
        assert!(got[2].2.contains("branch or tag"));
        assert!(got[3].2.starts_with("reusable workflow"));
    }

    #[test]
    fn policy_all_includes_first_party_and_off_disables() {
        let all = Config {
            pinning: PinPolicy::All,
            ..Config::default()
        };
        assert_eq!(
            lint_with("wf.yml", WF, "unpinned-action", &all, &NoLocalFiles).len(),
            5
        );
        let off = Config {
            pinning: PinPolicy::Off,
            ..Config::default()
        };
        assert!(lint_with("wf.yml", WF, "unpinned-action", &off, &NoLocalFiles).is_empty());
    }

    #[test]
    fn the_workflows_own_organisation_is_first_party() {
        let src = "on: push\njobs:\n  a:\n    if: github.repository == 'acme/app'\n    runs-on: x\n    steps:\n      - uses: acme/ci-actions/setup@main\n      - uses: other/action@v1\n";
        let got = lint("wf.yml", src, "unpinned-action");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].2.contains("other/action"));
        let all = Config {
            pinning: PinPolicy::All,
            ..Config::default()
        };
        assert_eq!(
            lint_with("wf.yml", src, "unpinned-action", &all, &NoLocalFiles).len(),
            2
        );
    }

    #[test]
    fn job_and_service_images_warn_unless_digest_pinned() {
        let src = "on: push\njobs:\n  a:\n    runs-on: x\n    container: node:20\n    services:\n      db:\n        image: postgres@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1\n      cache:\n        image: redis:7\n      dyn:\n        image: ${{ matrix.image }}\n    steps: [{run: make}]\n";
        let got = crate::lint::testing::findings("wf.yml", src);
        let got: Vec<_> = got
            .iter()
            .filter(|f| f.rule == "unpinned-action")
            .map(|f| (f.span.start.line, f.span.start.col, f.severity))
            .collect();
        use crate::lint::finding::Severity;
        assert_eq!(got, vec![(5, 16, Severity::Warning), (10, 16, Severity::Warning)]);
    }

    #[test]
    fn the_slsa_generator_must_stay_on_a_tag() {
        let src = "on: push\njobs:\n  p:\n    uses: slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@v2.1.0\n";
        assert!(lint("wf.yml", src, "unpinned-action").is_empty());
    }

    #[test]
    fn composite_actions_are_checked_and_short_shas_explained() {
        let src = "name: x\ndescription: y\nruns:\n  using: composite\n  steps:\n    - uses: o/r@abc1234\n";
        let got = lint("action.yml", src, "unpinned-action");
        assert_eq!(got.len(), 1);
        assert!(got[0].2.contains("abbreviated SHA"), "{got:?}");
    }
}
