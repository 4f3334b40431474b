//! The forgery suite: tampered and hostile tokens, each refused with the right reason,
//! both by the in-process verifier (exact `Rejection`) and by `autosd preauth verify`
//! (exit code 11 and the reason named on stderr). Plus a property test: random mutations of
//! a valid token never verify. Tokens are built through the library, signed with the home's
//! own key where the point is that strict parsing (not the signature) must catch them.
use crate::preauth::{EXIT_PREAUTH_INVALID, create, expect, init, run_env, temp_home};
use autosd::context::{Context, Env, unix_now};
use autosd::grant::{
    ArtifactKind, Capability, Check, Rejection, RuntimeBindings, SigningKeyHandle, Verifier,
    load_signing_key, sign_artifact,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};

const DAY: i64 = 86_400;

struct Fixture {
    _dir: tempfile::TempDir,
    home: PathBuf,
    key: SigningKeyHandle,
    now: i64,
}

/// A home with a key whose validity starts 30 days ago, so tests can sign grants that
/// were issued (validly) in the past.
fn fixture() -> Fixture {
    let dir = temp_home();
    let home = dir.path().to_path_buf();
    init(&home);
    let now = unix_now();
    backdate_keys(&home, now - 30 * DAY);
    let key = load_signing_key(&home).expect("home key");
    Fixture {
        _dir: dir,
        home,
        key,
        now,
    }
}

fn backdate_keys(home: &Path, not_before: i64) {
    let path = home.join("trust/keys.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&path).expect("keys.json")).expect("json");
    for k in v["keys"].as_array_mut().expect("keys") {
        k["not_before"] = json!(not_before);
    }
    fs::write(&path, serde_json::to_vec_pretty(&v).expect("json")).expect("write keys.json");
}

fn ctx(home: &Path) -> Context {
    Context {
        home: home.to_path_buf(),
        env: Env::from_pairs(&[]),
        cwd: home.to_path_buf(),
        stdin_is_tty: false,
        stderr_is_tty: false,
    }
}

impl Fixture {
    fn claims(&self) -> Value {
        json!({
            "v": 1,
            "gid": "g-0123456789abcdef0123",
            "kid": self.key.kid().as_str(),
            "iss": "forger",
            "aud": "autosd",
            "iat": self.now - 60,
            "nbf": self.now - 60,
            "exp": self.now + 3600,
            "projects": ["my-project"],
            "deploy_envs": ["staging"],
            "envs": ["staging"],
            "rollback": true,
            "heal": false,
            "push": false,
            "break_glass": false,
            "bind": {}
        })
    }

    fn with(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut c = self.claims();
        edit(&mut c);
        self.sign(&serde_json::to_vec(&c).expect("json"))
    }

    fn sign(&self, payload: &[u8]) -> String {
        sign_artifact(&self.key, ArtifactKind::Grant, payload)
    }

    fn good(&self) -> String {
        self.with(|_| {})
    }

    fn verifier(&self) -> Verifier {
        Verifier::load(&ctx(&self.home), None).expect("verifier")
    }
}

/// Splits a compact token into its five dot-separated fields.
fn fields(token: &str) -> Vec<String> {
    token.split('.').map(str::to_string).collect()
}

fn join(f: &[String]) -> String {
    f.join(".")
}

fn decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("b64")
}

fn encode(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Flips one bit of the decoded field `idx` (3 = payload, 4 = signature), re-encoding canonically.
fn flip(token: &str, idx: usize, byte: usize, bit: u8) -> String {
    let mut f = fields(token);
    let mut raw = decode(&f[idx]);
    let at = byte.min(raw.len() - 1);
    raw[at] ^= 1 << bit;
    f[idx] = encode(&raw);
    join(&f)
}

/// The group order L of Ed25519, little-endian: `s + L` is a non-canonical encoding of `s`.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn non_canonical_s(token: &str) -> String {
    let mut f = fields(token);
    let mut sig = decode(&f[4]);
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(ED25519_L[i]) + carry;
        sig[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    f[4] = encode(&sig);
    join(&f)
}

struct Case {
    name: &'static str,
    token: String,
    project: Option<&'static str>,
    env: Option<&'static str>,
    capability: Option<Capability>,
    repository: Option<&'static str>,
    want: Rejection,
}

fn case(name: &'static str, token: String, want: Rejection) -> Case {
    Case {
        name,
        token,
        project: None,
        env: None,
        capability: None,
        repository: None,
        want,
    }
}

/// Runs every case in-process (exact reason) and through the CLI (exit 11, reason named).
fn assert_all_rejected(home: &Path, cases: &[Case]) {
    let verifier = Verifier::load(&ctx(home), None).expect("verifier");
    let now = unix_now();
    for c in cases {
        let check = Check {
            project: c.project,
            env: c.env,
            capability: c.capability,
            runtime: RuntimeBindings {
                repository: c.repository.map(str::to_string),
                ..RuntimeBindings::default()
            },
        };
        assert_eq!(
            verifier.verify(&c.token, now, &check).map(|g| g.gid),
            Err(c.want),
            "case {}",
            c.name
        );
        if c.token.len() > 100 * 1024 {
            continue; // beyond the kernel's limit for one argument; covered in-process
        }
        let mut args = vec!["preauth", "verify", c.token.as_str()];
        if let Some(p) = c.project {
            args.extend(["--project", p]);
        }
        if let Some(e) = c.env {
            args.extend(["--env", e]);
        }
        if let Some(cap) = c.capability {
            args.extend(["--capability", cap.as_str()]);
        }
        let env: Vec<(&str, &str)> = c
            .repository
            .map(|r| ("GITHUB_REPOSITORY", r))
            .into_iter()
            .collect();
        let out = run_env(home, &args, &env);
        assert_eq!(out.code, EXIT_PREAUTH_INVALID, "case {}: {}", c.name, out.stderr);
        let expected = format!(
            "error[AUTOSD-PREAUTH-INVALID]: grant rejected: {}",
            c.want.description()
        );
        assert!(out.stderr.contains(&expected), "case {}: {}", c.name, out.stderr);
        assert!(out.stdout.is_empty(), "case {}: nothing on stdout", c.name);
    }
}

#[test]
fn forged_and_tampered_tokens_are_rejected_with_the_right_reason() {
    let fx = fixture();
    let good = fx.good();
    let mut pristine = vec![case("control", good.clone(), Rejection::ProjectOutOfScope)];
    pristine[0].project = Some("not-mine");

    let (revoked_gid, revoked_token) = create(&fx.home, &["--project-ids", "my-project", "--auto-push"]);
    expect(&fx.home, &["preauth", "revoke", &revoked_gid], 0);

    let untrusted = SigningKeyHandle::generate().expect("rng");
    let untrusted_claims = {
        let mut c = fx.claims();
        c["kid"] = json!(untrusted.kid().as_str());
        serde_json::to_vec(&c).expect("json")
    };
    let dup_payload = {
        let body = serde_json::to_string(&fx.claims()).expect("json");
        format!("{{\"gid\":\"g-ffffffffffffffffffff\",{}", &body[1..])
    };
    let revocation_as_grant = sign_artifact(
        &fx.key,
        ArtifactKind::Revocations,
        &serde_json::to_vec(&fx.claims()).expect("json"),
    );
    let huge = format!("{}{}", good, "A".repeat(1024 * 1024));
    let mut sig_trailing_bits = fields(&good);
    let last = sig_trailing_bits[4].pop().expect("char");
    // 64 bytes leave 4 unused bits in the last character; set one of them.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.find(last).expect("b64 char");
    sig_trailing_bits[4].push(alphabet.as_bytes()[pos ^ 1] as char);

    let mut cases = vec![
        case(
            "payload bit flip (first byte)",
            flip(&good, 3, 0, 0),
            Rejection::BadSignature,
        ),
        case(
            "payload bit flip (middle)",
            flip(&good, 3, 120, 3),
            Rejection::BadSignature,
        ),
        case(
            "payload bit flip (last byte)",
            flip(&good, 3, usize::MAX, 7),
            Rejection::BadSignature,
        ),
        case(
            "signature bit flip (R)",
            flip(&good, 4, 0, 0),
            Rejection::BadSignature,
        ),
        case(
            "signature bit flip (s)",
            flip(&good, 4, 40, 5),
            Rejection::BadSignature,
        ),
        case(
            "signature all zeros",
            {
                let mut f = fields(&good);
                f[4] = encode(&[0u8; 64]);
                join(&f)
            },
            Rejection::BadSignature,
        ),
        case(
            "non-canonical signature scalar s + L",
            non_canonical_s(&good),
            Rejection::BadSignature,
        ),
        case(
            "truncated by ten characters",
            good[..good.len() - 10].to_string(),
            Rejection::Malformed,
        ),
        case(
            "truncated to half",
            good[..good.len() / 2].to_string(),
            Rejection::Malformed,
        ),
        case(
            "signature field missing",
            good[..good.rfind('.').expect("dot")].to_string(),
            Rejection::Malformed,
        ),
        case("trailing character", format!("{good}A"), Rejection::Malformed),
        case("trailing field", format!("{good}.extra"), Rejection::Malformed),
        case(
            "padding added to the signature",
            format!("{good}=="),
            Rejection::Malformed,
        ),
        case(
            "non-canonical trailing bits",
            join(&sig_trailing_bits),
            Rejection::Malformed,
        ),
        case(
            "standard base64 alphabet",
            {
                let mut f = fields(&good);
                f[3] = base64::engine::general_purpose::STANDARD_NO_PAD.encode(decode(&f[3]));
                f[3].push_str("+/");
                join(&f)
            },
            Rejection::Malformed,
        ),
        case(
            "whitespace inside",
            good.replacen('.', ". ", 1),
            Rejection::Malformed,
        ),
        case(
            "other prefix",
            good.replacen("autosd.", "autosd2.", 1),
            Rejection::Malformed,
        ),
        case(
            "duplicate JSON field (re-signed)",
            fx.sign(dup_payload.as_bytes()),
            Rejection::Malformed,
        ),
        case(
            "unknown JSON field (re-signed)",
            fx.with(|c| c["admin"] = json!(true)),
            Rejection::Malformed,
        ),
        case(
            "missing JSON field (re-signed)",
            fx.with(|c| {
                c.as_object_mut().expect("obj").remove("exp");
            }),
            Rejection::Malformed,
        ),
        case(
            "unknown claims version (re-signed)",
            fx.with(|c| c["v"] = json!(2)),
            Rejection::Malformed,
        ),
        case(
            "payload is not JSON (re-signed)",
            fx.sign(b"grant: yes"),
            Rejection::Malformed,
        ),
        case(
            "whitespace around the JSON (re-signed)",
            fx.sign(format!(" {} ", serde_json::to_string(&fx.claims()).expect("json")).as_bytes()),
            Rejection::Malformed,
        ),
        case(
            "kid inside differs from envelope (re-signed)",
            fx.with(|c| c["kid"] = json!("k-0000000000000000")),
            Rejection::Malformed,
        ),
        case(
            "nbf after exp (re-signed)",
            fx.with(|c| c["nbf"] = json!(fx.now + 7200)),
            Rejection::Malformed,
        ),
        case(
            "path-like grant id (re-signed)",
            fx.with(|c| c["gid"] = json!("../../etc/passwd")),
            Rejection::Malformed,
        ),
        case(
            "payload of another artifact type",
            revocation_as_grant.clone(),
            Rejection::Malformed,
        ),
        case(
            "another artifact type relabelled as grant",
            revocation_as_grant.replacen(".revocations.", ".grant.", 1),
            Rejection::BadSignature,
        ),
        case(
            "re-signed by an untrusted key",
            sign_artifact(&untrusted, ArtifactKind::Grant, &untrusted_claims),
            Rejection::UnknownKey,
        ),
        case(
            "untrusted key claiming the trusted kid",
            sign_artifact(
                &untrusted,
                ArtifactKind::Grant,
                &serde_json::to_vec(&fx.claims()).expect("json"),
            )
            .replacen(untrusted.kid().as_str(), fx.key.kid().as_str(), 1),
            Rejection::BadSignature,
        ),
        case(
            "other audience (re-signed)",
            fx.with(|c| c["aud"] = json!("someone-else")),
            Rejection::BindingMismatch,
        ),
        case(
            "expired",
            fx.with(|c| {
                c["iat"] = json!(fx.now - 3 * 3600);
                c["nbf"] = json!(fx.now - 3 * 3600);
                c["exp"] = json!(fx.now - 2 * 3600);
            }),
            Rejection::Expired,
        ),
        case(
            "not yet valid",
            fx.with(|c| {
                c["nbf"] = json!(fx.now + 3600);
                c["exp"] = json!(fx.now + 7200);
            }),
            Rejection::NotYetValid,
        ),
        case(
            "issued in the future",
            fx.with(|c| {
                c["iat"] = json!(fx.now + 600);
                c["nbf"] = json!(fx.now + 600);
                c["exp"] = json!(fx.now + 3600);
            }),
            Rejection::NotYetValid,
        ),
        case(
            "iat before the key's validity",
            fx.with(|c| {
                c["iat"] = json!(fx.now - 40 * DAY);
                c["nbf"] = json!(fx.now - 60);
                c["exp"] = json!(fx.now + 3600);
            }),
            Rejection::RetiredKey,
        ),
        case(
            "break-glass for 3 hours",
            fx.with(|c| {
                c["break_glass"] = json!(true);
                c["exp"] = json!(fx.now - 60 + 3 * 3600);
            }),
            Rejection::LifetimeExceeded,
        ),
        case(
            "normal grant over the 720 h cap",
            fx.with(|c| c["exp"] = json!(fx.now - 60 + 721 * 3600)),
            Rejection::LifetimeExceeded,
        ),
        case("revoked grant id", revoked_token, Rejection::Revoked),
        case("1 MiB token", huge, Rejection::Malformed),
        case(
            "100 KiB token",
            format!("{good}{}", "A".repeat(100 * 1024 - good.len() - 1)),
            Rejection::Malformed,
        ),
    ];
    let scoped = |name, project, env, capability, want| Case {
        name,
        token: good.clone(),
        project: Some(project),
        env,
        capability,
        repository: None,
        want,
    };
    cases.push(scoped(
        "wrong project",
        "their-project",
        Some("staging"),
        Some(Capability::Deploy),
        Rejection::ProjectOutOfScope,
    ));
    cases.push(scoped(
        "wrong environment",
        "my-project",
        Some("prod"),
        Some(Capability::Deploy),
        Rejection::EnvironmentNotAllowed,
    ));
    cases.push(scoped(
        "wrong capability",
        "my-project",
        Some("staging"),
        Some(Capability::Heal),
        Rejection::CapabilityNotAllowed,
    ));
    cases.push(scoped(
        "push not granted",
        "my-project",
        None,
        Some(Capability::Push),
        Rejection::CapabilityNotAllowed,
    ));
    let bound = fx.with(|c| c["bind"] = json!({"repository": "acme/site", "ref": "refs/heads/main"}));
    let mut wrong_repo = case("wrong repository", bound.clone(), Rejection::BindingMismatch);
    wrong_repo.repository = Some("evil/fork");
    cases.push(wrong_repo);
    cases.push(case(
        "bound grant used outside GitHub",
        bound,
        Rejection::BindingMismatch,
    ));
    let env_bound = fx.with(|c| c["bind"] = json!({"environment": "staging"}));
    let mut wrong_env_binding = case(
        "environment binding mismatch",
        env_bound,
        Rejection::BindingMismatch,
    );
    wrong_env_binding.project = Some("my-project");
    wrong_env_binding.env = Some("qa");
    cases.push(wrong_env_binding);

    assert!(cases.len() >= 25, "the suite has {} cases", cases.len());
    // Every reason in the closed set except the key lifecycle ones (next test) is exercised.
    for r in Rejection::ALL {
        if r != Rejection::RetiredKey {
            assert!(cases.iter().any(|c| c.want == r), "no case for {r:?}");
        }
    }
    assert_all_rejected(&fx.home, &pristine);
    assert_all_rejected(&fx.home, &cases);

    // An empty token is malformed in-process; on the command line it counts as no grant.
    assert_eq!(
        fx.verifier().verify("", unix_now(), &Check::default()),
        Err(Rejection::Malformed)
    );
    expect(
        &fx.home,
        &["preauth", "verify", ""],
        crate::preauth::EXIT_PREAUTH_REQUIRED,
    );

    // The untampered token does verify, so the rejections above are the tampering's doing.
    let ok = fx.verifier().verify(&good, unix_now(), &Check::default());
    assert_eq!(ok.map(|g| g.gid).as_deref(), Ok("g-0123456789abcdef0123"));
}

#[test]
fn retired_and_revoked_keys_and_iat_after_rotation_are_rejected() {
    let fx = fixture();
    let before_rotation = fx.good();
    expect(&fx.home, &["preauth", "rotate-keys"], 0);
    // The old key verifies what it issued before the rotation...
    let v = fx.verifier();
    assert!(v.verify(&before_rotation, unix_now(), &Check::default()).is_ok());
    // ...but not a grant it claims to have issued after it.
    let after = fx.with(|c| {
        c["iat"] = json!(unix_now() + 30);
        c["nbf"] = json!(unix_now() + 30);
    });
    let mut cases = vec![case(
        "iat after the key was rotated out",
        after,
        Rejection::RetiredKey,
    )];
    assert_all_rejected(&fx.home, &cases);

    // A grant from the second key, which --revoke-old then kills at once.
    let (_, by_second_key) = create(&fx.home, &["--project-ids", "p", "--auto-push"]);
    expect(&fx.home, &["preauth", "rotate-keys", "--revoke-old"], 0);
    cases = vec![case(
        "revoked kid (rotate-keys --revoke-old)",
        by_second_key,
        Rejection::RetiredKey,
    )];
    assert_all_rejected(&fx.home, &cases);
    // The first key was only rotated: its earlier grant still verifies.
    assert!(
        fx.verifier()
            .verify(&before_rotation, unix_now(), &Check::default())
            .is_ok()
    );

    let other = temp_home();
    init(other.path());
    let (_, token_b) = create(other.path(), &["--project-ids", "p", "--auto-push"]);
    expect(other.path(), &["preauth", "init-keys", "--force"], 0);
    cases = vec![case(
        "retired kid (init-keys --force)",
        token_b,
        Rejection::RetiredKey,
    )];
    assert_all_rejected(other.path(), &cases);
}

/// One random edit of a token's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    FlipBit(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
    Swap(usize, usize),
}

fn apply(token: &str, muts: &[Mutation]) -> String {
    let mut b = token.as_bytes().to_vec();
    for m in muts {
        let n = b.len().max(1);
        match *m {
            Mutation::Replace(i, c) => {
                if !b.is_empty() {
                    b[i % n] = c;
                }
            }
            Mutation::FlipBit(i, bit) => {
                if !b.is_empty() {
                    b[i % n] ^= 1 << (bit % 8);
                }
            }
            Mutation::Delete(i) => {
                if !b.is_empty() {
                    b.remove(i % n);
                }
            }
            Mutation::Insert(i, c) => b.insert(i % (b.len() + 1), c),
            Mutation::Truncate(i) => b.truncate(i % n),
            Mutation::Swap(i, j) => {
                if !b.is_empty() {
                    b.swap(i % n, j % n);
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn random_mutations_of_a_valid_token_never_verify() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let fx = fixture();
    let good = fx.good();
    let verifier = fx.verifier();
    let now = unix_now();
    assert!(verifier.verify(&good, now, &Check::default()).is_ok());
    // Favour bytes a token is made of, so many mutants still look like tokens.
    let token_byte = prop_oneof![
        4 => proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.".to_vec()),
        1 => any::<u8>(),
    ];
    let mutation = prop_oneof![
        (any::<usize>(), token_byte.clone()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), token_byte).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::Swap(i, j)),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(mutation, 1..4), |muts| {
            let mutated = apply(&good, &muts);
            if mutated == good {
                return Ok(()); // e.g. swapping two equal characters: not a mutation
            }
            let verdict = verifier.verify(&mutated, now, &Check::default());
            prop_assert!(verdict.is_err(), "mutant verified: {muts:?}");
            Ok(())
        })
        .expect("no mutation of a valid token verifies");
}
