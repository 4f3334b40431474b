//! The typed contexts an expression can read (`github`, `env`, `steps`, `matrix`, …).
//! Fixed contexts are described here from GitHub's contexts reference; the ones that
//! depend on the workflow (`steps`, `needs`, `matrix`, `inputs`, `jobs`) are built by the
//! rules from the model and handed in through [`Scope`].
use std::collections::BTreeMap;

use super::types::{Object, Ty};

/// Every context name GitHub knows.
pub const CONTEXT_NAMES: &[&str] = &[
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix", "needs",
    "inputs",
];

/// The types of the contexts visible to one expression. A context missing from the scope
/// is typed loosely (unknown shape); a context not in [`CONTEXT_NAMES`] does not exist.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    contexts: BTreeMap<&'static str, Ty>,
    /// Ids of the steps after the current one (lowercased), to explain why they are unknown.
    later_steps: Vec<String>,
}

impl Scope {
    /// The fixed contexts with their documented shapes; the workflow-dependent ones are
    /// loose until [`Scope::set`] narrows them.
    pub fn new() -> Scope {
        let mut contexts = BTreeMap::new();
        contexts.insert("github", github());
        contexts.insert("runner", runner());
        contexts.insert("job", job());
        contexts.insert("strategy", strategy());
        contexts.insert("env", Ty::Object(Object::map_of(Ty::String)));
        contexts.insert("vars", Ty::Object(Object::map_of(Ty::String)));
        contexts.insert("secrets", Ty::Object(Object::map_of(Ty::String)));
        Scope {
            contexts,
            later_steps: Vec::new(),
        }
    }

    /// Records the ids of steps that run after the current one.
    pub fn set_later_steps<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        self.later_steps = ids.into_iter().map(str::to_ascii_lowercase).collect();
    }

    /// Does a step with this id run after the current one?
    pub fn is_later_step(&self, id: &str) -> bool {
        self.later_steps.iter().any(|s| s.eq_ignore_ascii_case(id))
    }

    /// Replaces the type of context `name` (which must be one of [`CONTEXT_NAMES`]).
    pub fn set(&mut self, name: &str, ty: Ty) {
        if let Some(known) = CONTEXT_NAMES.iter().find(|n| **n == name) {
            self.contexts.insert(known, ty);
        }
    }

    /// The type of context `name` (any letter case), or `None` when no such context exists.
    pub fn get(&self, name: &str) -> Option<Ty> {
        let lower = name.to_ascii_lowercase();
        let known = CONTEXT_NAMES.iter().find(|n| **n == lower)?;
        Some(self.contexts.get(known).cloned().unwrap_or_else(Ty::any_object))
    }
}

/// `github`: documented run properties are closed; `event` is the webhook payload of
/// whatever triggered the run, so its shape is unknown.
pub fn github() -> Ty {
    let strings = [
        "action",
        "action_path",
        "action_ref",
        "action_repository",
        "action_status",
        "actor",
        "actor_id",
        "api_url",
        "base_ref",
        "env",
        "event_name",
        "event_path",
        "graphql_url",
        "head_ref",
        "job",
        "job_workflow_sha",
        "path",
        "ref",
        "ref_name",
        "ref_type",
        "repository",
        "repository_id",
        "repository_owner",
        "repository_owner_id",
        "repositoryurl",
        "retention_days",
        "run_id",
        "run_number",
        "run_attempt",
        "secret_source",
        "server_url",
        "sha",
        "token",
        "triggering_actor",
        "workflow",
        "workflow_ref",
        "workflow_sha",
        "workspace",
        "output",
        "state",
        "step_summary",
    ];
    let mut object = Object::closed(strings.iter().map(|s| (*s, Ty::String)));
    object = object
        .with("event", Ty::any_object())
        .with("ref_protected", Ty::Bool)
        .with("action_status", Ty::String);
    Ty::Object(object)
}

/// `runner`: the machine running the job.
pub fn runner() -> Ty {
    Ty::Object(Object::closed(
        [
            "name",
            "os",
            "arch",
            "temp",
            "tool_cache",
            "debug",
            "environment",
            "workspace",
        ]
        .into_iter()
        .map(|s| (s, Ty::String)),
    ))
}

/// `job`: kept open because GitHub keeps adding properties (`check_run_id`, `workflow_*`).
pub fn job() -> Ty {
    let container = Ty::Object(Object::closed([("id", Ty::String), ("network", Ty::String)]));
    let service = Ty::Object(Object::closed([
        ("id", Ty::String),
        ("network", Ty::String),
        ("ports", Ty::Object(Object::map_of(Ty::String))),
    ]));
    Ty::Object(
        Object::map_of(Ty::Any)
            .with("container", container)
            .with("services", Ty::Object(Object::map_of(service)))
            .with("status", Ty::String),
    )
}

/// `strategy`: the matrix execution settings of the job.
pub fn strategy() -> Ty {
    Ty::Object(Object::closed([
        ("fail-fast", Ty::Bool),
        ("job-index", Ty::Number),
        ("job-total", Ty::Number),
        ("max-parallel", Ty::Number),
    ]))
}

/// The result of one step or job: `outputs` with known names (closed) or unknown (`None`).
fn result_object(outputs: Option<&[String]>, status_props: &[&str]) -> Ty {
    let outputs = match outputs {
        Some(names) => Object::closed(names.iter().map(|n| (n.as_str(), Ty::String))),
        None => Object::map_of(Ty::String),
    };
    let mut object = Object::closed([("outputs", Ty::Object(outputs))]);
    for prop in status_props {
        object = object.with(prop, Ty::String);
    }
    Ty::Object(object)
}

/// `steps`: exactly the given step ids (the ones before the current step), each with
/// outputs of unknown names.
pub fn steps<'a>(ids: impl IntoIterator<Item = &'a str>) -> Ty {
    Ty::Object(Object::closed(
        ids.into_iter()
            .map(|id| (id, result_object(None, &["conclusion", "outcome"]))),
    ))
}

/// One entry of `needs` or `jobs`: a job id and its output names, when statically known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutputs {
    pub id: String,
    pub outputs: Option<Vec<String>>,
}

/// `needs`: exactly the jobs listed in `needs:`.
pub fn needs(jobs: &[JobOutputs]) -> Ty {
    Ty::Object(Object::closed(jobs.iter().map(|j| {
        (j.id.as_str(), result_object(j.outputs.as_deref(), &["result"]))
    })))
}

/// `jobs` (only in `on.workflow_call.outputs.*.value`): every job of the workflow.
pub fn jobs(jobs: &[JobOutputs]) -> Ty {
    needs(jobs)
}

/// `inputs`: exactly these declared inputs, with their types.
pub fn inputs<'a>(declared: impl IntoIterator<Item = (&'a str, Ty)>) -> Ty {
    Ty::Object(Object::closed(declared))
}

/// The type of an input declared with `type: <name>` (workflow_dispatch or workflow_call).
pub fn input_type(type_name: Option<&str>) -> Ty {
    match type_name {
        Some("boolean") => Ty::Bool,
        Some("number") => Ty::Number,
        Some("string" | "choice" | "environment") | None => Ty::String,
        Some(_) => Ty::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_contexts_are_typed() {
        let scope = Scope::new();
        let Some(Ty::Object(gh)) = scope.get("GitHub") else {
            panic!("github missing")
        };
        assert_eq!(gh.get("event_name"), Some(Ty::String));
        assert_eq!(gh.get("ref_protected"), Some(Ty::Bool));
        assert_eq!(gh.get("event"), Some(Ty::any_object()));
        assert_eq!(gh.get("evnt"), None);
        assert!(scope.get("matrix").is_some());
        assert!(scope.get("nonsense").is_none());
    }

    #[test]
    fn workflow_dependent_contexts_are_closed() {
        let mut scope = Scope::new();
        scope.set("steps", steps(["build"]));
        scope.set(
            "needs",
            needs(&[JobOutputs {
                id: "setup".into(),
                outputs: Some(vec!["version".into()]),
            }]),
        );
        let Some(Ty::Object(steps)) = scope.get("steps") else {
            panic!("steps")
        };
        assert!(steps.get("build").is_some());
        assert!(steps.get("later").is_none());
        let Some(Ty::Object(needs)) = scope.get("needs") else {
            panic!("needs")
        };
        let Some(Ty::Object(setup)) = needs.get("setup") else {
            panic!("setup")
        };
        let Some(Ty::Object(outputs)) = setup.get("outputs") else {
            panic!("outputs")
        };
        assert_eq!(outputs.get("version"), Some(Ty::String));
        assert_eq!(outputs.get("other"), None);
        assert_eq!(input_type(Some("boolean")), Ty::Bool);
        assert_eq!(input_type(Some("choice")), Ty::String);
    }
}
