//! Unit tests of project-file loading and validation.
use super::*;

fn parse_str(text: &str) -> Result<ProjectConfig> {
    parse(text, Path::new(".autosd/config.yml"), Path::new("."))
}

fn message(text: &str) -> String {
    let err = parse_str(text).expect_err("must be rejected");
    assert_eq!(err.code, ErrorCode::ConfigInvalid);
    err.message
}

#[test]
fn template_parses_to_the_defaults() {
    let config = parse_str(&template("my-project")).expect("template is valid");
    assert_eq!(config.project, "my-project");
    assert_eq!(config.environment_names(), vec!["dev", "staging", "prod"]);
    let prod = config.environment("prod").expect("prod");
    assert!(prod.production && prod.require_grant);
    let dev = config.environment("dev").expect("dev");
    assert!(!dev.production && !dev.require_grant);
    assert_eq!(config.state, StateSettings::Local);
}

#[test]
fn documented_example_parses() {
    let text = include_str!("../../docs/examples/config.yml");
    let config = parse_str(text).expect("docs/examples/config.yml is valid");
    assert_eq!(config.environment_names(), vec!["dev", "qa", "live"]);
    assert!(config.environment("live").expect("live").production);
    assert!(config.environment("qa").expect("qa").require_grant);
    assert_eq!(
        config.environment("dev").expect("dev").target.settings["kind"],
        serde_json::json!("docker")
    );
    assert_eq!(
        config.state,
        StateSettings::Git {
            remote: "https://github.com/example/shop-api.git".into(),
            branch: "autosd-state".into()
        }
    );
    assert_eq!(
        config.patch,
        PatchSettings {
            check: Some(vec!["ci/run_ci.sh".into(), "lint".into()]),
            timeout_secs: 900,
            remote: "origin".into(),
            labels: vec!["autosd".into(), "dependencies".into()],
        }
    );
}

#[test]
fn patch_section_defaults_and_problems() {
    let config = parse_str("version: 1\nproject: p\n").expect("valid");
    assert_eq!(config.patch, PatchSettings::default());
    assert_eq!(config.patch.timeout_secs, DEFAULT_PATCH_TIMEOUT_SECS);
    let err = parse_str(
        "version: 1\nproject: p\npatch:\n  check: []\n  timeout_secs: 0\n  remote: -x\n  labels: [\"\"]\n",
    )
    .expect_err("invalid");
    for line in [":4:", ":5:", ":6:", ":7:"] {
        assert!(err.message.contains(line), "{line}: {}", err.message);
    }
    let err = parse_str("version: 1\nproject: p\npatch:\n  checks: [make]\n").expect_err("typo");
    assert!(err.message.contains("checks"), "{}", err.message);
}

#[test]
fn environments_default_when_absent() {
    let config = parse_str("version: 1\nproject: p\n").expect("valid");
    assert_eq!(config.environment_names(), DEFAULT_ENVIRONMENTS.to_vec());
}

#[test]
fn an_empty_environment_takes_the_defaults_for_its_name() {
    let config =
        parse_str("version: 1\nproject: p\nenvironments:\n  production:\n  preview:\n").expect("valid");
    assert!(config.environment("production").expect("env").production);
    assert!(!config.environment("preview").expect("env").production);
}

#[test]
fn unknown_field_names_its_line() {
    let m = message("version: 1\nproject: p\nenvironments:\n  dev:\n    prodution: false\n");
    assert!(
        m.starts_with(".autosd/config.yml:5: unknown field `prodution`"),
        "{m}"
    );
}

#[test]
fn yaml_syntax_error_names_its_line() {
    let m = message("version: 1\nproject: [p\n");
    assert!(m.starts_with(".autosd/config.yml:2:"), "{m}");
}

#[test]
fn duplicate_keys_are_rejected() {
    let m = message("version: 1\nproject: p\nproject: q\n");
    assert!(m.starts_with(".autosd/config.yml:3:"), "{m}");
}

#[test]
fn all_validation_problems_are_reported_with_lines() {
    let text = "version: 2\nproject: 'bad id'\nenvironments:\n  Prod:\n  prod:\n    require_grant: false\nstate:\n  backend: s3\n";
    let m = message(text);
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(lines.len(), 5, "{m}");
    assert!(lines[0].starts_with(".autosd/config.yml:1: version 2"), "{m}");
    assert!(lines[1].starts_with(".autosd/config.yml:2: project id"), "{m}");
    assert!(
        lines[2].starts_with(".autosd/config.yml:4: environment name `Prod`"),
        "{m}"
    );
    assert!(lines[3].contains(":6: environment `prod` is production"), "{m}");
    assert!(lines[4].contains(":8: unknown state backend `s3`"), "{m}");
}

#[test]
fn empty_environments_are_rejected() {
    let m = message("version: 1\nproject: p\nenvironments: {}\n");
    assert!(m.contains(":3: `environments` is empty"), "{m}");
}

#[test]
fn local_state_takes_no_remote() {
    let m = message("version: 1\nproject: p\nstate:\n  backend: local\n  remote: origin\n");
    assert!(m.contains(":5: `remote` and `branch` apply only"), "{m}");
}

#[test]
fn git_state_needs_a_remote_and_defaults_the_branch() {
    let m = message("version: 1\nproject: p\nstate:\n  backend: git\n");
    assert!(m.contains(":4: `backend: git` needs `remote:`"), "{m}");
    let config = parse_str("version: 1\nproject: p\nstate:\n  backend: git\n  remote: /srv/state.git\n")
        .expect("valid");
    assert_eq!(
        config.state,
        StateSettings::Git {
            remote: "/srv/state.git".into(),
            branch: DEFAULT_STATE_BRANCH.into()
        }
    );
    let m = message("version: 1\nproject: p\nstate:\n  backend: git\n  branch: '../x'\n");
    assert!(m.contains(":5: `../x` is not a usable branch name"), "{m}");
}

#[test]
fn target_must_be_a_mapping() {
    let m = message("version: 1\nproject: p\nenvironments:\n  dev:\n    target: docker\n");
    assert!(m.starts_with(".autosd/config.yml:5:"), "{m}");
}

#[test]
fn unknown_environment_is_env_invalid() {
    let config = parse_str(&template("p")).expect("valid");
    let err = config.environment("production").expect_err("unknown");
    assert_eq!(err.code, ErrorCode::EnvInvalid);
    assert!(err.message.contains("dev, staging, prod"), "{}", err.message);
}

#[test]
fn project_flag_must_match() {
    let config = parse_str(&template("p")).expect("valid");
    assert!(config.check_project(None).is_ok());
    assert!(config.check_project(Some("p")).is_ok());
    let err = config.check_project(Some("q")).expect_err("mismatch");
    assert_eq!(err.code, ErrorCode::ProjectMismatch);
}

#[test]
fn find_walks_up_and_reports_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let err = find(&nested).expect_err("missing");
    assert_eq!(err.code, ErrorCode::ConfigMissing);
    std::fs::create_dir_all(dir.path().join(CONFIG_DIR)).expect("mkdir");
    let file = dir.path().join(CONFIG_DIR).join(CONFIG_FILE);
    std::fs::write(&file, template("p")).expect("write");
    assert_eq!(find(&nested).expect("found"), file);
    let config = discover(&nested, Some("p")).expect("loads");
    assert_eq!(config.root, dir.path());
}

#[test]
fn non_utf8_and_oversize_files_are_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yml");
    std::fs::write(&file, b"version: 1\nproject: \xff\n").expect("write");
    assert_eq!(load(&file).expect_err("bad").code, ErrorCode::ConfigInvalid);
    std::fs::write(&file, vec![b'#'; 2 * 1024 * 1024]).expect("write");
    assert_eq!(load(&file).expect_err("big").code, ErrorCode::ConfigInvalid);
}

#[test]
fn every_yaml_example_in_the_configuration_docs_parses() {
    let doc = include_str!("../../docs/configuration.md");
    let mut blocks = 0;
    for block in doc.split("```yaml\n").skip(1) {
        let text = block.split("```").next().expect("closed block");
        parse_str(text).unwrap_or_else(|e| panic!("docs/configuration.md example: {e}\n{text}"));
        blocks += 1;
    }
    assert!(blocks >= 1, "the docs have at least one example");
}
