//! `hardcoded-credentials`: credentials written into the file instead of read from secrets:
//! values in the format of a known token (GitHub `ghp_…`/`github_pat_…`, AWS `AKIA…`, Slack,
//! GitLab, npm, PyPI, Google API keys, private-key blocks) anywhere; literal container and
//! service registry passwords; and literal values of `env`/`with`/`secrets` keys named like a
//! password, token or key. Throw-away values (`postgres`, `test`, …) are left alone.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::{Node, NodeKind, ScalarValue};

pub struct HardcodedCredentials;

static META: RuleMeta = RuleMeta {
    id: "hardcoded-credentials",
    severity: Severity::Error,
    summary: "Checks for tokens, passwords and keys written into workflows and actions instead of secrets.",
    applies: Applies::Both,
    fixable: false,
};

const HELP: &str = "store the value as an encrypted secret and use `${{ secrets.NAME }}`; a credential that was committed must be revoked";

impl Rule for HardcodedCredentials {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(root) = cx.root() else { return };
        let mut token_spans = Vec::new();
        scan_token_formats(cx, root, &mut token_spans, out);
        let mut maps: Vec<&Node> = Vec::new();
        collect_named_maps(root, &mut maps);
        for map in maps {
            for (key, entry) in map.entries() {
                if token_spans.contains(&entry.value.span) {
                    continue;
                }
                let Some(value) = literal(&entry.value) else {
                    continue;
                };
                if let Some(f) = check_named_value(cx, key, value, &entry.value) {
                    out.push(f);
                }
            }
        }
        for creds in registry_credentials(cx) {
            if let Some(password) = creds.get("password")
                && literal(password).is_some()
                && !token_spans.contains(&password.span)
            {
                out.push(
                    cx.finding(
                        &META,
                        password.span,
                        "container registry password is written in the file",
                    )
                    .help(HELP),
                );
            }
        }
    }
}

/// A string scalar with no `${{ }}` and no `$VAR` reference: a value fixed in the file.
fn literal(node: &Node) -> Option<&str> {
    let scalar = node.as_scalar()?;
    if scalar.value() != ScalarValue::String {
        return None;
    }
    let text = scalar.text.trim();
    (!text.is_empty() && !text.contains("${{") && !text.starts_with('$')).then_some(text)
}

/// Mappings whose keys name values handed to programs: `env`, `with` and a reusable call's
/// `secrets`, at every level (workflow, job, step, container, service, composite step).
fn collect_named_maps<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for e in entries {
                if matches!(e.key.as_str(), Some("env" | "with" | "secrets")) && e.value.as_map().is_some() {
                    out.push(&e.value);
                }
                collect_named_maps(&e.value, out);
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|n| collect_named_maps(n, out)),
        NodeKind::Scalar(_) => {}
    }
}

/// `credentials:` mappings of job containers and services.
fn registry_credentials<'a>(cx: &LintContext<'a>) -> Vec<&'a Node> {
    let Some(wf) = cx.workflow() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for job in wf.jobs() {
        if let Some(c) = job.get("container").and_then(|c| c.get("credentials")) {
            out.push(c);
        }
        if let Some(services) = job.get("services") {
            for (_, svc) in services.entries() {
                if let Some(c) = svc.value.get("credentials") {
                    out.push(c);
                }
            }
        }
    }
    out
}

fn check_named_value(cx: &LintContext<'_>, key: &str, value: &str, node: &Node) -> Option<Finding> {
    if !is_credential_key(key) || is_throwaway(value) {
        return None;
    }
    let (severity, how) = if looks_random(value) {
        (Severity::Warning, "a literal value")
    } else {
        (
            Severity::Note,
            "a literal value (if it is a real credential, anyone who can read the repository has it)",
        )
    };
    let message = format!("`{key}` is set to {how} instead of a secret");
    Some(
        cx.finding(&META, node.span, message)
            .severity(severity)
            .help(HELP),
    )
}

/// Key names whose last word says "credential": `DB_PASSWORD`, `api-token`, `AWS_SECRET_ACCESS_KEY`.
fn is_credential_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let Some(last) = words.last() else { return false };
    let prev = words
        .len()
        .checked_sub(2)
        .and_then(|i| words.get(i))
        .copied()
        .unwrap_or_default();
    match *last {
        "password" | "passwd" | "token" | "secret" | "apikey" | "passphrase" | "pat" => true,
        "key" => matches!(
            prev,
            "api" | "access" | "secret" | "private" | "signing" | "encryption" | "auth"
        ),
        _ => false,
    }
}

/// Values used for local test services and placeholders, not credentials.
fn is_throwaway(value: &str) -> bool {
    const THROWAWAY: &[&str] = &[
        "postgres",
        "password",
        "root",
        "test",
        "testing",
        "secret",
        "admin",
        "example",
        "changeme",
        "dummy",
        "foo",
        "bar",
        "fake",
        "mysql",
        "redis",
        "guest",
        "user",
        "pass",
        "none",
        "null",
        "xxx",
        "token",
        "placeholder",
        "default",
        "local",
        "localhost",
        "sa",
        "dev",
        "development",
        "insecure",
    ];
    let lower = value.to_ascii_lowercase();
    value.len() < 4
        || THROWAWAY.contains(&lower.as_str())
        || lower.contains("example")
        || lower.contains("dummy")
        || lower.contains("fake")
        || lower.contains("test")
        || value
            .chars()
            .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.')
        || value.contains(char::is_whitespace)
        || value.starts_with('<') && value.ends_with('>')
}

/// Random-looking: long, no spaces, and mixing letters with digits (or cases).
fn looks_random(value: &str) -> bool {
    let has = |f: fn(&char) -> bool| value.chars().any(|c| f(&c));
    value.len() >= 8
        && !value.contains(char::is_whitespace)
        && has(char::is_ascii_alphabetic)
        && (has(char::is_ascii_digit) || has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase))
}

/// Every string scalar of the document that contains a known token format.
fn scan_token_formats(
    cx: &LintContext<'_>,
    node: &Node,
    spans: &mut Vec<crate::lint::Span>,
    out: &mut Vec<Finding>,
) {
    match &node.kind {
        NodeKind::Scalar(s) => {
            if let Some((at, len, kind)) = find_token(&s.text) {
                spans.push(node.span);
                let span = cx.locate(node, at, len.min(8));
                let prefix: String = s.text[at..].chars().take(4).collect();
                let message = format!("this looks like {kind} (`{prefix}…`) written into the file");
                out.push(cx.finding(&META, span, message).help(HELP));
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|n| scan_token_formats(cx, n, spans, out)),
        NodeKind::Map(entries) => entries
            .iter()
            .for_each(|e| scan_token_formats(cx, &e.value, spans, out)),
    }
}

/// `haystack.find(needle)` for the short scalars and prefixes scanned here: jumping between
/// occurrences of the first byte avoids building a substring searcher per call, which
/// dominated this rule on large corpora.
fn find_short(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let &first = n.first()?;
    let mut from = 0;
    while let Some(rel) = h.get(from..)?.iter().position(|&b| b == first) {
        let at = from + rel;
        if h[at..].starts_with(n) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A credential format: prefix, description, least body length, body character class.
type TokenFormat = (&'static str, &'static str, usize, fn(u8) -> bool);

/// The first known-format credential in `text`: `(byte offset, length, description)`.
pub fn find_token(text: &str) -> Option<(usize, usize, &'static str)> {
    if let Some(found) = may_hold_token(text).then(|| find_format(text)).flatten() {
        return Some(found);
    }
    let begin = find_short(text, "-----BEGIN ")?;
    let header_end = text[begin..]
        .find("-----\n")
        .or_else(|| text[begin..].find("-----\r\n"))?;
    let header = &text[begin..begin + header_end];
    (header.ends_with("PRIVATE KEY") && text[begin + header_end..].trim().len() > 64).then_some((
        begin,
        header_end + 5,
        "a private key",
    ))
}

/// Does any format prefix occur in `text`? One pass over the bytes, so the common scalar
/// without any is dismissed without the per-format scans of [`find_format`].
fn may_hold_token(text: &str) -> bool {
    const FIRST: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < FORMATS.len() {
            table[FORMATS[i].0.as_bytes()[0] as usize] = true;
            i += 1;
        }
        table
    };
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|at| {
        FIRST[bytes[at] as usize]
            && FORMATS
                .iter()
                .any(|(prefix, ..)| bytes[at..].starts_with(prefix.as_bytes()))
    })
}

const FORMATS: &[TokenFormat] = &[
    ("ghp_", "a GitHub personal access token", 36, alnum),
    ("gho_", "a GitHub OAuth token", 36, alnum),
    ("ghu_", "a GitHub user-to-server token", 36, alnum),
    ("ghs_", "a GitHub server-to-server token", 36, alnum),
    ("ghr_", "a GitHub refresh token", 36, alnum),
    (
        "github_pat_",
        "a GitHub fine-grained personal access token",
        70,
        word,
    ),
    ("AKIA", "an AWS access key id", 16, upper_digit),
    ("ASIA", "an AWS temporary access key id", 16, upper_digit),
    ("glpat-", "a GitLab personal access token", 20, token_char),
    ("xoxb-", "a Slack bot token", 20, token_char),
    ("xoxp-", "a Slack user token", 20, token_char),
    ("npm_", "an npm access token", 36, alnum),
    ("pypi-AgEIcHlwaS5vcmc", "a PyPI API token", 50, token_char),
    ("AIza", "a Google API key", 35, token_char),
    ("sk_live_", "a Stripe live secret key", 24, alnum),
];

/// The first format (in table order) with a credential-like match in `text`.
fn find_format(text: &str) -> Option<(usize, usize, &'static str)> {
    for (prefix, kind, min_len, body) in FORMATS {
        let mut from = 0;
        while let Some(rel) = text.get(from..).and_then(|t| find_short(t, prefix)) {
            let at = from + rel;
            from = at + prefix.len();
            let bounded = at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric();
            let tail = &text.as_bytes()[at + prefix.len()..];
            let len = tail.iter().take_while(|b| body(**b)).count();
            let candidate = &text[at..at + prefix.len() + len];
            if bounded
                && len >= *min_len
                && !candidate.contains("EXAMPLE")
                && !is_repetitive(&candidate[prefix.len()..])
            {
                return Some((at, prefix.len() + len, kind));
            }
        }
    }
    None
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `xxxxxxxx…` or `0000…` placeholders.
fn is_repetitive(body: &str) -> bool {
    let mut chars = body.chars();
    chars
        .next()
        .is_none_or(|first| body.chars().filter(|c| *c == first).count() * 2 > body.len())
}

#[cfg(test)]
mod tests {
    use super::find_token;
    use crate::lint::finding::Severity;
    use crate::lint::testing::findings;

    fn check(path: &str, src: &str) -> Vec<(u32, u32, Severity)> {
        findings(path, src)
            .into_iter()
            .filter(|f| f.rule == "hardcoded-credentials")
            .map(|f| (f.span.start.line, f.span.start.col, f.severity))
            .collect()
    }

    #[test]
    fn known_token_formats() {
        assert_eq!(
            find_token("x ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 y").map(|t| (t.0, t.1)),
            Some((2, 40))
        );
        assert!(find_token("AKIAQWERTYUIOPASDFGH").is_some());
        assert!(find_token("AKIAIOSFODNN7EXAMPLE").is_none());
        assert!(find_token("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").is_none());
        assert!(find_token("PREFIXghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789").is_none());
        assert!(find_token("see ghp_ tokens").is_none());
        let key = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            "A".repeat(70)
        );
        assert_eq!(find_token(&key).map(|t| t.2), Some("a private key"));
    }

    #[test]
    fn tokens_anywhere_registry_passwords_and_named_keys() {
        let src = "on: push\nenv:\n  PAT: ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\njobs:\n  a:\n    runs-on: x\n    container:\n      image: r/i\n      credentials:\n        username: me\n        password: hunter2hunter2\n    services:\n      db:\n        image: postgres\n        env:\n          POSTGRES_PASSWORD: postgres\n    steps:\n      - uses: o/deploy@v1\n        with:\n          api-token: f83kd9Sk2LmQ0zX7\n          token-type: bearer\n          signing-key: correct-horse\n      - run: make\n        env:\n          AWS_ACCESS_KEY_ID: AKIAQWERTYUIOPASDFGH\n          DB_PASSWORD: ${{ secrets.DB }}\n";
        let got = check("wf.yml", src);
        assert_eq!(
            got,
            vec![
                (3, 8, Severity::Error),
                (11, 19, Severity::Error),
                (20, 22, Severity::Warning),
                (22, 24, Severity::Note),
                (25, 30, Severity::Error),
            ],
            "{got:?}"
        );
    }

    #[test]
    fn composite_actions_are_scanned() {
        let src = "name: n\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n      env:\n        NPM_TOKEN: npm_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\n";
        assert_eq!(check("action.yml", src), vec![(9, 20, Severity::Error)]);
    }
}
