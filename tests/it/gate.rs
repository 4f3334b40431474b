//! Black-box tests of the gate through the commands that exist today (`init`, `halt`,
//! `resume`, `status`, `policy show`): project file errors, confirmation without a TTY,
//! grants per policy, the kill switch across machines (git store), and secrecy.
//! The full operation × environment × grant × halt table is a unit test (src/policy/tests.rs,
//! src/ops/guard/tests.rs): deploy and friends do not exist as commands yet.
use crate::common::{Out, autosd, create_grant_json};
use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

const EXIT_USAGE: i32 = 2;
const EXIT_CONFIG_INVALID: i32 = 6;
const EXIT_CONFIG_MISSING: i32 = 7;
const EXIT_PROJECT_MISMATCH: i32 = 8;
const EXIT_PREAUTH_REQUIRED: i32 = 10;
const EXIT_PREAUTH_INVALID: i32 = 11;
const EXIT_ENV_INVALID: i32 = 20;
const EXIT_CONFIRM_REQUIRED: i32 = 22;
const EXIT_CONFIG_EXISTS: i32 = 25;

/// A temp home plus a git-less repository directory `repo/` inside it.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let site = Site {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fs::create_dir_all(site.repo()).expect("mkdir repo");
        site
    }

    /// A site whose repository has a project file for `shop` (the default template).
    fn with_project() -> Self {
        let site = Site::new();
        site.expect(&["init", "--project", "shop"], 0);
        site
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn config_path(&self) -> PathBuf {
        self.repo().join(".autosd/config.yml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = autosd(&self.home());
        cmd.current_dir(self.repo())
            .args(args)
            .timeout(Duration::from_secs(60));
        cmd
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = self.cmd(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Out::from_output(cmd.output().expect("run autosd"))
    }

    #[track_caller]
    fn expect(&self, args: &[&str], code: i32) -> Out {
        self.run_with(args, &[]).exited(code, args)
    }

    fn status_json(&self) -> Value {
        self.expect(&["status", "--project", "shop", "--output", "json"], 0)
            .json()
    }

    fn halted(&self) -> bool {
        self.status_json()["halt"]["halted"]
            .as_bool()
            .expect("halted flag")
    }

    fn audit_log(&self) -> String {
        fs::read_to_string(self.home().join("audit.log.jsonl")).unwrap_or_default()
    }

    fn audit_records(&self) -> Vec<Value> {
        self.audit_log()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("record"))
            .collect()
    }

    /// Creates a grant in this site's home; returns (grant id, token).
    fn grant(&self, extra: &[&str]) -> (String, String) {
        if !self.home().join("trust").exists() {
            self.expect(&["preauth", "init-keys"], 0);
        }
        let v = self.expect(&create_grant_json("shop", extra), 0).json();
        (
            v["grant_id"].as_str().expect("grant_id").to_string(),
            v["token"].as_str().expect("token").to_string(),
        )
    }
}

/// Commands that read the project file, as a user in the repository spells them.
const PROJECT_FILE_READERS: [&[&str]; 4] = [
    &["status", "--project", "shop"],
    &["halt", "--project", "shop"],
    &["resume", "--project", "shop", "--force"],
    &["policy", "show"],
];

/// `resume --force` with `grant`: the answer to a halt once confirmation is out of the way.
fn forced_resume(grant: &str) -> [&str; 6] {
    ["resume", "--project", "shop", "--force", "--preauth-grant", grant]
}

/// A project file where `qa` requires grants (so resume needs a break-glass grant).
const STRICT: &str =
    "version: 1\nproject: shop\nenvironments:\n  dev:\n  qa:\n    require_grant: true\n  prod:\n";

// ------------------------------------------------------------------ project file

#[test]
fn init_writes_a_documented_file_and_refuses_to_overwrite() {
    let site = Site::new();
    let out = site.expect(&["init", "--project", "shop"], 0);
    assert!(out.stdout.contains("wrote"), "{}", out.stdout);
    let text = fs::read_to_string(site.config_path()).expect("config written");
    assert!(text.contains("# autosd project file") && text.contains("project: shop"));
    fs::write(site.config_path(), "# edited\n").expect("edit");
    let out = site.expect(&["init", "--project", "shop"], EXIT_CONFIG_EXISTS);
    assert!(
        out.stderr.contains("error[AUTOSD-CONFIG-EXISTS]"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_to_string(site.config_path()).expect("kept"),
        "# edited\n"
    );
    let out = site.expect(&["init", "--project", "shop", "--force", "--output", "json"], 0);
    assert_eq!(out.json()["replaced"], Value::Bool(true));
    site.expect(&["policy", "show", "--project", "shop"], 0);
    site.expect(&["init", "--project", "bad id!"], EXIT_USAGE);
}

#[test]
fn project_file_is_found_from_a_subdirectory_and_at_the_git_root() {
    let site = Site::new();
    fs::create_dir_all(site.repo().join(".git")).expect("fake git dir");
    let sub = site.repo().join("src/deep");
    fs::create_dir_all(&sub).expect("mkdir");
    let mut init = autosd(&site.home());
    init.current_dir(&sub).args(["init", "--project", "shop"]);
    assert_eq!(init.output().expect("run").status.code(), Some(0));
    assert!(site.config_path().exists(), "written at the repository root");
    let mut status = autosd(&site.home());
    status.current_dir(&sub).args(["status", "--project", "shop"]);
    assert_eq!(status.output().expect("run").status.code(), Some(0));
}

#[test]
fn malformed_project_file_names_file_and_line() {
    let site = Site::with_project();
    fs::write(
        site.config_path(),
        "version: 1\nproject: shop\nenvironments:\n  dev:\n    prodution: true\n",
    )
    .expect("write");
    for args in PROJECT_FILE_READERS {
        let out = site.expect(args, EXIT_CONFIG_INVALID);
        assert!(
            out.stderr.contains("error[AUTOSD-CONFIG-INVALID]") && out.stderr.contains("config.yml:5:"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("unknown field `prodution`"), "{}", out.stderr);
    }
    // several problems are all reported, each with its line
    fs::write(
        site.config_path(),
        "version: 1\nproject: shop\nenvironments:\n  prod:\n    require_grant: false\nstate:\n  backend: s3\n",
    )
    .expect("write");
    let out = site.expect(&["status", "--project", "shop"], EXIT_CONFIG_INVALID);
    assert!(
        out.stderr.contains("config.yml:5:") && out.stderr.contains("config.yml:7:"),
        "{}",
        out.stderr
    );
    assert!(!site.halted_file_exists());
}

impl Site {
    fn halted_file_exists(&self) -> bool {
        self.home().join("state/halt/shop.json").exists()
    }
}

#[test]
fn missing_project_file_is_reported() {
    let site = Site::new();
    for args in PROJECT_FILE_READERS {
        let out = site.expect(args, EXIT_CONFIG_MISSING);
        assert!(
            out.stderr.contains("error[AUTOSD-CONFIG-MISSING]"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("autosd init --project"), "{}", out.stderr);
    }
}

#[test]
fn project_flag_must_match_the_project_file() {
    let site = Site::with_project();
    for args in [
        &["status", "--project", "other"][..],
        &["halt", "--project", "other"],
        &["resume", "--project", "other", "--force"],
        &["policy", "show", "--project", "other"],
    ] {
        let out = site.expect(args, EXIT_PROJECT_MISMATCH);
        assert!(
            out.stderr.contains("error[AUTOSD-PROJECT-MISMATCH]"),
            "{}",
            out.stderr
        );
    }
    assert!(!site.halted_file_exists(), "a mismatched halt changed nothing");
    site.expect(&["halt"], EXIT_USAGE);
}

#[test]
fn unknown_environment_is_refused() {
    let site = Site::with_project();
    let out = site.expect(&["policy", "show", "--env", "production"], EXIT_ENV_INVALID);
    assert!(
        out.stderr.contains("error[AUTOSD-ENV-INVALID]") && out.stderr.contains("dev, staging, prod"),
        "{}",
        out.stderr
    );
}

// ------------------------------------------------------------------ policy show

#[test]
fn policy_show_lists_requirements_and_what_a_grant_allows() {
    let site = Site::with_project();
    let v = site.expect(&["policy", "show", "--output", "json"], 0).json();
    let rule = |v: &Value, op: &str, env: Option<&str>| -> Value {
        v["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["operation"] == op && r["env"].as_str() == env)
            .cloned()
            .unwrap_or_else(|| panic!("no rule {op} {env:?}"))
    };
    assert_eq!(rule(&v, "deploy", Some("prod"))["grant_required"], true);
    assert_eq!(rule(&v, "deploy", Some("prod"))["confirmation"], true);
    assert_eq!(rule(&v, "deploy", Some("dev"))["grant_required"], false);
    assert_eq!(
        rule(&v, "rollback", Some("prod"))["while_halted"],
        "break-glass only"
    );
    assert_eq!(rule(&v, "halt", None)["grant_required"], false);

    let (gid, _) = site.grant(&["--auto-deploy-prod", "--auto-rollback", "--expires-in-hours", "1"]);
    let v = site
        .expect(
            &["policy", "show", "--preauth-grant", &gid, "--output", "json"],
            0,
        )
        .json();
    assert_eq!(v["grant"]["grant_id"], gid.as_str());
    assert_eq!(rule(&v, "deploy", Some("prod"))["grant_allows"], true);
    assert_eq!(rule(&v, "rollback", Some("prod"))["grant_allows"], true);
    assert_eq!(rule(&v, "deploy", Some("dev"))["grant_allows"], false);
    assert_eq!(
        rule(&v, "deploy", Some("dev"))["grant_denied"]["code"],
        "AUTOSD-PREAUTH-INVALID"
    );
    assert_eq!(rule(&v, "patch", None)["grant_allows"], false);
    assert_eq!(rule(&v, "resume", None)["grant_allows"], false);
    let human = site.expect(&["policy", "show", "--preauth-grant", &gid, "--env", "prod"], 0);
    assert!(
        human.stdout.contains("THIS GRANT") && human.stdout.contains("ALLOWED"),
        "{}",
        human.stdout
    );
    assert!(
        !human.stdout.contains("staging"),
        "--env filters: {}",
        human.stdout
    );
}

// ------------------------------------------------------------------ confirmation

#[test]
fn resume_without_tty_or_force_fails_at_once_with_stdin_closed() {
    let site = Site::with_project();
    site.expect(&["halt", "--project", "shop"], 0);
    // stdin closed outright (fd 0 not open at all)
    let bin = assert_cmd::cargo::cargo_bin("autosd");
    let mut cmd = Command::new("sh");
    cmd.current_dir(site.repo())
        .env("AUTOSD_HOME", site.home())
        .args([
            "-c",
            "exec \"$0\" resume --project shop <&-",
            bin.to_str().expect("utf8"),
        ])
        .timeout(Duration::from_secs(20));
    let out = Out::from_output(cmd.output().expect("run"));
    assert_eq!(out.code, EXIT_CONFIRM_REQUIRED, "{}", out.stderr);
    assert!(
        out.stderr.contains("error[AUTOSD-CONFIRM-REQUIRED]"),
        "{}",
        out.stderr
    );
    // stdin from /dev/null
    site.expect(&["resume", "--project", "shop"], EXIT_CONFIRM_REQUIRED);
    assert!(site.halted(), "nothing was resumed");
}

#[test]
fn resume_with_stdin_a_pipe_never_reads_it() {
    let site = Site::with_project();
    site.expect(&["halt", "--project", "shop"], 0);
    // a "y" waiting in the pipe must not be taken as consent
    let mut cmd = site.cmd(&["resume", "--project", "shop"]);
    cmd.write_stdin("y\n");
    let out = Out::from_output(cmd.output().expect("run"));
    assert_eq!(out.code, EXIT_CONFIRM_REQUIRED, "{}", out.stderr);
    assert!(site.halted());

    // a pipe that stays open and silent must not make it wait
    let bin = assert_cmd::cargo::cargo_bin("autosd");
    let mut child = std::process::Command::new(bin)
        .current_dir(site.repo())
        .env_clear()
        .env("AUTOSD_HOME", site.home())
        .args(["resume", "--project", "shop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _held_open = child.stdin.take();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("autosd waited on an open stdin pipe");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert_eq!(status.code(), Some(EXIT_CONFIRM_REQUIRED), "{stderr}");
    assert!(site.halted());
}

#[test]
fn resume_with_force_proceeds_and_is_audited() {
    let site = Site::with_project();
    let out = site.expect(&["halt", "--project", "shop", "--reason", "db on fire"], 0);
    assert!(out.stdout.contains("audit checkpoint: size=1"), "{}", out.stdout);
    assert!(site.halted());
    let out = site.expect(&["resume", "--project", "shop", "--force", "--output", "json"], 0);
    let v = out.json();
    assert_eq!(v["halt"]["halted"], false);
    assert_eq!(v["halt"]["reason"], "db on fire");
    assert!(
        v["checkpoint"]["envelope"]
            .as_str()
            .is_some_and(|e| e.starts_with("autosd.checkpoint."))
    );
    assert!(!site.halted());
    let phases: Vec<(String, String)> = site
        .audit_records()
        .iter()
        .map(|r| {
            (
                r["op"].as_str().unwrap_or("").to_string(),
                r["phase"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [("halt", "event"), ("resume", "intent"), ("resume", "outcome")];
    assert_eq!(
        phases,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    site.expect(&["audit", "verify"], 0);
    let status = site.expect(&["status", "--project", "shop"], 0);
    assert!(
        status.stdout.contains("last checkpoint: size 3"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("the log still matches it"),
        "{}",
        status.stdout
    );
    // cutting the last record is caught against the last checkpoint
    let log = site.audit_log();
    let cut = log.trim_end().rfind('\n').expect("several lines") + 1;
    fs::write(site.home().join("audit.log.jsonl"), &log[..cut]).expect("truncate");
    let v = site.status_json();
    assert_eq!(v["audit"]["records"], 2);
    assert_eq!(v["audit"]["last_checkpoint"]["log_matches"], false, "{v}");
    assert!(
        v["audit"]["last_checkpoint"]["check"]
            .as_str()
            .is_some_and(|c| c.contains("TRUNCATED"))
    );
}

/// Runs `autosd ARGS` on a pseudo-terminal (util-linux `script`), typing `answer` once the
/// prompt had time to appear. `None` when `script` is not installed.
fn on_a_tty(site: &Site, args: &str, answer: &str) -> Option<Out> {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        return None;
    }
    let bin = assert_cmd::cargo::cargo_bin("autosd");
    let line = format!("{} {args}", bin.to_str().expect("utf8"));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(site.repo())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AUTOSD_HOME", site.home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::sleep(Duration::from_millis(700));
    std::io::Write::write_all(&mut stdin, answer.as_bytes()).expect("type the answer");
    drop(stdin);
    let out = Out::from_output(child.wait_with_output().expect("wait"));
    // A sandbox without pseudo-terminals cannot run this: `script` says so and fails.
    if format!("{}{}", out.stdout, out.stderr).contains("pseudo-terminal") {
        return None;
    }
    Some(out)
}

#[test]
fn on_a_tty_the_prompt_defaults_to_no_and_y_proceeds() {
    let site = Site::with_project();
    site.expect(&["halt", "--project", "shop"], 0);
    let Some(out) = on_a_tty(&site, "resume --project shop", "\n") else {
        return; // no `script` on this machine: the TTY path is unit-tested with a fake prompt
    };
    // `script -e` exits with the child's code and merges its stdout and stderr
    assert_eq!(out.code, 24, "{}", out.stdout);
    assert!(out.stdout.contains("Proceed? [y/N]"), "{}", out.stdout);
    assert!(out.stdout.contains("AUTOSD-CONFIRM-DECLINED"), "{}", out.stdout);
    assert!(site.halted(), "an empty answer is no");
    let Some(out) = on_a_tty(&site, "resume --project shop", "y\n") else {
        panic!("`script` worked once and then not");
    };
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("project `shop` resumed"), "{}", out.stdout);
    assert!(!site.halted());
}

// ------------------------------------------------------------------ grants per policy

#[test]
fn resume_needs_a_break_glass_grant_when_the_project_requires_grants() {
    let site = Site::with_project();
    fs::write(site.config_path(), STRICT).expect("strict config");
    site.expect(&["halt", "--project", "shop"], 0);
    let out = site.expect(&["resume", "--project", "shop", "--force"], EXIT_PREAUTH_REQUIRED);
    assert!(
        out.stderr.contains("error[AUTOSD-PREAUTH-REQUIRED]"),
        "{}",
        out.stderr
    );
    let (plain, _) = site.grant(&["--auto-deploy-prod", "--auto-rollback", "--expires-in-hours", "1"]);
    let out = site.expect(&forced_resume(&plain), EXIT_PREAUTH_INVALID);
    assert!(out.stderr.contains("break-glass"), "{}", out.stderr);
    let out = site.expect(&forced_resume("autosd.grant.forged"), EXIT_PREAUTH_INVALID);
    assert!(out.stderr.contains("grant rejected"), "{}", out.stderr);
    assert!(site.halted(), "no refused resume changed anything");
    let (glass, _) = site.grant(&["--auto-deploy-prod", "--break-glass", "--expires-in-hours", "1"]);
    site.expect(&forced_resume(&glass), 0);
    assert!(!site.halted());
    // every refusal is in the audit trail, with the grant id where one was verified
    let denied: Vec<Value> = site
        .audit_records()
        .into_iter()
        .filter(|r| r["phase"] == "denied")
        .collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert_eq!(denied[0]["decision"]["code"], "AUTOSD-PREAUTH-REQUIRED");
    assert_eq!(denied[1]["grant_id"], plain.as_str());
    let status = site.status_json();
    let used: Vec<&str> = status["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter_map(|g| g["grant_id"].as_str())
        .collect();
    assert!(
        used.contains(&plain.as_str()) && used.contains(&glass.as_str()),
        "{status}"
    );
}

#[test]
fn halt_needs_no_grant_even_where_everything_requires_one() {
    let site = Site::with_project();
    fs::write(site.config_path(), STRICT).expect("strict config");
    let out = site.expect(&["halt", "--project", "shop", "--reason", "stop"], 0);
    assert!(out.stdout.contains("project `shop` halted"), "{}", out.stdout);
    let again = site
        .expect(&["halt", "--project", "shop", "--output", "json"], 0)
        .json();
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["halt"]["reason"], "stop", "the first reason stays");
}

// ------------------------------------------------------------------ secrecy

#[test]
fn grant_token_and_github_token_never_leak() {
    let site = Site::with_project();
    fs::write(site.config_path(), STRICT).expect("strict config");
    let (_, token) = site.grant(&["--auto-deploy-prod", "--break-glass", "--expires-in-hours", "1"]);
    let github_token = "ghp_SUPERSECRETgithubTOKEN1234567890";
    let env = [
        ("GITHUB_TOKEN", github_token),
        ("AUTOSD_PREAUTH_GRANT", token.as_str()),
    ];
    let mut outputs = Vec::new();
    for args in [
        &["halt", "--project", "shop", "--verbose"][..],
        &["status", "--project", "shop", "--verbose"],
        &["resume", "--project", "shop", "--verbose"],
        &[
            "resume",
            "--project",
            "shop",
            "--force",
            "--verbose",
            "--output",
            "json",
        ],
        &["policy", "show", "--verbose", "--output", "json"],
    ] {
        let out = site.run_with(args, &env);
        outputs.push(format!("{}{}", out.stdout, out.stderr));
    }
    // the token passed as a flag, too (accepted form), and a forged one that is refused
    let out = site.run_with(&forced_resume(&token), &env);
    outputs.push(format!("{}{}", out.stdout, out.stderr));
    let forged = format!("{token}x");
    let out = site.run_with(&forced_resume(&forged), &env);
    assert_eq!(out.code, EXIT_PREAUTH_INVALID, "{}", out.stderr);
    outputs.push(format!("{}{}", out.stdout, out.stderr));

    let log = fs::read_to_string(site.repo().join("autosd.log")).expect("autosd.log written");
    assert!(!log.is_empty());
    let audit = site.audit_log();
    assert!(audit.contains("\"resume\""), "the runs were audited");
    let signature = &token[token.len() - 20..];
    for (what, text) in [("autosd.log", &log), ("audit log", &audit)]
        .into_iter()
        .chain(outputs.iter().map(|o| ("output", o)))
    {
        assert!(!text.contains(&token), "grant token in {what}");
        assert!(!text.contains(signature), "grant token tail in {what}");
        assert!(!text.contains(github_token), "GITHUB_TOKEN in {what}");
    }
}

// ------------------------------------------------------------------ git store

fn git_available() -> bool {
    std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn halt_set_through_the_git_store_stops_a_fresh_clone_elsewhere() {
    if !git_available() {
        // The CI image installs git (ci/run_ci.sh); a laptop without git cannot run this.
        return;
    }
    let laptop = Site::with_project();
    let ci = Site::with_project();
    let remote = laptop.dir.path().join("state.git");
    let status = std::process::Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(&remote)
        .status()
        .expect("git init");
    assert!(status.success());
    let remote = remote.to_str().expect("utf8").to_string();
    let flags = ["--state", "git", "--state-remote", remote.as_str()];
    let with = |base: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(flags.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |site: &Site, args: Vec<String>, code: i32| -> Out {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        site.expect(&refs, code)
    };
    run(
        &laptop,
        with(&["halt", "--project", "shop", "--reason", "from laptop"]),
        0,
    );
    // the CI machine has its own home and its own clone: only the remote is shared
    let v = run(&ci, with(&["status", "--project", "shop", "--output", "json"]), 0).json();
    assert_eq!(v["halt"]["halted"], true, "{v}");
    assert_eq!(v["halt"]["reason"], "from laptop");
    // the same, configured in the project file instead of flags
    let file = format!("version: 1\nproject: shop\nstate:\n  backend: git\n  remote: {remote}\n");
    fs::write(ci.config_path(), file).expect("write");
    let v = ci.status_json();
    assert_eq!(v["halt"]["halted"], true, "{v}");
    // the local store of the CI machine knows nothing: the flag overrides the file
    let v = ci
        .expect(
            &[
                "status",
                "--project",
                "shop",
                "--state",
                "local",
                "--output",
                "json",
            ],
            0,
        )
        .json();
    assert_eq!(v["halt"]["halted"], false);
    // CI resumes with its own break-glass grant; the laptop sees both the resume and, from
    // the shared audit log on the branch, which grant was used
    let (gid, _) = ci.grant(&["--auto-deploy-prod", "--break-glass", "--expires-in-hours", "1"]);
    ci.expect(&forced_resume(&gid), 0);
    let v = run(
        &laptop,
        with(&["status", "--project", "shop", "--output", "json"]),
        0,
    )
    .json();
    assert_eq!(v["halt"]["halted"], false, "{v}");
    assert!(
        v["grants_from"].as_str().is_some_and(|f| f.contains("git")),
        "{v}"
    );
    assert_eq!(v["grants"][0]["grant_id"], gid.as_str(), "{v}");
}

#[test]
fn unreachable_git_store_fails_closed() {
    if !git_available() {
        return;
    }
    let site = Site::with_project();
    site.expect(&["halt", "--project", "shop"], 0);
    let missing = site.dir.path().join("no-such-remote.git");
    let missing = missing.to_str().expect("utf8");
    let out = site.run_with(
        &[
            "resume",
            "--project",
            "shop",
            "--force",
            "--state",
            "git",
            "--state-remote",
            missing,
        ],
        &[],
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("error[AUTOSD-STATE-"), "{}", out.stderr);
    assert!(site.halted(), "the local halt is untouched");
}
