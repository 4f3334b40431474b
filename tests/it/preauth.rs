//! Black-box tests of `autosd preauth …`: every command, the OPERATIONS.md examples
//! verbatim, JSON output, concurrency, bad input and secrecy of tokens and keys.
use crate::common::{Out, autosd};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Exit codes from the error table (docs/grants.md).
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_HOME_UNUSABLE: i32 = 4;
pub const EXIT_STATE_CORRUPT: i32 = 5;
pub const EXIT_PREAUTH_REQUIRED: i32 = 10;
pub const EXIT_PREAUTH_INVALID: i32 = 11;
pub const EXIT_GRANT_REFUSED: i32 = 12;
pub const EXIT_GRANT_NOT_FOUND: i32 = 13;
pub const EXIT_KEY_EXISTS: i32 = 14;
pub const EXIT_KEY_MISSING: i32 = 15;
pub const EXIT_KEY_INSECURE: i32 = 16;
pub const EXIT_TRUST_INVALID: i32 = 17;

pub fn run_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = autosd(home);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Out::from_output(cmd.output().expect("run autosd"))
}

pub fn run(home: &Path, args: &[&str]) -> Out {
    run_env(home, args, &[])
}

/// Runs and asserts the exit code, showing the output when it differs.
#[track_caller]
pub fn expect(home: &Path, args: &[&str], code: i32) -> Out {
    run(home, args).exited(code, args)
}

pub fn temp_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn init(home: &Path) -> String {
    let out = expect(home, &["preauth", "init-keys", "--output", "json"], 0);
    out.json()["kid"].as_str().expect("kid").to_string()
}

/// The smallest grant there is: project `p`, push only.
const PUSH_ONLY: &[&str] = &["--project-ids", "p", "--auto-push"];

/// `preauth create-grant FLAGS…`.
fn create_grant<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["preauth", "create-grant"];
    args.extend_from_slice(flags);
    args
}

/// `GLOBAL… ARGS…`: global flags such as `--home DIR` go before the subcommand.
fn with_global<'a>(global: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
    global.iter().chain(args).copied().collect()
}

/// Creates a grant and returns (grant id, token).
pub fn create(home: &Path, extra: &[&str]) -> (String, String) {
    let mut args = create_grant(&["--output", "json"]);
    args.extend_from_slice(extra);
    let v = expect(home, &args, 0).json();
    (
        v["grant_id"].as_str().expect("grant_id").to_string(),
        v["token"].as_str().expect("token").to_string(),
    )
}

fn key_file(home: &Path) -> PathBuf {
    let dir = home.join("keys");
    fs::read_dir(&dir)
        .expect("keys dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "key"))
        .expect("a key file")
}

/// Every file below `dir`, recursively (to spot leftovers such as temp files).
pub(crate) fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn assert_no_temp_files(home: &Path) {
    let temps: Vec<_> = all_files(home)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "half-written files left: {temps:?}");
}

#[test]
fn init_keys_creates_a_private_key_0600_and_refuses_to_overwrite() {
    let home = temp_home();
    let h = home.path();
    let out = expect(h, &["preauth", "init-keys"], 0);
    assert!(out.stdout.starts_with("kid: k-"), "{}", out.stdout);
    let key = key_file(h);
    assert_eq!(
        fs::metadata(&key).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    assert!(h.join("trust/keys.json").is_file());
    assert!(h.join("trust/revocations.dsse").is_file());

    let again = expect(h, &["preauth", "init-keys"], EXIT_KEY_EXISTS);
    assert!(
        again.stderr.contains("error[AUTOSD-KEY-EXISTS]"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("hint:"));

    let forced = expect(h, &["preauth", "init-keys", "--force", "--output", "json"], 0).json();
    assert_eq!(forced["retired_kids"].as_array().expect("array").len(), 1);
    assert_ne!(forced["kid"], Value::Null);
    assert_eq!(forced["max_lifetime_hours"], 720);
}

#[test]
fn operations_md_examples_work_verbatim() {
    let home = temp_home();
    let h = home.path();
    expect(h, &["preauth", "init-keys"], 0);
    let staging = expect(
        h,
        &create_grant(&[
            "--project-ids",
            "my-project",
            "--auto-deploy-dev",
            "--auto-deploy-staging",
            "--no-auto-deploy-prod",
            "--expires-in-hours",
            "2",
        ]),
        0,
    );
    assert!(
        staging
            .stdout
            .contains("capabilities: auto_deploy_dev,auto_deploy_staging\n")
    );
    let prod = expect(
        h,
        &create_grant(&[
            "--project-ids",
            "my-project",
            "--auto-deploy-prod",
            "--auto-rollback",
            "--expires-in-hours",
            "1",
        ]),
        0,
    );
    assert!(
        prod.stdout
            .contains("capabilities: auto_deploy_prod,auto_rollback\n")
    );
    let bg = expect(
        h,
        &create_grant(&[
            "--project-ids",
            "my-project",
            "--auto-deploy-prod",
            "--break-glass",
            "--expires-in-hours",
            "2",
        ]),
        0,
    );
    assert!(bg.stdout.contains("break_glass: yes"));
    for out in [&staging, &prod, &bg] {
        assert!(out.stdout.starts_with("grant_id: g-"), "{}", out.stdout);
        let token_line = out.stdout.lines().last().expect("token line");
        assert!(token_line.starts_with("autosd.grant.k-") && !token_line.contains(' '));
    }
    let listed = expect(h, &["preauth", "list", "--active-only"], 0);
    assert_eq!(
        listed.stdout.lines().count(),
        4,
        "header + 3 grants:\n{}",
        listed.stdout
    );
    assert!(listed.stdout.starts_with("ID"));
    let gid = staging
        .stdout
        .lines()
        .next()
        .expect("line")
        .trim_start_matches("grant_id: ");
    let revoked = expect(h, &["preauth", "revoke", gid], 0);
    assert!(revoked.stdout.contains("revoked"));
}

#[test]
fn create_grant_json_and_least_privilege_defaults() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let v = expect(
        h,
        &create_grant(&[
            "--output",
            "json",
            "--project-ids",
            "a,b",
            "--project-ids",
            "c",
            "--auto-deploy-staging",
            "--auto-heal",
            "--env-scope",
            "qa",
            "--issuer",
            "alice",
            "--repository",
            "acme/site",
            "--ref",
            "main",
            "--environment",
            "staging",
            "--expires-in-hours",
            "0.5",
        ]),
        0,
    )
    .json();
    assert_eq!(v["schema_version"], 1);
    assert!(v["grant_id"].as_str().expect("id").starts_with("g-"));
    assert!(v["token"].as_str().expect("token").starts_with("autosd.grant."));
    assert!(v["expires_at"].as_str().expect("exp").ends_with('Z'));
    assert_eq!(v["projects"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(
        v["capabilities"],
        serde_json::json!({"auto_deploy_dev": false, "auto_deploy_staging": true, "auto_deploy_prod": false,
            "auto_rollback": false, "auto_heal": true, "auto_push": false})
    );
    assert_eq!(v["envs"], serde_json::json!(["staging", "qa"]));
    assert_eq!(v["issuer"], "alice");
    assert_eq!(v["bindings"]["repository"], "acme/site");
    assert_eq!(v["bindings"]["ref"], "refs/heads/main");
    assert_eq!(v["bindings"]["environment"], "staging");
    assert_eq!(v["break_glass"], false);
    let gid = v["grant_id"].as_str().expect("id");
    let copy = h.join("grants").join(format!("{gid}.json"));
    assert_eq!(
        fs::metadata(&copy).expect("copy").permissions().mode() & 0o777,
        0o600
    );

    // The last of --auto-deploy-prod / --no-auto-deploy-prod wins.
    let v = expect(
        h,
        &create_grant(&[
            "--output",
            "json",
            "--project-ids",
            "p",
            "--auto-deploy-prod",
            "--no-auto-deploy-prod",
            "--auto-push",
        ]),
        0,
    )
    .json();
    assert_eq!(v["capabilities"]["auto_deploy_prod"], false);
    assert_eq!(v["capabilities"]["auto_push"], true);

    // Nothing granted at all, or rollback with no environment: refused.
    let none = expect(h, &create_grant(&["--project-ids", "p"]), EXIT_GRANT_REFUSED);
    assert!(none.stderr.contains("allow nothing"));
    let refused: [(&[&str], i32); 4] = [
        (&["--project-ids", "p", "--auto-rollback"], EXIT_GRANT_REFUSED),
        (&["--auto-push"], EXIT_USAGE),
        (&["--project-ids", "../etc", "--auto-push"], EXIT_USAGE),
        (
            &["--project-ids", "p", "--auto-push", "--repository", "nope"],
            EXIT_USAGE,
        ),
    ];
    for (flags, code) in refused {
        expect(h, &create_grant(flags), code);
    }
}

#[test]
fn lifetime_limits_are_refused_with_clear_errors() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let with = |extra: &[&'static str]| -> Vec<&str> {
        let mut args = create_grant(&["--project-ids", "p", "--auto-deploy-prod"]);
        args.extend_from_slice(extra);
        args
    };
    let bg = expect(
        h,
        &with(&["--break-glass", "--expires-in-hours", "3"]),
        EXIT_GRANT_REFUSED,
    );
    assert!(
        bg.stderr
            .contains("error[AUTOSD-GRANT-REFUSED]: a break-glass grant may live at most 2 hours")
    );
    assert!(bg.stderr.contains("hint:"));
    expect(h, &with(&["--break-glass", "--expires-in-hours", "2"]), 0);
    expect(h, &with(&["--expires-in-hours", "0"]), EXIT_GRANT_REFUSED);
    let neg = expect(h, &with(&["--expires-in-hours", "-3"]), EXIT_GRANT_REFUSED);
    assert!(neg.stderr.contains("greater than zero"));
    expect(h, &with(&["--expires-in-hours", "721"]), EXIT_GRANT_REFUSED);
    expect(h, &with(&["--expires-in-hours", "720"]), 0);
    let bad = expect(h, &with(&["--expires-in-hours", "soon"]), EXIT_USAGE);
    assert!(bad.stderr.contains("error[AUTOSD-USAGE]"));
    expect(h, &with(&["--expires-in-hours", "inf"]), EXIT_USAGE);

    // The cap is configurable per trust store.
    let other = temp_home();
    expect(
        other.path(),
        &["preauth", "init-keys", "--max-lifetime-hours", "24"],
        0,
    );
    let mut args = create_grant(PUSH_ONLY);
    args.extend(["--expires-in-hours", "25"]);
    let refused = expect(other.path(), &args, EXIT_GRANT_REFUSED);
    assert!(refused.stderr.contains("at most 24 hours"));
}

#[test]
fn list_show_revoke_and_status() {
    let home = temp_home();
    let h = home.path();
    init(h);
    assert_eq!(expect(h, &["preauth", "list"], 0).stdout, "no grants\n");
    let (g1, _) = create(h, &["--project-ids", "p", "--auto-deploy-dev", "--issuer", "ann"]);
    let (g2, _) = create(h, &["--project-ids", "q", "--auto-push", "--break-glass"]);

    let table = expect(h, &["preauth", "list"], 0).stdout;
    let header = table.lines().next().expect("header");
    for col in [
        "ID",
        "ISSUER",
        "PROJECTS",
        "CAPABILITIES",
        "EXPIRES",
        "BREAK-GLASS",
        "STATUS",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(table.contains(&g1) && table.contains(&g2));

    let shown = expect(h, &["preauth", "show", &g1, "--output", "json"], 0).json();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["issuer"], "ann");
    assert!(shown.get("token").is_none(), "show must not print the token");

    let r = expect(
        h,
        &[
            "preauth",
            "revoke",
            &g1,
            "--reason",
            "laptop lost",
            "--output",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(r["grant_id"], g1.as_str());
    assert_eq!(r["already_revoked"], false);
    assert_eq!(r["revocations_version"], 2);
    let again = expect(h, &["preauth", "revoke", &g1, "--output", "json"], 0).json();
    assert_eq!(again["already_revoked"], true);
    assert_eq!(again["revocations_version"], 2);

    let all = expect(h, &["preauth", "list", "--output", "json"], 0).json();
    let statuses: Vec<(String, String)> = all["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .map(|g| {
            (
                g["grant_id"].as_str().expect("id").into(),
                g["status"].as_str().expect("s").into(),
            )
        })
        .collect();
    assert!(statuses.contains(&(g1.clone(), "revoked".into())));
    assert!(statuses.contains(&(g2.clone(), "active".into())));
    let active = expect(h, &["preauth", "list", "--active-only", "--output", "json"], 0).json();
    assert_eq!(active["grants"].as_array().expect("grants").len(), 1);
    assert_eq!(active["grants"][0]["grant_id"], g2.as_str());

    let shown = expect(h, &["preauth", "show", &g1], 0).stdout;
    assert!(shown.contains("status: revoked") && shown.contains("revocation reason: laptop lost"));
    expect(h, &["preauth", "verify", &g1], EXIT_PREAUTH_INVALID);
    expect(
        h,
        &["preauth", "show", "g-00000000000000000000"],
        EXIT_GRANT_NOT_FOUND,
    );
    expect(
        h,
        &["preauth", "revoke", "g-00000000000000000000"],
        EXIT_GRANT_NOT_FOUND,
    );
    expect(h, &["preauth", "show", "nonsense"], EXIT_USAGE);
}

#[test]
fn verify_prints_decision_and_reason() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let (gid, token) = create(
        h,
        &[
            "--project-ids",
            "my-project",
            "--auto-deploy-prod",
            "--auto-rollback",
        ],
    );
    let ok = expect(
        h,
        &[
            "preauth",
            "verify",
            &gid,
            "--project",
            "my-project",
            "--env",
            "prod",
            "--capability",
            "deploy",
        ],
        0,
    );
    assert!(
        ok.stdout.starts_with("decision: allow\nreason: grant "),
        "{}",
        ok.stdout
    );
    let js = expect(
        h,
        &[
            "preauth",
            "verify",
            &token,
            "--capability",
            "auto_deploy_prod",
            "--output",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(js["decision"], "allow");
    assert_eq!(js["grant_id"], gid.as_str());
    assert_eq!(js["checked"]["env"], "prod");

    let cases: [(&[&str], &str); 4] = [
        (&["--project", "other"], "project out of scope"),
        (
            &[
                "--project",
                "my-project",
                "--env",
                "staging",
                "--capability",
                "deploy",
            ],
            "environment not allowed",
        ),
        (
            &["--project", "my-project", "--env", "prod", "--capability", "heal"],
            "capability not allowed",
        ),
        (&["--capability", "push"], "capability not allowed"),
    ];
    for (extra, reason) in cases {
        let mut args = vec!["preauth", "verify", gid.as_str()];
        args.extend_from_slice(extra);
        let out = expect(h, &args, EXIT_PREAUTH_INVALID);
        assert!(
            out.stderr.contains(&format!(
                "error[AUTOSD-PREAUTH-INVALID]: grant rejected: {reason}"
            )),
            "{extra:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(&token));
    }
    let js = run(
        h,
        &["preauth", "verify", &gid, "--project", "x", "--output", "json"],
    );
    assert_eq!(js.code, EXIT_PREAUTH_INVALID);
    assert_eq!(js.json()["error"]["code"], "AUTOSD-PREAUTH-INVALID");

    // The env var is the fallback; nothing at all is PREAUTH-REQUIRED.
    let env = run_env(h, &["preauth", "verify"], &[("AUTOSD_PREAUTH_GRANT", &token)]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    let none = expect(h, &["preauth", "verify"], EXIT_PREAUTH_REQUIRED);
    assert!(none.stderr.contains("error[AUTOSD-PREAUTH-REQUIRED]"));
    expect(h, &["preauth", "verify", &gid, "--capability", "fly"], EXIT_USAGE);
    expect(
        h,
        &[
            "preauth",
            "verify",
            &gid,
            "--env",
            "dev",
            "--capability",
            "auto_deploy_prod",
        ],
        EXIT_USAGE,
    );
}

#[test]
fn export_trust_lets_ci_verify_and_revocation_reaches_ci() {
    let owner = temp_home();
    let o = owner.path();
    init(o);
    let (gid, token) = create(
        o,
        &[
            "--project-ids",
            "p",
            "--auto-deploy-prod",
            "--repository",
            "acme/site",
        ],
    );
    let repo = tempfile::tempdir().expect("repo");
    let trust = repo.path().join(".autosd/trust");
    let exported = expect(
        o,
        &[
            "preauth",
            "export-trust",
            trust.to_str().expect("utf8"),
            "--output",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(exported["revocations_version"], 1);
    assert!(trust.join("keys.json").is_file() && trust.join("revocations.dsse").is_file());
    let public = fs::read_to_string(trust.join("keys.json")).expect("keys.json");
    assert!(!public.contains("seed"), "the private key must not be exported");

    // CI: an empty home, the repository as cwd, the grant from the secret env var.
    let ci_home = temp_home();
    let ci = |env: &[(&str, &str)]| {
        let mut cmd = autosd(ci_home.path());
        cmd.current_dir(repo.path())
            .args(["preauth", "verify", "--project", "p", "--env", "prod"]);
        cmd.env("AUTOSD_PREAUTH_GRANT", &token);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run")
    };
    let ok = ci(&[("GITHUB_REPOSITORY", "acme/site")]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = ci(&[("GITHUB_REPOSITORY", "evil/fork")]);
    assert_eq!(wrong.status.code(), Some(EXIT_PREAUTH_INVALID));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("binding mismatch"));

    expect(o, &["preauth", "revoke", &gid], 0);
    expect(o, &["preauth", "export-trust", trust.to_str().expect("utf8")], 0);
    let revoked = ci(&[("GITHUB_REPOSITORY", "acme/site")]);
    assert_eq!(revoked.status.code(), Some(EXIT_PREAUTH_INVALID));
    assert!(String::from_utf8_lossy(&revoked.stderr).contains("grant rejected: revoked"));

    // Exporting an older home over a newer list would undo revocations: refused.
    let stale = temp_home();
    fs::create_dir_all(stale.path().join("trust")).expect("mkdir");
    for f in ["keys.json", "revocations.dsse"] {
        fs::copy(o.join("trust").join(f), stale.path().join("trust").join(f)).expect("copy");
    }
    expect(o, &["preauth", "revoke", &create(o, PUSH_ONLY).0], 0);
    expect(o, &["preauth", "export-trust", trust.to_str().expect("utf8")], 0);
    let rollback = expect(
        stale.path(),
        &["preauth", "export-trust", trust.to_str().expect("utf8")],
        EXIT_TRUST_INVALID,
    );
    assert!(
        rollback.stderr.contains("would undo revocations"),
        "{}",
        rollback.stderr
    );
}

#[test]
fn rotate_keys_keeps_old_grants_until_revoke_old() {
    let home = temp_home();
    let h = home.path();
    let first = init(h);
    let (old_gid, _) = create(h, PUSH_ONLY);
    let r = expect(h, &["preauth", "rotate-keys", "--output", "json"], 0).json();
    assert_eq!(r["old_kid"], first.as_str());
    assert_eq!(r["old_status"], "rotated");
    let second = r["new_kid"].as_str().expect("kid").to_string();
    assert_ne!(second, first);
    expect(h, &["preauth", "verify", &old_gid], 0);
    let (new_gid, _) = create(h, PUSH_ONLY);
    let shown = expect(h, &["preauth", "show", &new_gid, "--output", "json"], 0).json();
    assert_eq!(shown["kid"], second.as_str());
    let grant_keys = fs::read_dir(h.join("keys"))
        .expect("keys")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
        .count();
    assert_eq!(grant_keys, 1, "old private key removed");

    let r = expect(
        h,
        &["preauth", "rotate-keys", "--revoke-old", "--output", "json"],
        0,
    )
    .json();
    assert_eq!(r["old_status"], "revoked");
    expect(h, &["preauth", "verify", &old_gid], 0);
    let dead = expect(h, &["preauth", "verify", &new_gid], EXIT_PREAUTH_INVALID);
    assert!(
        dead.stderr.contains("grant rejected: retired key"),
        "{}",
        dead.stderr
    );
    let listed = expect(h, &["preauth", "list", "--output", "json"], 0).json();
    let status_of = |gid: &str| {
        listed["grants"]
            .as_array()
            .expect("grants")
            .iter()
            .find(|g| g["grant_id"] == gid)
            .map(|g| g["status"].as_str().expect("status").to_string())
    };
    assert_eq!(status_of(&new_gid).as_deref(), Some("revoked"));
    assert_eq!(status_of(&old_gid).as_deref(), Some("active"));
}

#[test]
fn parallel_revoke_and_create_lose_no_record() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let seeded: Vec<String> = (0..6).map(|_| create(h, PUSH_ONLY).0).collect();
    let created: Vec<String> = std::thread::scope(|s| {
        let revokers: Vec<_> = seeded
            .iter()
            .map(|gid| s.spawn(move || expect(h, &["preauth", "revoke", gid], 0)))
            .collect();
        let creators: Vec<_> = (0..6)
            .map(|_| s.spawn(move || create(h, &["--project-ids", "p", "--auto-deploy-dev"]).0))
            .collect();
        // Rotations racing the creators must not leave a grant signed by a key rotated out.
        let rotators: Vec<_> = (0..2)
            .map(|_| s.spawn(move || expect(h, &["preauth", "rotate-keys"], 0)))
            .collect();
        for r in revokers.into_iter().chain(rotators) {
            r.join().expect("revoker or rotator");
        }
        creators.into_iter().map(|c| c.join().expect("creator")).collect()
    });
    let listed = expect(h, &["preauth", "list", "--output", "json"], 0).json();
    let grants = listed["grants"].as_array().expect("grants");
    assert_eq!(grants.len(), 12);
    for g in grants {
        let id = g["grant_id"].as_str().expect("id").to_string();
        let want = if seeded.contains(&id) { "revoked" } else { "active" };
        assert!(seeded.contains(&id) || created.contains(&id));
        assert_eq!(g["status"], want, "{id}");
    }
    let again = expect(h, &["preauth", "revoke", &seeded[0], "--output", "json"], 0).json();
    // init 1, then one version per revocation (6) and per rotation (2, re-signed by the new key).
    assert_eq!(again["revocations_version"], 9, "no lost update");
    assert_no_temp_files(h);
}

#[test]
fn corrupt_grant_trust_and_revocation_files_fail_clearly() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let (gid, token) = create(h, PUSH_ONLY);
    let copy = h.join("grants").join(format!("{gid}.json"));
    let good_copy = fs::read(&copy).expect("copy");
    fs::write(&copy, "{\"v\":1,\"gid\":\"SENSITIVE-VALUE\"").expect("corrupt");
    for args in [
        vec!["preauth", "show", gid.as_str()],
        vec!["preauth", "list"],
        vec!["preauth", "verify", gid.as_str()],
    ] {
        let out = expect(h, &args, EXIT_STATE_CORRUPT);
        assert!(out.stderr.contains("error[AUTOSD-STATE-CORRUPT]") && out.stderr.contains("hint:"));
        assert!(!out.stderr.contains("SENSITIVE-VALUE"), "{}", out.stderr);
    }
    fs::write(&copy, &good_copy).expect("restore");

    let keys = h.join("trust/keys.json");
    let good_keys = fs::read(&keys).expect("keys");
    fs::write(
        &keys,
        b"{\"v\":1,\"max_lifetime_hours\":720,\"keys\":[],\"keys\":[]}",
    )
    .expect("dup");
    let out = expect(h, &["preauth", "verify", &token], EXIT_TRUST_INVALID);
    assert!(out.stderr.contains("duplicate field `keys`"), "{}", out.stderr);
    fs::write(&keys, b"not json").expect("garbage");
    expect(h, &create_grant(PUSH_ONLY), EXIT_TRUST_INVALID);
    fs::write(&keys, &good_keys).expect("restore");

    let list = h.join("trust/revocations.dsse");
    let good_list = fs::read_to_string(&list).expect("list");
    let mut bytes = good_list.clone().into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    fs::write(&list, &bytes).expect("tamper");
    let out = expect(h, &["preauth", "verify", &token], EXIT_TRUST_INVALID);
    assert!(out.stderr.contains("revocation list"), "{}", out.stderr);
    expect(h, &["preauth", "revoke", &gid], EXIT_TRUST_INVALID);
    fs::remove_file(&list).expect("rm");
    let out = expect(h, &["preauth", "verify", &token], EXIT_TRUST_INVALID);
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
    fs::write(&list, &good_list).expect("restore");
    expect(h, &["preauth", "verify", &token], 0);

    // A damaged private key: a clear error that never quotes the file.
    let key = key_file(h);
    let good_key = fs::read_to_string(&key).expect("key");
    let seed = serde_json::from_str::<Value>(&good_key).expect("json")["seed"]
        .as_str()
        .expect("seed")
        .to_string();
    fs::write(&key, good_key.replacen("\"v\": 1", "\"v\": \"one\"", 1)).expect("corrupt key");
    let out = expect(h, &create_grant(PUSH_ONLY), EXIT_STATE_CORRUPT);
    assert!(
        out.stderr.contains("private key file") && !out.stderr.contains(&seed),
        "{}",
        out.stderr
    );
    fs::write(&key, good_key.replacen(&seed, &format!("{seed}A"), 1)).expect("bad seed");
    let out = expect(h, &["preauth", "revoke", &gid], EXIT_STATE_CORRUPT);
    assert!(!out.stderr.contains(&seed), "{}", out.stderr);
    fs::write(&key, &good_key).expect("restore key");
    expect(h, &["preauth", "revoke", &gid], 0);
    assert_no_temp_files(h);
}

#[test]
fn insecure_key_mode_is_refused() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let (gid, _) = create(h, PUSH_ONLY);
    let key = key_file(h);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    for args in [
        create_grant(PUSH_ONLY),
        vec!["preauth", "revoke", gid.as_str()],
        vec!["preauth", "rotate-keys"],
    ] {
        let out = expect(h, &args, EXIT_KEY_INSECURE);
        assert!(out.stderr.contains("error[AUTOSD-KEY-INSECURE]") && out.stderr.contains("chmod 600"));
    }
    assert_eq!(
        fs::read_dir(h.join("grants")).expect("grants").count(),
        1,
        "nothing created"
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    expect(h, &create_grant(PUSH_ONLY), 0);
}

#[test]
fn missing_unusable_and_read_only_homes() {
    let dir = temp_home();
    let missing = dir.path().join("does-not-exist");
    let at_missing = ["--home", missing.to_str().expect("utf8")];
    let out = expect(
        dir.path(),
        &with_global(&at_missing, &create_grant(PUSH_ONLY)),
        EXIT_KEY_MISSING,
    );
    assert!(out.stderr.contains("init-keys"));
    let v = expect(
        dir.path(),
        &with_global(&at_missing, &["preauth", "verify", "autosd.grant.x"]),
        EXIT_TRUST_INVALID,
    );
    assert!(v.stderr.contains("no trust store"));
    for args in [
        vec!["preauth", "export-trust", "out"],
        vec!["preauth", "rotate-keys"],
        vec!["preauth", "revoke", "g-00000000000000000000"],
    ] {
        let full = with_global(&at_missing, &args);
        let out = run(dir.path(), &full);
        assert!(
            out.code == EXIT_KEY_MISSING || out.code == EXIT_GRANT_NOT_FOUND,
            "{full:?}: {}",
            out.stderr
        );
    }
    assert!(!missing.exists(), "failing commands must not create the home");

    let file_home = dir.path().join("a-file");
    fs::write(&file_home, b"x").expect("file");
    let init_keys = ["preauth", "init-keys"];
    let out = expect(
        dir.path(),
        &with_global(&["--home", file_home.to_str().expect("utf8")], &init_keys),
        EXIT_HOME_UNUSABLE,
    );
    assert!(out.stderr.contains("error[AUTOSD-HOME-UNUSABLE]"));

    // /proc refuses new directories even to root: a home that cannot be written.
    let out = expect(
        dir.path(),
        &with_global(&["--home", "/proc/autosd-test-home"], &init_keys),
        EXIT_HOME_UNUSABLE,
    );
    assert!(out.stderr.contains("hint:"));

    // A home without write permission (meaningful when not running as root).
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).expect("mkdir");
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).expect("chmod");
    let probe = fs::write(ro.join("probe"), b"x").is_ok();
    let out = run(
        dir.path(),
        &with_global(&["--home", ro.to_str().expect("utf8")], &init_keys),
    );
    if probe {
        // root ignores permissions: init succeeds and must leave a complete store.
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(ro.join("trust/keys.json").is_file());
    } else {
        assert_eq!(out.code, EXIT_HOME_UNUSABLE, "{}", out.stderr);
        assert!(!ro.join("keys").exists() || fs::read_dir(ro.join("keys")).expect("ls").count() == 0);
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).expect("chmod back");
}

#[test]
fn unknown_flags_and_values_are_usage_errors() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let out = expect(
        h,
        &[
            "preauth",
            "create-grant",
            "--project-ids",
            "p",
            "--auto-deploy-qa",
        ],
        EXIT_USAGE,
    );
    assert!(out.stderr.starts_with("error[AUTOSD-USAGE]"), "{}", out.stderr);
    expect(h, &["preauth", "list", "--output", "xml"], EXIT_USAGE);
    expect(h, &["preauth", "frobnicate"], EXIT_USAGE);
    expect(
        h,
        &["preauth", "init-keys", "--max-lifetime-hours", "-1"],
        EXIT_USAGE,
    );
    expect(h, &["preauth", "revoke", "g-1", "--reason", "x"], EXIT_USAGE);
}

#[test]
fn secrets_never_reach_the_log_errors_or_other_outputs() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let key_text = fs::read_to_string(key_file(h)).expect("key");
    let seed: String = serde_json::from_str::<Value>(&key_text).expect("json")["seed"]
        .as_str()
        .expect("seed")
        .to_string();
    let log = h.join("debug.log");
    // Verbose, so that everything a command might say about its input reaches the log.
    let verbose = ["--verbose", "--log-file", log.to_str().expect("utf8")];
    let created = expect(h, &with_global(&verbose, &create_grant(PUSH_ONLY)), 0);
    let token = created.stdout.lines().last().expect("token").to_string();
    let gid = created
        .stdout
        .lines()
        .next()
        .expect("id")
        .trim_start_matches("grant_id: ")
        .to_string();
    let mut tampered = token.clone();
    tampered.push('A');
    let mut outputs = vec![created.stderr.clone()];
    for args in [
        with_global(&verbose, &["preauth", "verify", &token]),
        with_global(&verbose, &["preauth", "verify", &tampered]),
        with_global(&verbose, &["preauth", "verify", "--output", "json", &tampered]),
        with_global(&verbose, &["preauth", "verify", "not-a-token-s3cr3t"]),
        with_global(&verbose, &["preauth", "list", "--output", "json"]),
        with_global(&verbose, &["preauth", "show", &gid, "--output", "json"]),
        with_global(&verbose, &["preauth", "revoke", &gid]),
        with_global(&verbose, &["preauth", "export-trust", "out"]),
        with_global(&verbose, &["preauth", "rotate-keys"]),
        // A usage error quoting the mistyped command line must not echo the token either.
        vec!["preauth", "verify", token.as_str(), token.as_str()],
        vec!["preauth", "create-grant", "--project-ids", "p", token.as_str()],
    ] {
        let out = run(h, &args);
        outputs.push(out.stdout);
        outputs.push(out.stderr);
    }
    let env_out = run_env(
        h,
        &with_global(&verbose, &["preauth", "verify", "--project", "zzz"]),
        &[("AUTOSD_PREAUTH_GRANT", &token)],
    );
    assert_eq!(env_out.code, EXIT_PREAUTH_INVALID);
    outputs.push(env_out.stdout);
    outputs.push(env_out.stderr);
    let log_text = fs::read_to_string(&log).expect("log written");
    assert!(
        log_text.contains("grant created"),
        "the log is in use: {log_text}"
    );
    outputs.push(log_text);
    let signature = token.rsplit('.').next().expect("sig").to_string();
    for text in &outputs {
        assert!(!text.contains(&signature), "token leaked: {text}");
        assert!(!text.contains(&seed), "private key leaked: {text}");
        assert!(!text.contains("s3cr3t"), "grant value echoed: {text}");
    }
}

fn audit_records(home: &Path) -> Vec<Value> {
    fs::read_to_string(home.join("audit.log.jsonl"))
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

#[test]
fn grant_management_is_audited_without_secrets() {
    let home = temp_home();
    let h = home.path();
    let kid = init(h);
    let (gid, token) = create(h, PUSH_ONLY);
    let revoked = expect(
        h,
        &[
            "preauth",
            "revoke",
            &gid,
            "--reason",
            "rotation drill",
            "--output",
            "json",
        ],
        0,
    )
    .json();
    // Each change is anchored by a signed checkpoint of the log's new head.
    assert_eq!(revoked["checkpoint"]["size"], 6);
    let envelope = revoked["checkpoint"]["envelope"].as_str().expect("envelope");
    assert!(envelope.starts_with("autosd.checkpoint."));
    let rotated = expect(h, &["preauth", "rotate-keys", "--revoke-old"], 0);
    assert!(
        rotated.stderr.contains("audit checkpoint: size=8"),
        "{}",
        rotated.stderr
    );
    assert!(
        rotated.stdout.starts_with("new kid: k-"),
        "stdout keeps its shape"
    );
    let records = audit_records(h);
    let ops: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["op"].as_str().expect("op").into(),
                r["phase"].as_str().expect("phase").into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        "preauth.init-keys",
        "preauth.create-grant",
        "preauth.revoke",
        "preauth.rotate-keys",
    ]
    .iter()
    .flat_map(|op| {
        [
            (op.to_string(), "intent".to_string()),
            (op.to_string(), "outcome".to_string()),
        ]
    })
    .collect();
    assert_eq!(ops, expected);
    let created = &records[2];
    assert_eq!(created["grant_id"], gid.as_str());
    assert_eq!(created["kid"], kid.as_str());
    assert_eq!(records[3]["outcome"]["status"], "ok");
    assert_eq!(records[2]["decision"]["verdict"], "allow");
    assert_eq!(records[4]["detail"]["reason"], "rotation drill");
    assert_eq!(records[6]["detail"]["old_kid"], kid.as_str());
    assert_eq!(records[6]["detail"]["old_status"], "revoked");
    let text = fs::read_to_string(h.join("audit.log.jsonl")).expect("log");
    let signature = token.rsplit('.').next().expect("sig");
    assert!(
        !text.contains(signature),
        "the token must not reach the audit log"
    );
    let verified = expect(h, &["audit", "verify"], 0);
    assert!(!verified.stdout.is_empty());
}

#[test]
fn unwritable_audit_log_fails_closed() {
    let home = temp_home();
    let h = home.path();
    init(h);
    let (gid, _) = create(h, PUSH_ONLY);
    let log = h.join("audit.log.jsonl");
    fs::remove_file(&log).expect("rm log");
    fs::create_dir(&log).expect("a directory where the log should be");
    let out = expect(h, &create_grant(PUSH_ONLY), 30);
    assert!(
        out.stderr.contains("error[AUTOSD-AUDIT-UNWRITABLE]"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_dir(h.join("grants")).expect("grants").count(),
        1,
        "no grant without an audit record"
    );
    expect(h, &["preauth", "revoke", &gid], 30);
    expect(h, &["preauth", "verify", &gid], 0);
    expect(h, &["preauth", "rotate-keys"], 30);
    assert_no_temp_files(h);
}

#[test]
fn docs_name_every_rejection_reason_and_preauth_exit_code() {
    let docs = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grants.md"))
        .expect("docs/grants.md");
    for r in autosd::grant::Rejection::ALL {
        assert!(
            docs.contains(&format!("`{}`", r.code())),
            "docs/grants.md lacks reason {}",
            r.code()
        );
    }
    for (code, exit) in [
        ("AUTOSD-PREAUTH-REQUIRED", EXIT_PREAUTH_REQUIRED),
        ("AUTOSD-PREAUTH-INVALID", EXIT_PREAUTH_INVALID),
        ("AUTOSD-GRANT-REFUSED", EXIT_GRANT_REFUSED),
        ("AUTOSD-GRANT-NOT-FOUND", EXIT_GRANT_NOT_FOUND),
        ("AUTOSD-KEY-EXISTS", EXIT_KEY_EXISTS),
        ("AUTOSD-KEY-MISSING", EXIT_KEY_MISSING),
        ("AUTOSD-KEY-INSECURE", EXIT_KEY_INSECURE),
        ("AUTOSD-TRUST-INVALID", EXIT_TRUST_INVALID),
    ] {
        let row = format!("| `{code}` | {exit} |");
        assert!(docs.contains(&row), "docs/grants.md lacks the row {row}");
        let listed = autosd::error::ErrorCode::ALL
            .iter()
            .find(|c| c.as_str() == code)
            .map(|c| i32::from(c.exit_code()));
        assert_eq!(listed, Some(exit), "{code} in the error table");
    }
}
