//! `autosd patch` end to end with real git: a repository with a bare local remote and a
//! workflow with fixable findings. Pushes through the gate (grant, halt, audit), refusals,
//! failing checks, a remote that rejects the push (pre-receive hook), the pull request
//! against a wiremock GitHub, `--dry-run`, and the user's dirty checkout left untouched.
use crate::common::{Out, autosd, create_grant_json};
use autosd::context::unix_now;
use autosd::grant::{ArtifactKind, load_signing_key, sign_artifact};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EXIT_PREAUTH_REQUIRED: i32 = 10;
const EXIT_PREAUTH_INVALID: i32 = 11;
const EXIT_HALTED: i32 = 23;
const EXIT_GITHUB_FORBIDDEN: i32 = 65;
const EXIT_GITHUB_REJECTED: i32 = 66;
const EXIT_CHECKS_FAILED: i32 = 100;
const EXIT_PUSH_REJECTED: i32 = 101;
const EXIT_BRANCH_REFUSED: i32 = 103;
const TOKEN: &str = "ghs_PATCHTESTTOKEN0123456789";

/// Two findings with fixes: no `permissions:` (missing-permissions) and a checkout that
/// keeps its credentials (persist-credentials).
const WORKFLOW: &str = "name: ci\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo hi\n";
const CLEAN_WORKFLOW: &str = "name: ci\non: push\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";

/// A home, a bare remote `remote.git` (default branch `main`) and a clone-like `repo/`
/// whose `main` is pushed there.
struct Site {
    dir: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Site {
    fn new(workflow: &str, config_extra: &str) -> Site {
        let site = Site {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let root = site.dir.path();
        fs::create_dir_all(site.home()).expect("home");
        git(root, &["init", "-q", "--bare", "-b", "main", "remote.git"]);
        git(root, &["init", "-q", "-b", "main", "repo"]);
        let repo = site.repo();
        git(&repo, &["config", "user.name", "Dev"]);
        git(&repo, &["config", "user.email", "dev@example.com"]);
        fs::create_dir_all(repo.join(".github/workflows")).expect("mkdir");
        fs::create_dir_all(repo.join(".autosd")).expect("mkdir");
        fs::write(repo.join(".github/workflows/ci.yml"), workflow).expect("workflow");
        fs::write(
            repo.join(".autosd/config.yml"),
            format!("version: 1\nproject: shop\n{config_extra}"),
        )
        .expect("config");
        fs::write(repo.join("README.md"), "shop\n").expect("readme");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "init"]);
        git(&repo, &["remote", "add", "origin", "../remote.git"]);
        git(&repo, &["push", "-q", "origin", "main"]);
        site
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn remote(&self) -> PathBuf {
        self.dir.path().join("remote.git")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = autosd(&self.home());
        // The debug log goes to the home: the checkout must stay exactly as the user left it.
        let log = self.home().join("autosd.log");
        cmd.current_dir(self.repo())
            .arg("--log-file")
            .arg(log)
            .args(args)
            .timeout(Duration::from_secs(120));
        for (k, v) in env {
            cmd.env(k, v);
        }
        Out::from_output(cmd.output().expect("run autosd"))
    }

    #[track_caller]
    fn expect(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> Out {
        self.run(args, env).exited(code, args)
    }

    /// The gated spelling, `patch --project shop --auto-push --preauth-grant GRANT`, then `extra`.
    #[track_caller]
    fn auto_push(&self, grant: &str, extra: &[&str], env: &[(&str, &str)], code: i32) -> Out {
        let mut args = vec![
            "patch",
            "--project",
            "shop",
            "--auto-push",
            "--preauth-grant",
            grant,
        ];
        args.extend_from_slice(extra);
        self.expect(&args, env, code)
    }

    /// Neither a new local branch nor anything pushed: the repository as `Site::new` left it.
    #[track_caller]
    fn assert_no_new_branch(&self) {
        assert_eq!(self.local_branches(), vec!["main".to_string()]);
        assert_eq!(self.remote_heads().len(), 1);
    }

    fn init_keys(&self) {
        if !self.home().join("trust").exists() {
            self.expect(&["preauth", "init-keys"], &[], 0);
        }
    }

    /// A grant for project `shop` with `extra` flags; returns its id.
    fn grant(&self, extra: &[&str]) -> String {
        self.init_keys();
        let flags = [&["--expires-in-hours", "1"], extra].concat();
        let v = self.expect(&create_grant_json("shop", &flags), &[], 0).json();
        v["grant_id"].as_str().expect("grant_id").to_string()
    }

    /// A validly signed auto_push grant token that expired an hour ago.
    fn expired_token(&self) -> String {
        self.init_keys();
        let now = unix_now();
        // The key must have been valid when the grant was issued.
        let keys = self.home().join("trust/keys.json");
        let mut v: Value = serde_json::from_slice(&fs::read(&keys).expect("keys")).expect("json");
        for k in v["keys"].as_array_mut().expect("keys") {
            k["not_before"] = json!(now - 86_400);
        }
        fs::write(&keys, serde_json::to_vec_pretty(&v).expect("json")).expect("write keys");
        let key = load_signing_key(&self.home()).expect("key");
        let claims = json!({
            "v": 1, "gid": "g-0123456789abcdef0123", "kid": key.kid().as_str(),
            "iss": "test", "aud": "autosd", "iat": now - 7200, "nbf": now - 7200,
            "exp": now - 3600, "projects": ["shop"], "deploy_envs": [], "envs": [],
            "rollback": false, "heal": false, "push": true, "break_glass": false, "bind": {}
        });
        sign_artifact(
            &key,
            ArtifactKind::Grant,
            &serde_json::to_vec(&claims).expect("json"),
        )
    }

    /// `refs/heads/...` of the remote, with their commits.
    fn remote_heads(&self) -> Vec<(String, String)> {
        let text = git(
            &self.remote(),
            &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"],
        );
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, s)| (r.to_string(), s.to_string()))
            .collect()
    }

    fn local_branches(&self) -> Vec<String> {
        git(&self.repo(), &["branch", "--format=%(refname:short)"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.home().join("audit.log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line"))
            .collect()
    }

    fn patch_records(&self) -> Vec<Value> {
        self.audit().into_iter().filter(|r| r["op"] == "patch").collect()
    }

    /// Makes the checkout dirty in every way: a modified tracked file, a staged change and an
    /// untracked file. Returns (status, unstaged diff, staged diff) to compare later.
    fn dirty(&self) -> (String, String, String) {
        let repo = self.repo();
        fs::write(repo.join("README.md"), "shop\nwork in progress\n").expect("edit");
        fs::write(repo.join("notes.txt"), "staged\n").expect("new");
        git(&repo, &["add", "notes.txt"]);
        fs::write(repo.join("scratch.txt"), "untracked\n").expect("untracked");
        // The workflow itself has an unstaged edit too: patch must work from HEAD.
        fs::write(
            repo.join(".github/workflows/ci.yml"),
            format!("{WORKFLOW}# local edit\n"),
        )
        .expect("edit workflow");
        self.snapshot()
    }

    fn snapshot(&self) -> (String, String, String) {
        let repo = self.repo();
        (
            git(&repo, &["status", "--porcelain", "--untracked-files=all"]),
            git(&repo, &["diff"]),
            git(&repo, &["diff", "--cached"]),
        )
    }
}

fn remote_main(site: &Site) -> String {
    site.remote_heads()
        .into_iter()
        .find(|(r, _)| r == "refs/heads/main")
        .map(|(_, s)| s)
        .expect("main on the remote")
}

#[test]
fn auto_push_with_a_grant_pushes_one_commit_on_a_new_branch_and_leaves_the_checkout_alone() {
    let site = Site::new(WORKFLOW, "");
    let gid = site.grant(&["--auto-push"]);
    let main_before = remote_main(&site);
    let head_before = git(&site.repo(), &["rev-parse", "HEAD"]);
    let before = site.dirty();
    let outputs = site.dir.path().join("github_output");
    let out = site.auto_push(
        &gid,
        &["--output", "json"],
        &[("GITHUB_OUTPUT", outputs.to_str().expect("utf-8"))],
        0,
    );
    let v = out.json();
    assert_eq!(v["status"], "pushed");
    let branch = v["branch"].as_str().expect("branch").to_string();
    let commit = v["commit"].as_str().expect("commit").to_string();
    assert!(branch.starts_with("autosd/patch-"), "{branch}");
    let rules: Vec<&str> = v["fixes"]
        .as_array()
        .expect("fixes")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(rules, vec!["missing-permissions", "persist-credentials"]);

    // The remote: main untouched, exactly one new commit on the new branch.
    let heads = site.remote_heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert_eq!(remote_main(&site), main_before);
    assert!(heads.contains(&(format!("refs/heads/{branch}"), commit.clone())));
    let remote = site.remote();
    assert_eq!(
        git(&remote, &["rev-list", "--count", &format!("main..{branch}")]),
        "1"
    );
    assert_eq!(git(&remote, &["rev-parse", &format!("{commit}^")]), main_before);
    let message = git(&remote, &["log", "-1", "--format=%B", &commit]);
    assert!(
        message.contains("- missing-permissions .github/workflows/ci.yml:4:")
            && message.contains("- persist-credentials .github/workflows/ci.yml:7:")
            && message.contains(&format!("Autosd-Grant: {gid}")),
        "{message}"
    );
    assert_eq!(
        git(&remote, &["diff", "--name-only", "main", &commit]),
        ".github/workflows/ci.yml"
    );
    let fixed = git(&remote, &["show", &format!("{commit}:.github/workflows/ci.yml")]);
    assert!(fixed.contains("persist-credentials: false") && fixed.contains("contents: read"));

    // The user's checkout: same HEAD, same status, same diffs, no stray worktree.
    assert_eq!(git(&site.repo(), &["rev-parse", "HEAD"]), head_before);
    assert_eq!(site.snapshot(), before);
    assert_eq!(git(&site.repo(), &["worktree", "list"]).lines().count(), 1);

    // Audited: intent, then an outcome naming the commit.
    let records = site.patch_records();
    let phases: Vec<&str> = records
        .iter()
        .map(|r| r["phase"].as_str().expect("phase"))
        .collect();
    assert_eq!(phases, vec!["intent", "outcome"]);
    assert_eq!(records[1]["grant_id"], gid.as_str());
    assert_eq!(records[1]["outcome"]["status"], "ok");
    assert!(
        records[1]["detail"]["reason"]
            .as_str()
            .expect("detail")
            .contains(&commit)
    );
    let text = fs::read_to_string(&outputs).expect("GITHUB_OUTPUT written");
    assert!(text.contains(&branch) && text.contains(&commit), "{text}");
    assert!(text.contains("branch<<") && text.contains("commit<<"), "{text}");
}

#[test]
fn without_auto_push_the_branch_stays_local_and_needs_no_grant() {
    let site = Site::new(WORKFLOW, "");
    let out = site.expect(&["patch", "--project", "shop"], &[], 0);
    let branch = site
        .local_branches()
        .into_iter()
        .find(|b| b.starts_with("autosd/patch-"))
        .expect("a local patch branch");
    assert!(out.stdout.contains(&branch), "{}", out.stdout);
    assert_eq!(site.remote_heads().len(), 1, "nothing pushed");
    let message = git(&site.repo(), &["log", "-1", "--format=%B", &branch]);
    assert!(message.contains("Autosd-Grant: none"), "{message}");
    assert!(
        site.patch_records().is_empty(),
        "no privileged act, no gate record"
    );
    // The same branch name twice is refused: patch never reuses a branch.
    let out = site.expect(
        &["patch", "--project", "shop", "--branch", &branch],
        &[],
        EXIT_BRANCH_REFUSED,
    );
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
}

#[test]
fn refusals_push_nothing_and_are_audited() {
    let site = Site::new(WORKFLOW, "");
    let main = remote_main(&site);
    let no_push = site.grant(&["--auto-deploy-dev"]);
    let push = site.grant(&["--auto-push"]);
    let expired = site.expired_token();

    let cases: Vec<(&str, Vec<&str>, i32, &str)> = vec![
        (
            "no grant",
            vec![],
            EXIT_PREAUTH_REQUIRED,
            "AUTOSD-PREAUTH-REQUIRED",
        ),
        (
            "grant without auto_push",
            vec!["--preauth-grant", &no_push],
            EXIT_PREAUTH_INVALID,
            "AUTOSD-PREAUTH-INVALID",
        ),
        (
            "expired grant",
            vec!["--preauth-grant", &expired],
            EXIT_PREAUTH_INVALID,
            "AUTOSD-PREAUTH-INVALID",
        ),
    ];
    for (name, extra, code, id) in cases {
        let mut args = vec!["patch", "--project", "shop", "--auto-push"];
        args.extend(extra);
        let out = site.expect(&args, &[], code);
        assert!(out.stderr.contains(id), "{name}: {}", out.stderr);
        assert!(
            !out.stderr.contains(&expired),
            "{name}: the token is never echoed"
        );
        let last = site.patch_records().pop().expect("a record");
        assert_eq!(last["phase"], "denied", "{name}");
        assert_eq!(last["decision"]["code"], id, "{name}");
    }
    let out = site.auto_push(&expired, &[], &[], EXIT_PREAUTH_INVALID);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);

    site.expect(&["halt", "--project", "shop", "--reason", "freeze"], &[], 0);
    let out = site.auto_push(&push, &[], &[], EXIT_HALTED);
    assert!(out.stderr.contains("AUTOSD-HALTED"), "{}", out.stderr);
    let last = site.patch_records().pop().expect("a record");
    assert_eq!(
        (last["phase"].as_str(), last["grant_id"].as_str()),
        (Some("denied"), Some(push.as_str()))
    );
    assert_eq!(last["decision"]["code"], "AUTOSD-HALTED");

    assert_eq!(site.remote_heads(), vec![("refs/heads/main".to_string(), main)]);
    assert_eq!(
        site.local_branches(),
        vec!["main".to_string()],
        "no branch left behind"
    );
    assert!(
        site.patch_records().iter().all(|r| r["phase"] == "denied"),
        "nothing was ever allowed"
    );
}

#[test]
fn failing_checks_commit_nothing() {
    let site = Site::new(
        WORKFLOW,
        "patch:\n  check: [sh, -c, \"echo check says no >&2; exit 3\"]\n  timeout_secs: 30\n",
    );
    let gid = site.grant(&["--auto-push"]);
    let out = site.auto_push(&gid, &[], &[], EXIT_CHECKS_FAILED);
    assert!(
        out.stderr.contains("AUTOSD-PATCH-CHECKS-FAILED")
            && out.stderr.contains("exit 3")
            && out.stderr.contains("check says no")
            && out.stderr.contains("nothing was committed"),
        "{}",
        out.stderr
    );
    site.assert_no_new_branch();
    assert!(site.patch_records().is_empty(), "refused before the gate");

    // A check that runs over its timeout is killed and fails the same way.
    let slow = Site::new(WORKFLOW, "patch:\n  check: [sleep, \"20\"]\n  timeout_secs: 1\n");
    let out = slow.expect(&["patch", "--project", "shop"], &[], EXIT_CHECKS_FAILED);
    assert!(out.stderr.contains("did not finish"), "{}", out.stderr);
    assert_eq!(slow.local_branches(), vec!["main".to_string()]);

    // A passing check lets the commit happen; it ran inside the patched worktree.
    let ok = Site::new(
        WORKFLOW,
        "patch:\n  check: [sh, -c, \"grep -q 'persist-credentials: false' .github/workflows/ci.yml\"]\n",
    );
    ok.expect(&["patch", "--project", "shop"], &[], 0);
    assert_eq!(ok.local_branches().len(), 2);
}

#[test]
fn a_rejected_push_is_reported_never_forced_and_audited_as_failed() {
    let site = Site::new(WORKFLOW, "");
    let hook = site.remote().join("hooks/pre-receive");
    fs::write(
        &hook,
        "#!/bin/sh\necho 'branch creation is disabled here' >&2\nexit 1\n",
    )
    .expect("hook");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let main = remote_main(&site);
    let gid = site.grant(&["--auto-push"]);
    let out = site.auto_push(&gid, &[], &[], EXIT_PUSH_REJECTED);
    assert!(
        out.stderr.contains("AUTOSD-PATCH-PUSH-REJECTED")
            && out.stderr.contains("branch creation is disabled here")
            && out.stderr.contains("nothing was force-pushed"),
        "{}",
        out.stderr
    );
    assert_eq!(site.remote_heads(), vec![("refs/heads/main".to_string(), main)]);
    let records = site.patch_records();
    let last = records.last().expect("outcome");
    assert_eq!(last["phase"], "outcome");
    assert_eq!(last["outcome"]["status"], "failed");
    assert_eq!(last["outcome"]["code"], "AUTOSD-PATCH-PUSH-REJECTED");
    // The commit stays on the local branch for a human to look at.
    assert_eq!(site.local_branches().len(), 2);
}

#[test]
fn the_default_branch_is_never_a_target() {
    let site = Site::new(WORKFLOW, "");
    let gid = site.grant(&["--auto-push"]);
    // Locally the work happens on `work`; the remote's default branch is still `main`.
    git(&site.repo(), &["branch", "-m", "main", "work"]);
    let main = remote_main(&site);
    let out = site.auto_push(&gid, &["--branch", "main"], &[], EXIT_BRANCH_REFUSED);
    assert!(out.stderr.contains("default branch"), "{}", out.stderr);
    let out = site.expect(
        &["patch", "--project", "shop", "--branch=bad..name"],
        &[],
        EXIT_BRANCH_REFUSED,
    );
    assert!(out.stderr.contains("not a valid branch name"), "{}", out.stderr);
    assert_eq!(site.remote_heads(), vec![("refs/heads/main".to_string(), main)]);
    assert_eq!(site.local_branches(), vec!["work".to_string()]);
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let site = Site::new(WORKFLOW, "");
    let before = site.dirty();
    let out = site.expect(
        &["patch", "--project", "shop", "--dry-run", "--auto-push"],
        &[],
        0,
    );
    assert!(
        out.stdout.contains("--- a/.github/workflows/ci.yml")
            && out.stdout.contains("+++ b/.github/workflows/ci.yml")
            && out.stdout.contains("+          persist-credentials: false")
            && out.stdout.contains("+  contents: read"),
        "{}",
        out.stdout
    );
    assert_eq!(site.snapshot(), before);
    site.assert_no_new_branch();
    assert!(site.audit().is_empty(), "a dry run records nothing");
    assert_eq!(git(&site.repo(), &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn nothing_to_fix_is_success_without_a_branch() {
    let site = Site::new(CLEAN_WORKFLOW, "");
    let out = site.expect(&["patch", "--project", "shop", "--auto-push"], &[], 0);
    assert!(out.stdout.contains("nothing to patch"), "{}", out.stdout);
    assert!(out.stdout.contains("no migration applies"), "{}", out.stdout);
    site.assert_no_new_branch();
}

#[test]
fn invalid_patch_section_names_the_line() {
    let site = Site::new(WORKFLOW, "patch:\n  check: []\n  timeout_secs: 0\n");
    let out = site.expect(&["patch", "--project", "shop"], &[], 6);
    assert!(
        out.stderr.contains("config.yml:4:") && out.stderr.contains("config.yml:5:"),
        "{}",
        out.stderr
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn actions_env<'a>(server: &'a str, outputs: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_REPOSITORY", "octo/shop"),
        ("GITHUB_API_URL", server),
        ("GITHUB_OUTPUT", outputs),
    ]
}

#[test]
fn in_actions_a_pull_request_is_opened_and_labelled() {
    let site = Site::new(WORKFLOW, "patch:\n  labels: [autosd, ci-fix]\n");
    let gid = site.grant(&["--auto-push"]);
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/pulls"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(body_partial_json(json!({
                "title": "autosd patch: 2 mechanical fixes in shop",
                "head": "autosd/fix-ci",
                "base": "main",
                "maintainer_can_modify": true,
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "number": 7,
                "html_url": "https://github.com/octo/shop/pull/7",
            })))
            .expect(1)
            .mount(&server),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/repos/octo/shop/issues/7/labels"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(body_json(json!({ "labels": ["autosd", "ci-fix"] })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1)
            .mount(&server),
    );
    let outputs = site.dir.path().join("out");
    let uri = server.uri();
    let out = site.auto_push(
        &gid,
        &["--branch", "autosd/fix-ci", "--output", "json"],
        &actions_env(&uri, outputs.to_str().expect("utf-8")),
        0,
    );
    let v = out.json();
    assert_eq!(v["pull_request_url"], "https://github.com/octo/shop/pull/7");
    rt.block_on(server.verify());
    let requests = rt.block_on(server.received_requests()).expect("recorded");
    let pr: Value = serde_json::from_slice(&requests[0].body).expect("json body");
    let body = pr["body"].as_str().expect("body");
    assert!(
        body.contains("| `missing-permissions` | `.github/workflows/ci.yml` | 4 |")
            && body.contains("| `persist-credentials` | `.github/workflows/ci.yml` | 7 |")
            && body.contains("autosd audit checkpoint")
            && body.contains("autosd.checkpoint."),
        "{body}"
    );
    let text = fs::read_to_string(&outputs).expect("outputs");
    for name in ["branch<<", "commit<<", "pull-request-url<<"] {
        assert!(text.contains(name), "{text}");
    }
    assert!(text.contains("https://github.com/octo/shop/pull/7"));
}

#[test]
fn pull_request_refusals_name_the_permission() {
    for (status, code) in [(403, EXIT_GITHUB_FORBIDDEN), (422, EXIT_GITHUB_REJECTED)] {
        let site = Site::new(WORKFLOW, "");
        let gid = site.grant(&["--auto-push"]);
        let rt = rt();
        let server = rt.block_on(MockServer::start());
        let message = if status == 403 {
            "Resource not accessible by integration"
        } else {
            "GitHub Actions is not permitted to create or approve pull requests."
        };
        rt.block_on(
            Mock::given(method("POST"))
                .and(path("/repos/octo/shop/pulls"))
                .respond_with(ResponseTemplate::new(status).set_body_json(json!({ "message": message })))
                .expect(1)
                .mount(&server),
        );
        let outputs = site.dir.path().join("out");
        let uri = server.uri();
        let out = site.auto_push(
            &gid,
            &[],
            &actions_env(&uri, outputs.to_str().expect("utf-8")),
            code,
        );
        assert!(
            out.stderr.contains("pull-requests: write")
                && out.stderr.contains("was pushed and audited")
                && !out.stderr.contains(TOKEN),
            "{status}: {}",
            out.stderr
        );
        // The push itself happened and is on the record; only the pull request failed.
        assert_eq!(site.remote_heads().len(), 2, "{status}");
        let text = fs::read_to_string(&outputs).expect("outputs");
        assert!(
            text.contains("branch<<") && !text.contains("pull-request-url"),
            "{text}"
        );
        rt.block_on(server.verify());
    }
}
