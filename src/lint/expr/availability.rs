//! Which contexts and restricted functions an expression may use at a given key, read
//! from GitHub's own template schemas (`schemas/vendor/workflow-v1.0.json` and
//! `action-v1.0.json`, from actions/languageservices). A key inherits the `context` list
//! of its nearest ancestor definition that has one; keys with none do not evaluate
//! expressions. The schema is parsed once, on first use.
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

const WORKFLOW_SCHEMA: &str = include_str!("../../../schemas/vendor/workflow-v1.0.json");
const ACTION_SCHEMA: &str = include_str!("../../../schemas/vendor/action-v1.0.json");

/// Which kind of file the key path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Workflow,
    Action,
}

/// One step of a key path: a mapping key or "an item of a sequence".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Item,
}

/// A function allowed at a key, with the arity GitHub accepts there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedFunction {
    pub name: String,
    pub min_args: usize,
    pub max_args: usize,
}

/// The contexts and restricted functions allowed at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// The definition the list comes from (`step-if`, `job-env`, …), for messages.
    pub definition: String,
    pub contexts: Vec<String>,
    pub functions: Vec<AllowedFunction>,
}

impl Availability {
    pub fn allows_context(&self, name: &str) -> bool {
        self.contexts.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    pub fn function(&self, name: &str) -> Option<&AllowedFunction> {
        self.functions.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    fn parse(definition: &str, entries: &[Value]) -> Availability {
        let mut contexts = Vec::new();
        let mut functions = Vec::new();
        for entry in entries.iter().filter_map(Value::as_str) {
            match entry.split_once('(') {
                Some((name, arity)) => {
                    let arity = arity.trim_end_matches(')');
                    let (min, max) = arity.split_once(',').unwrap_or((arity, arity));
                    let bound = |s: &str| {
                        if s == "MAX" {
                            usize::MAX
                        } else {
                            s.trim().parse().unwrap_or(0)
                        }
                    };
                    functions.push(AllowedFunction {
                        name: name.to_string(),
                        min_args: bound(min),
                        max_args: bound(max),
                    });
                }
                None => contexts.push(entry.to_string()),
            }
        }
        Availability {
            definition: definition.to_string(),
            contexts,
            functions,
        }
    }
}

#[derive(Debug, Default)]
struct Definition {
    context: Option<Arc<Availability>>,
    properties: HashMap<String, String>,
    loose_value: Option<String>,
    item: Option<String>,
    one_of: Vec<String>,
}

#[derive(Debug)]
struct Schema {
    root: &'static str,
    definitions: HashMap<String, Definition>,
}

impl Schema {
    fn load(text: &str, root: &'static str) -> Schema {
        // The schema is vendored and covered by tests; a broken copy degrades to "no
        // availability information" rather than a crash.
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let mut definitions = HashMap::new();
        let Some(defs) = value.get("definitions").and_then(Value::as_object) else {
            return Schema { root, definitions };
        };
        for (name, def) in defs {
            let mut out = Definition {
                context: def
                    .get("context")
                    .and_then(Value::as_array)
                    .map(|entries| Arc::new(Availability::parse(name, entries))),
                ..Definition::default()
            };
            if let Some(mapping) = def.get("mapping") {
                if let Some(props) = mapping.get("properties").and_then(Value::as_object) {
                    for (key, prop) in props {
                        let ty = prop.as_str().or_else(|| prop.get("type").and_then(Value::as_str));
                        if let Some(ty) = ty {
                            out.properties.insert(key.clone(), ty.to_string());
                        }
                    }
                }
                out.loose_value = mapping
                    .get("loose-value-type")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            out.item = def
                .get("sequence")
                .and_then(|s| s.get("item-type"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(alternatives) = def.get("one-of").and_then(Value::as_array) {
                out.one_of = alternatives
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            definitions.insert(name.clone(), out);
        }
        Schema { root, definitions }
    }

    /// Expands `one-of` definitions into their alternatives, carrying the inherited context.
    fn expand<'s>(
        &'s self,
        name: &'s str,
        inherited: Option<Arc<Availability>>,
        out: &mut Vec<(&'s str, Option<Arc<Availability>>)>,
        depth: usize,
    ) {
        let Some(def) = self.definitions.get(name) else {
            // Built-in leaf types such as `string` or `any` are not defined in the file.
            out.push((name, inherited));
            return;
        };
        let context = def.context.clone().or(inherited);
        if def.one_of.is_empty() || depth > 8 {
            out.push((name, context));
            return;
        }
        for alt in &def.one_of {
            self.expand(alt, context.clone(), out, depth + 1);
        }
    }

    fn lookup(&self, path: &[Seg<'_>]) -> Option<Arc<Availability>> {
        let mut frontier = Vec::new();
        self.expand(self.root, None, &mut frontier, 0);
        for seg in path {
            let mut next = Vec::new();
            for (name, context) in &frontier {
                let Some(def) = self.definitions.get(*name) else {
                    // The built-in loose types absorb the rest of the path; scalar
                    // built-ins (`string`, `boolean`, …) have no children.
                    if matches!(*name, "any" | "sequence" | "mapping") {
                        next.push((*name, context.clone()));
                    }
                    continue;
                };
                let child = match seg {
                    Seg::Key(key) => def.properties.get(*key).or(def.loose_value.as_ref()),
                    Seg::Item => def.item.as_ref(),
                };
                if let Some(child) = child {
                    self.expand(child, context.clone(), &mut next, 0);
                }
            }
            if next.is_empty() {
                return None;
            }
            frontier = next;
        }
        frontier.into_iter().find_map(|(_, context)| context)
    }
}

fn schema(kind: DocumentKind) -> &'static Schema {
    static WORKFLOW: OnceLock<Schema> = OnceLock::new();
    static ACTION: OnceLock<Schema> = OnceLock::new();
    match kind {
        DocumentKind::Workflow => WORKFLOW.get_or_init(|| Schema::load(WORKFLOW_SCHEMA, "workflow-root")),
        DocumentKind::Action => ACTION.get_or_init(|| Schema::load(ACTION_SCHEMA, "action-root-strict")),
    }
}

/// The contexts and functions allowed at `path`, or `None` when expressions are not
/// evaluated there (or the path is not part of the schema).
pub fn availability(kind: DocumentKind, path: &[Seg<'_>]) -> Option<Arc<Availability>> {
    schema(kind).lookup(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: DocumentKind, path: &str) -> Option<Arc<Availability>> {
        let segs: Vec<Seg<'_>> = path
            .split('.')
            .map(|s| if s == "[]" { Seg::Item } else { Seg::Key(s) })
            .collect();
        availability(kind, &segs)
    }

    fn contexts(kind: DocumentKind, path: &str) -> Vec<String> {
        at(kind, path).map(|a| a.contexts.clone()).unwrap_or_default()
    }

    #[test]
    fn job_if_follows_the_documented_table() {
        let job_if = at(DocumentKind::Workflow, "jobs.build.if").expect("job if");
        assert_eq!(job_if.definition, "job-if");
        for allowed in ["github", "needs", "vars", "inputs"] {
            assert!(job_if.allows_context(allowed), "{allowed}");
        }
        for denied in ["secrets", "env", "steps", "matrix", "runner"] {
            assert!(!job_if.allows_context(denied), "{denied}");
        }
        let failure = job_if.function("failure").expect("failure");
        assert_eq!((failure.min_args, failure.max_args), (0, usize::MAX));
        assert!(job_if.function("hashFiles").is_none());
    }

    #[test]
    fn step_keys_allow_step_contexts() {
        let run = contexts(DocumentKind::Workflow, "jobs.build.steps.[].run");
        for c in ["steps", "matrix", "secrets", "env", "runner", "job"] {
            assert!(run.iter().any(|x| x == c), "run lacks {c}");
        }
        let step_if = at(DocumentKind::Workflow, "jobs.build.steps.[].if").expect("step if");
        assert!(!step_if.allows_context("secrets"));
        assert_eq!(step_if.function("always").map(|f| f.max_args), Some(0));
        assert!(step_if.function("hashFiles").is_some());
        let with = contexts(DocumentKind::Workflow, "jobs.build.steps.[].with.script");
        assert!(with.iter().any(|x| x == "secrets"));
        let env = contexts(DocumentKind::Workflow, "jobs.build.steps.[].env.TOKEN");
        assert!(env.iter().any(|x| x == "secrets"));
    }

    #[test]
    fn nested_keys_inherit_the_nearest_list() {
        let matrix = contexts(DocumentKind::Workflow, "jobs.build.strategy.matrix.os.[]");
        assert!(matrix.iter().any(|x| x == "needs"));
        assert!(!matrix.iter().any(|x| x == "matrix"));
        let runs_on = contexts(DocumentKind::Workflow, "jobs.build.runs-on");
        assert!(runs_on.iter().any(|x| x == "matrix"));
        let url = contexts(DocumentKind::Workflow, "jobs.deploy.environment.url");
        assert!(url.iter().any(|x| x == "steps"), "{url:?}");
        let outputs = contexts(DocumentKind::Workflow, "on.workflow_call.outputs.v.value");
        assert!(outputs.iter().any(|x| x == "jobs"));
        assert!(
            contexts(DocumentKind::Workflow, "run-name")
                .iter()
                .any(|x| x == "inputs")
        );
    }

    #[test]
    fn credentials_and_reusable_calls_follow_the_table() {
        let creds = contexts(DocumentKind::Workflow, "jobs.a.container.credentials.password");
        assert!(creds.iter().any(|x| x == "secrets"), "{creds:?}");
        let with = contexts(DocumentKind::Workflow, "jobs.a.with.version");
        assert!(
            with.iter().any(|x| x == "matrix") && !with.iter().any(|x| x == "secrets"),
            "{with:?}"
        );
        let secrets = contexts(DocumentKind::Workflow, "jobs.a.secrets.token");
        assert!(secrets.iter().any(|x| x == "secrets"), "{secrets:?}");
        let outputs = contexts(DocumentKind::Workflow, "jobs.a.outputs.v");
        assert!(outputs.iter().any(|x| x == "steps"), "{outputs:?}");
        let defaults = contexts(DocumentKind::Workflow, "jobs.a.defaults.run.shell");
        assert!(defaults.iter().any(|x| x == "env") && !defaults.iter().any(|x| x == "steps"));
        let workflow_env = contexts(DocumentKind::Workflow, "env.X");
        assert!(workflow_env.iter().any(|x| x == "secrets") && !workflow_env.iter().any(|x| x == "env"));
    }

    #[test]
    fn keys_without_expressions_have_no_list() {
        assert!(at(DocumentKind::Workflow, "name").is_none());
        assert!(at(DocumentKind::Workflow, "on.push.branches.[]").is_none());
        assert!(at(DocumentKind::Workflow, "jobs.build.steps.[].uses").is_none());
        assert!(at(DocumentKind::Workflow, "no.such.key").is_none());
    }

    #[test]
    fn action_metadata_has_its_own_table() {
        let run = contexts(DocumentKind::Action, "runs.steps.[].run");
        assert!(run.iter().any(|x| x == "inputs"));
        assert!(!run.iter().any(|x| x == "secrets"));
        let default = contexts(DocumentKind::Action, "inputs.token.default");
        assert!(default.iter().any(|x| x == "github"));
        assert!(!default.iter().any(|x| x == "inputs"));
        let value = contexts(DocumentKind::Action, "outputs.x.value");
        assert!(value.iter().any(|x| x == "steps"));
        let pre_if = at(DocumentKind::Action, "runs.pre-if").expect("pre-if");
        assert!(pre_if.function("always").is_some());
    }
}
