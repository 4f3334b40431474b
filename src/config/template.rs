//! The commented project file `autosd init` writes. It documents every field in place, so a
//! reader of the repository needs no other page to understand it.

/// The text of a new `.autosd/config.yml` for `project` (an id already checked by
/// `check_project_id`, so it needs no quoting).
pub fn template(project: &str) -> String {
    format!(
        r#"# autosd project file. Reference: docs/configuration.md
# Every autosd command run inside this repository reads this file; `--project` must match
# `project` below. Unknown keys are errors, so typos never silently weaken a policy.

# File format version. Only 1 exists.
version: 1

# The project id. Grants name the projects they cover (`--project-ids`), and every
# command's `--project` must equal this.
project: {project}

# The environments of this project, in promotion order. Names are lowercase; any name is
# allowed. Any other name on the command line is refused (AUTOSD-ENV-INVALID).
#   production:    true makes every privileged action here require a grant and makes
#                  deploys and promotions into it ask for confirmation.
#                  Default: true for `prod` and `production`, false otherwise.
#   require_grant: true makes every privileged action in a non-production environment
#                  require a grant too. Production always requires one (it cannot be false).
#                  `require_grant: true` on any environment also makes `autosd resume`
#                  need a (break-glass) grant. `patch --auto-push` always needs one.
#                  Default: false (true in production).
#   target:        how to deploy to this environment; the keys depend on the target kind
#                  and are documented with the targets.
environments:
  dev:
    production: false
    require_grant: false
    target: {{}}
  staging:
    production: false
    require_grant: false
    target: {{}}
  prod:
    production: true
    target: {{}}

# Where shared state lives: halts (kill switch), the revocation list, the release ledger
# and incidents. CI runners are thrown away after each job, so CI needs `git`.
#   backend: local   state in $AUTOSD_HOME/state on this machine (default)
#   backend: git     state on a dedicated branch of a git remote:
#     remote: URL            the git URL (or path) of the repository holding the branch
#     branch: autosd-state   the branch autosd owns (default: autosd-state)
# `--state git --state-remote URL` on the command line overrides this section.
state:
  backend: local

# `autosd patch` (mechanical fixes on a new branch; docs/patch.md). All keys are optional.
#   check:        the project's check, run on the fixed tree before committing: the
#                 program then its arguments, no shell (e.g. [ci/run_ci.sh, lint]).
#   timeout_secs: how long the check may run (default 600).
#   remote:       the git remote `patch --auto-push` pushes to (default origin).
#   labels:       labels of the pull request it opens in GitHub Actions.
patch:
  remote: origin
  labels: []
"#
    )
}
