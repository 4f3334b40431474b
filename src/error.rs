//! The one error type every command returns, the closed set of public error codes
//! (`AUTOSD-…`) and THE exit-code table. Nothing else in the crate picks an exit code.
use std::fmt;

/// Who has to act to fix an error; decides the tone of the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The user typed or supplied something wrong.
    User,
    /// The machine, files or services around autosd are not as required.
    Environment,
    /// autosd itself is wrong: report it.
    Bug,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $exit:literal, $blame:ident, $desc:literal), )*) => {
        /// Every public error code. Codes and exit codes are stable: add, never renumber.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $(#[$doc])* $variant, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable identifier printed as `error[CODE]`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The process exit code; distinct for every error code.
            pub fn exit_code(self) -> u8 {
                match self { $(ErrorCode::$variant => $exit,)* }
            }

            pub fn blame(self) -> Blame {
                match self { $(ErrorCode::$variant => Blame::$blame,)* }
            }

            /// One sentence for the docs table and `autosd help-codes`.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $desc,)* }
            }
        }
    };
}

error_codes! {
    LintFindings = ("AUTOSD-LINT-FINDINGS", 1, User, "The linter reported findings at or above the minimum severity."),
    Usage = ("AUTOSD-USAGE", 2, User, "The command line is not valid: unknown flag, bad value or missing argument."),
    Io = ("AUTOSD-IO", 3, Environment, "A file or directory could not be read or written."),
    HomeUnusable = ("AUTOSD-HOME-UNUSABLE", 4, Environment, "The autosd home directory is missing, not a directory or not writable."),
    StateCorrupt = ("AUTOSD-STATE-CORRUPT", 5, Environment, "A stored record (grant copy, ledger, halt record, state branch) is corrupt."),
    ConfigInvalid = ("AUTOSD-CONFIG-INVALID", 6, User, "The project file is not valid; the message names the line."),
    ConfigMissing = ("AUTOSD-CONFIG-MISSING", 7, User, "No project file was found from the current directory upwards."),
    ProjectMismatch = ("AUTOSD-PROJECT-MISMATCH", 8, User, "`--project` does not match the project file."),
    PreauthRequired = ("AUTOSD-PREAUTH-REQUIRED", 10, User, "The operation needs a preauthorization grant and none was given."),
    PreauthInvalid = ("AUTOSD-PREAUTH-INVALID", 11, User, "The grant was rejected; the message names the reason."),
    GrantRefused = ("AUTOSD-GRANT-REFUSED", 12, User, "A grant with these parameters may not be created (lifetime, scope)."),
    GrantNotFound = ("AUTOSD-GRANT-NOT-FOUND", 13, User, "No local grant has this id."),
    KeyExists = ("AUTOSD-KEY-EXISTS", 14, User, "A signing key already exists; use --force to replace it."),
    KeyMissing = ("AUTOSD-KEY-MISSING", 15, User, "No signing key exists yet; run `autosd preauth init-keys`."),
    KeyInsecure = ("AUTOSD-KEY-INSECURE", 16, Environment, "The private key file is readable by group or others."),
    TrustInvalid = ("AUTOSD-TRUST-INVALID", 17, Environment, "The trust store or revocation list is missing, corrupt or not validly signed."),
    EnvInvalid = ("AUTOSD-ENV-INVALID", 20, User, "The environment name is not one of the project's environments."),
    TargetEnvInvalid = ("AUTOSD-TARGET-ENV-INVALID", 21, User, "The destination environment of a promotion is not valid."),
    ConfirmRequired = ("AUTOSD-CONFIRM-REQUIRED", 22, User, "A destructive action needs confirmation: no TTY and no --force."),
    Halted = ("AUTOSD-HALTED", 23, User, "The project is halted by its kill switch."),
    ConfirmDeclined = ("AUTOSD-CONFIRM-DECLINED", 24, User, "A destructive action was not confirmed at the prompt; nothing was done."),
    ConfigExists = ("AUTOSD-CONFIG-EXISTS", 25, User, "The project file already exists; `autosd init --force` replaces it."),
    AuditUnwritable = ("AUTOSD-AUDIT-UNWRITABLE", 30, Environment, "The audit log cannot be written (read-only, full, locked out); nothing was done."),
    AuditTampered = ("AUTOSD-AUDIT-TAMPERED", 31, Environment, "The audit log fails verification: a record was edited, deleted, reordered or inserted."),
    AuditTornTail = ("AUTOSD-AUDIT-TORN-TAIL", 32, Environment, "The last line of the audit log is half-written (a crash during an append); every earlier record verifies."),
    AuditCheckpointMismatch = ("AUTOSD-AUDIT-CHECKPOINT-MISMATCH", 33, Environment, "The audit log is shorter than, or diverges from, a signed checkpoint (truncation or rewrite)."),
    StateUnreachable = ("AUTOSD-STATE-UNREACHABLE", 34, Environment, "The git state remote cannot be reached; the operation did not proceed."),
    StateConflict = ("AUTOSD-STATE-CONFLICT", 35, Environment, "The git state branch kept moving under us; the push was rejected on every bounded retry."),
    StateGit = ("AUTOSD-STATE-GIT", 36, Environment, "git failed for the state store (not installed, timed out or refused the change)."),
    GithubForbidden = ("AUTOSD-GITHUB-FORBIDDEN", 65, Environment, "The GitHub API refused the request (403): the token lacks a permission, which the message names."),
    GithubRejected = ("AUTOSD-GITHUB-REJECTED", 66, User, "The GitHub API rejected the request as unprocessable (422): unknown ref, SHA or environment."),
    GithubUnavailable = ("AUTOSD-GITHUB-UNAVAILABLE", 67, Environment, "The GitHub API could not be reached or kept failing (5xx) after bounded retries."),
    GithubContextMissing = ("AUTOSD-GITHUB-CONTEXT-MISSING", 68, Environment, "A GitHub Actions variable or the token the operation needs is missing or malformed."),
    GithubUnauthorized = ("AUTOSD-GITHUB-UNAUTHORIZED", 69, Environment, "The GitHub API did not accept the token (401): expired, revoked or not a token."),
    FactoryGateFailed = ("AUTOSD-FACTORY-GATE-FAILED", 80, User, "verify-factory: at least one gate failed; both reports name it."),
    CiStageFailed = ("AUTOSD-CI-STAGE-FAILED", 81, User, "ci mirror: a stage of ci/run_ci.sh failed; the message names the stage."),
    GeneratorInputInvalid = ("AUTOSD-GENERATOR-INPUT-INVALID", 82, User, "The workflow generator's input (project file or .autosd/workflows.yml) is not valid."),
    DeployFailed = ("AUTOSD-DEPLOY-FAILED", 40, Environment, "The new release failed its health gate; the previous release is still serving."),
    DockerUnreachable = ("AUTOSD-DOCKER-UNREACHABLE", 41, Environment, "The Docker engine (DOCKER_HOST or the default socket) does not answer."),
    ImageNotFound = ("AUTOSD-IMAGE-NOT-FOUND", 42, User, "The image is neither present on the engine nor pullable."),
    PortInUse = ("AUTOSD-PORT-IN-USE", 43, Environment, "A port the release publishes is already taken on the host."),
    TargetSettingsInvalid = ("AUTOSD-TARGET-SETTINGS-INVALID", 44, User, "The environment's target settings in the project file are not valid."),
    LockHeld = ("AUTOSD-LOCK-HELD", 45, Environment, "Another operation holds the deploy lock of this project and environment."),
    NoKnownGood = ("AUTOSD-NO-KNOWN-GOOD", 46, User, "No earlier healthy release is left to roll back to."),
    ReleaseNotFound = ("AUTOSD-RELEASE-NOT-FOUND", 47, User, "No release with this id exists in the environment's ledger, or it never passed its gate."),
    PromoteRefused = ("AUTOSD-PROMOTE-REFUSED", 48, User, "The source environment has no healthy release to promote, or its latest release failed."),
    TargetFailed = ("AUTOSD-TARGET-FAILED", 49, Environment, "The target engine or a configured target command failed during the operation."),
    RollbackFailed = ("AUTOSD-ROLLBACK-FAILED", 50, Environment, "The rollback release failed its health gate; the release serving before is serving again."),
    ClusterUnreachable = ("AUTOSD-CLUSTER-UNREACHABLE", 51, Environment, "The cluster does not answer: no Kubernetes API server at the kubeconfig's address, or the Docker engine is not a Swarm manager."),
    KubeContextInvalid = ("AUTOSD-KUBE-CONTEXT-INVALID", 52, User, "The kubeconfig is missing or unreadable, or has no context of the name the project file gives."),
    TargetObjectMissing = ("AUTOSD-TARGET-OBJECT-MISSING", 53, User, "The Swarm service or Kubernetes Deployment the environment names does not exist."),
    TargetForbidden = ("AUTOSD-TARGET-FORBIDDEN", 54, Environment, "The cluster refused a request (403): the credentials lack a permission, which the message names (verb, resource, namespace)."),
    TargetConflict = ("AUTOSD-TARGET-CONFLICT", 55, Environment, "Someone else changed the service or Deployment while autosd worked (version or field-manager conflict); nothing was overwritten."),
    RegistryAuthInvalid = ("AUTOSD-REGISTRY-AUTH-INVALID", 56, User, "The Docker CLI config (DOCKER_CONFIG or ~/.docker/config.json) is unreadable or malformed, its `auths` entry for the image's registry is not base64 of user:password, or the credential helper it names cannot answer (not on PATH, failing, timing out)."),
    ImageNotPinned = ("AUTOSD-IMAGE-NOT-PINNED", 58, User, "The kubernetes target deploys images pinned by digest: the reference is neither `repo@sha256:…` nor a tag its registry resolves (anonymously, or with the Docker config's credentials for it)."),
    PatchChecksFailed = ("AUTOSD-PATCH-CHECKS-FAILED", 100, User, "patch: the checks failed on the fixed tree (a new lint finding, or the configured check command failed or timed out); nothing was committed."),
    PatchPushRejected = ("AUTOSD-PATCH-PUSH-REJECTED", 101, Environment, "patch: the remote rejected the push of the patch branch; nothing was force-pushed and the branch stays local."),
    PatchGit = ("AUTOSD-PATCH-GIT", 102, Environment, "patch: git failed (not a repository, no commit yet, or a worktree, commit or remote command failed)."),
    PatchBranchRefused = ("AUTOSD-PATCH-BRANCH-REFUSED", 103, User, "patch: the branch name is not valid, is the remote's default branch, or already exists locally or on the remote."),
    HealFailed = ("AUTOSD-HEAL-FAILED", 90, Environment, "An environment is unhealthy and heal could not repair it within what the grant allows; the incident is marked failed-to-heal and the hint says what a human must do."),
    HealHalted = ("AUTOSD-HEAL-HALTED", 91, Environment, "An environment is unhealthy but the project is halted: the incident was recorded and nothing was touched."),
    IncidentNotFound = ("AUTOSD-INCIDENT-NOT-FOUND", 92, User, "No incident with this id exists in the project."),
    Interrupted = ("AUTOSD-INTERRUPTED", 130, Environment, "SIGINT or SIGTERM (a cancelled CI job) stopped a release operation: the release was not proven and was taken back (candidate removed, or the known-good digest rolled out again without a gate), the ledger marks it failed and the lock was released. A second signal ends autosd at once."),
    Internal = ("AUTOSD-INTERNAL", 70, Bug, "autosd hit a bug; please report it with autosd.log."),
}

/// An error on its way to the user: a code, a one-line message and help lines.
/// Messages never contain secrets: callers pass only ids, paths and reasons.
#[derive(Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub hints: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// An I/O failure on `path`, with the operation named.
    pub fn io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        let hint = match err.kind() {
            std::io::ErrorKind::PermissionDenied => "check the permissions of the file and its directory",
            std::io::ErrorKind::NotFound => "check that the path exists",
            _ => "check the disk and the path",
        };
        Error::new(ErrorCode::Io, format!("cannot {what} {}: {err}", path.display())).hint(hint)
    }

    /// The help lines to print: the specific ones, or a default from the blame class.
    pub fn hint_lines(&self) -> Vec<String> {
        if !self.hints.is_empty() {
            return self.hints.clone();
        }
        let default = match self.code.blame() {
            Blame::User => "run the command with --help to see what it accepts",
            Blame::Environment => "fix the environment named above and run the command again",
            Blame::Bug => "this is a bug in autosd: please report it together with autosd.log",
        };
        vec![default.to_string()]
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_exit_codes_are_unique() {
        let codes: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let exits: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.exit_code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert_eq!(exits.len(), ErrorCode::ALL.len());
        assert!(ErrorCode::ALL.iter().all(|c| c.as_str().starts_with("AUTOSD-")));
        assert!(!exits.contains(&0));
    }

    #[test]
    fn docs_table_lists_every_code_with_its_exit_code() {
        let docs = include_str!("../docs/errors.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.exit_code());
            assert!(docs.contains(&row), "docs/errors.md lacks the row {row}");
        }
    }
}
