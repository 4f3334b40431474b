//! The schema layer: validates workflows and action metadata against the SchemaStore
//! `github-workflow` / `github-action` JSON schemas vendored in `schemas/vendor/` (offline,
//! compiled once per process), and turns each validation error into a positioned, readable
//! [`SchemaError`]. `oneOf`/`anyOf` failures are collapsed onto the branch that matched
//! best, so a typo in a step reports that key, not a dump of every alternative.
use super::finding::Span;
use super::model::FileKind;
use super::yaml::{Node, NodeKind, ScalarValue};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value};
use std::sync::OnceLock;

const WORKFLOW_SCHEMA: &str = include_str!("../../schemas/vendor/github-workflow.json");
const ACTION_SCHEMA: &str = include_str!("../../schemas/vendor/github-action.json");

struct Compiled {
    schema: Value,
    validator: Option<Validator>,
}

fn compiled(kind: FileKind) -> &'static Compiled {
    static WORKFLOW: OnceLock<Compiled> = OnceLock::new();
    static ACTION: OnceLock<Compiled> = OnceLock::new();
    let (cell, text) = match kind {
        FileKind::Workflow => (&WORKFLOW, WORKFLOW_SCHEMA),
        FileKind::Action => (&ACTION, ACTION_SCHEMA),
    };
    cell.get_or_init(|| {
        // The vendored schemas are fixed at build time; a test proves they compile, so
        // `None` here only disables the schema rule rather than crashing the linter.
        let schema: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let validator = jsonschema::draft7::options()
            .should_validate_formats(false)
            .build(&schema)
            .ok();
        Compiled { schema, validator }
    })
}

/// One schema violation with its position and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

/// Validates the document `root` of a file of `kind`.
pub fn validate(root: &Node, kind: FileKind) -> Vec<SchemaError> {
    let c = compiled(kind);
    let Some(validator) = &c.validator else {
        return Vec::new();
    };
    let instance = to_json(root);
    if validator.is_valid(&instance) {
        return Vec::new();
    }
    let top: Vec<ValidationError<'static>> = validator
        .iter_errors(&instance)
        .take(200)
        .map(ValidationError::to_owned)
        .collect();
    let mut flat = Vec::new();
    for err in &top {
        flatten(err, &mut flat);
    }
    let mut out: Vec<SchemaError> = flat
        .iter()
        .filter(|e| !github_accepts(e, kind))
        .filter_map(|e| describe(e, root, &c.schema))
        .collect();
    out.sort_by(|a, b| (a.span.start, &a.message).cmp(&(b.span.start, &b.message)));
    out.dedup_by(|a, b| a.span.start == b.span.start && a.message == b.message);
    out
}

/// SchemaStore is stricter than GitHub in a few places; GitHub's own workflow parser
/// (actions/languageservices `workflow-v1.0.json`, also vendored) is the arbiter. Errors in
/// these places are dropped here; where a dedicated rule exists, it checks them instead.
fn github_accepts(err: &ValidationError<'_>, kind: FileKind) -> bool {
    let ptr = err.instance_path().as_str();
    let segs: Vec<&str> = ptr.split('/').skip(1).collect();
    let is_type = matches!(err.kind(), ValidationErrorKind::Type { .. });
    let required = |name: &str| matches!(err.kind(), ValidationErrorKind::Required { property } if property.as_str() == Some(name));
    match kind {
        FileKind::Workflow => {
            // Scopes and levels: the `permissions` rule knows newer scopes (copilot-requests, …).
            let in_permissions = segs.first() == Some(&"permissions")
                || (segs.len() >= 3 && segs[0] == "jobs" && segs[2] == "permissions");
            // `strategy:` without `matrix:` is accepted (fail-fast/max-parallel alone).
            let strategy_matrix = required("matrix") && segs.last() == Some(&"strategy");
            // Event filters accept a single string as well as a list.
            let filter_string = is_type
                && err.instance().is_string()
                && segs.len() == 3
                && segs[0] == "on"
                && matches!(
                    segs[2],
                    "branches" | "branches-ignore" | "tags" | "tags-ignore" | "paths" | "paths-ignore"
                );
            // Event names and activity types: `trigger-event` checks them against GitHub's
            // current list (SchemaStore lags behind, e.g. `image_version`).
            let events = segs.first() == Some(&"on")
                && (segs.len() == 1
                    || (segs.len() == 2 && segs[1].parse::<usize>().is_ok())
                    || (segs.len() >= 3 && segs[2] == "types"));
            // `branches` with `branches-ignore` (a `not` clause): `event-filter` reports it.
            let filter_conflict =
                segs.len() == 2 && segs[0] == "on" && matches!(err.kind(), ValidationErrorKind::Not { .. });
            in_permissions || strategy_matrix || filter_string || events || filter_conflict
        }
        FileKind::Action => {
            // `description` of inputs/outputs is documented as required but never enforced,
            // and input defaults may be YAML booleans or numbers (actions/checkout does it).
            let io = segs.len() >= 2 && matches!(segs[0], "inputs" | "outputs");
            let description = io && segs.len() == 2 && required("description");
            let default = segs.len() == 3
                && segs[0] == "inputs"
                && segs[2] == "default"
                && is_type
                && !err.instance().is_object()
                && !err.instance().is_array();
            // `composite-shell` reports a `run:` step without `shell:` (and can fix it).
            let shell = required("shell") && segs.len() == 3 && segs[0] == "runs" && segs[1] == "steps";
            description || default || shell
        }
    }
}

/// The YAML tree as JSON with core-schema scalar types (for validation only).
pub fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar(s) => match s.value() {
            ScalarValue::Null => Value::Null,
            ScalarValue::Bool(b) => Value::Bool(b),
            ScalarValue::Int(i) => Value::from(i),
            ScalarValue::Float(f) => {
                serde_json::Number::from_f64(f).map_or_else(|| Value::String(s.text.clone()), Value::Number)
            }
            ScalarValue::String => Value::String(s.text.clone()),
        },
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for e in entries {
                let key = match e.key.as_str() {
                    Some(k) => k.to_string(),
                    None => continue,
                };
                map.entry(key).or_insert_with(|| to_json(&e.value));
            }
            Value::Object(map)
        }
    }
}

/// The node at JSON pointer `ptr`, and the key node when the last step was a mapping key.
fn resolve<'a>(root: &'a Node, ptr: &str) -> (&'a Node, Option<&'a Node>) {
    let mut node = root;
    let mut key = None;
    for raw in ptr.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        let next = match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|e| e.key.as_str() == Some(seg.as_str()))
                .map(|e| (&e.value, Some(&e.key))),
            NodeKind::Seq(items) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|n| (n, None)),
            NodeKind::Scalar(_) => None,
        };
        match next {
            Some((n, k)) => {
                node = n;
                key = k;
            }
            None => break,
        }
    }
    (node, key)
}

/// Replaces each `oneOf`/`anyOf` failure by the errors of its most plausible branch.
fn flatten<'e>(err: &'e ValidationError<'static>, out: &mut Vec<&'e ValidationError<'static>>) {
    match err.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            match best_branch(err, context) {
                Some(branch) => {
                    for e in branch {
                        flatten(e, out);
                    }
                }
                None => out.push(err),
            }
        }
        _ => out.push(err),
    }
}

/// The branch that got furthest: branches failing on the value's own type at the failing
/// path are discarded; among the rest, the deepest error wins, then the fewest errors.
/// `None` when every branch rejected the type (then one "expected …" message is better).
fn best_branch<'e>(
    err: &ValidationError<'static>,
    context: &'e [Vec<ValidationError<'static>>],
) -> Option<&'e Vec<ValidationError<'static>>> {
    let here = err.instance_path().as_str();
    let type_miss = |b: &Vec<ValidationError<'static>>| {
        b.iter().any(|e| {
            e.instance_path().as_str() == here
                && matches!(
                    e.kind(),
                    ValidationErrorKind::Type { .. }
                        | ValidationErrorKind::Pattern { .. }
                        | ValidationErrorKind::Enum { .. }
                        | ValidationErrorKind::Constant { .. }
                )
        })
    };
    let plausible: Vec<&Vec<ValidationError<'static>>> = context
        .iter()
        .filter(|b| !b.is_empty() && !type_miss(b))
        .collect();
    plausible.into_iter().min_by_key(|b| {
        let depth = b
            .iter()
            .map(|e| e.instance_path().as_str().matches('/').count())
            .max()
            .unwrap_or(0);
        (usize::MAX - depth, b.len())
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn kind_name(k: &str) -> &'static str {
    match k {
        "string" => "a string",
        "number" => "a number",
        "integer" => "an integer",
        "boolean" => "a boolean",
        "array" => "a list",
        "object" => "a mapping",
        "null" => "null",
        _ => "a value",
    }
}

/// `jobs.build.steps[0].uses` for messages.
fn display_path(ptr: &str) -> String {
    let mut out = String::new();
    for raw in ptr.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() {
        "the document".into()
    } else {
        format!("`{out}`")
    }
}

/// The `properties` listed next to the failing keyword, for "expected one of" help.
fn sibling_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
    schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn describe(err: &ValidationError<'static>, root: &Node, schema: &Value) -> Option<SchemaError> {
    let ptr = err.instance_path().as_str();
    let (node, key) = resolve(root, ptr);
    let at = display_path(ptr);
    let instance = err.instance();
    let (span, message, help) = match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let name = unexpected.first()?;
            let key_span = node
                .as_map()
                .and_then(|m| m.iter().find(|e| e.key.as_str() == Some(name.as_str())))
                .map_or(node.span, |e| e.key.span);
            let mut allowed = sibling_properties(schema, err.schema_path().as_str());
            allowed.sort();
            let help = (!allowed.is_empty()).then(|| format!("expected one of: {}", allowed.join(", ")));
            let message = if unexpected.len() == 1 {
                format!("unknown key `{name}` in {at}")
            } else {
                format!("unknown keys `{}` in {at}", unexpected.join("`, `"))
            };
            (key_span, message, help)
        }
        ValidationErrorKind::Required { property } => {
            let span = key.map_or(node.span, |k| k.span);
            (
                span,
                format!("{at} is missing the required key `{}`", short(property)),
                None,
            )
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => kind_name(&t.to_string()).to_string(),
                TypeKind::Multiple(ts) => {
                    let names: Vec<&str> = ts.iter().map(|t| kind_name(&t.to_string())).collect();
                    names.join(" or ")
                }
            };
            (
                node.span,
                format!("{at} must be {expected}, not {}", type_name(instance)),
                None,
            )
        }
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(short).collect())
                .unwrap_or_default();
            (
                node.span,
                format!("`{}` is not a valid value for {at}", short(instance)),
                Some(format!("expected one of: {}", opts.join(", "))),
            )
        }
        ValidationErrorKind::Constant { expected_value } => (
            node.span,
            format!("{at} must be `{}`", short(expected_value)),
            None,
        ),
        ValidationErrorKind::Pattern { pattern } => (
            node.span,
            format!("`{}` is not a valid value for {at}", short(instance)),
            Some(format!("the value must match the pattern `{pattern}`")),
        ),
        ValidationErrorKind::MinItems { limit } => {
            (node.span, format!("{at} needs at least {limit} item(s)"), None)
        }
        ValidationErrorKind::MaxItems { limit } => {
            (node.span, format!("{at} allows at most {limit} item(s)"), None)
        }
        ValidationErrorKind::MinProperties { limit } => {
            (node.span, format!("{at} needs at least {limit} key(s)"), None)
        }
        ValidationErrorKind::MaxProperties { limit } => {
            (node.span, format!("{at} allows at most {limit} key(s)"), None)
        }
        ValidationErrorKind::MinLength { .. } => (node.span, format!("{at} must not be empty"), None),
        ValidationErrorKind::MaxLength { limit } => {
            (node.span, format!("{at} is longer than {limit} characters"), None)
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
            (node.span, format!("{at} must be at least {limit}"), None)
        }
        ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
            (node.span, format!("{at} must be at most {limit}"), None)
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            let mut kinds: Vec<String> = Vec::new();
            for b in context {
                for e in b {
                    if let ValidationErrorKind::Type {
                        kind: TypeKind::Single(t),
                    } = e.kind()
                        && e.instance_path().as_str() == ptr
                    {
                        let n = kind_name(&t.to_string()).to_string();
                        if !kinds.contains(&n) {
                            kinds.push(n);
                        }
                    }
                }
            }
            let message = if kinds.is_empty() {
                format!("{at} does not match any of the forms GitHub accepts")
            } else {
                format!("{at} must be {}, not {}", kinds.join(" or "), type_name(instance))
            };
            (node.span, message, None)
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => (
            node.span,
            format!("{at} is ambiguous: it matches several forms"),
            None,
        ),
        ValidationErrorKind::UniqueItems => (node.span, format!("{at} lists the same item twice"), None),
        ValidationErrorKind::FalseSchema => {
            let span = key.map_or(node.span, |k| k.span);
            (span, format!("{at} is not allowed here"), None)
        }
        ValidationErrorKind::Not { .. } => (
            node.span,
            format!("{at} has a value that is not allowed here"),
            None,
        ),
        ValidationErrorKind::PropertyNames { error } => {
            return describe(error, root, schema).map(|mut e| {
                e.span = node.span;
                e
            });
        }
        _ => (node.span, format!("{at} is not valid: {err}"), None),
    };
    Some(SchemaError { span, message, help })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::LineIndex;
    use crate::lint::yaml::{Limits, parse};

    fn check(src: &str, kind: FileKind) -> Vec<SchemaError> {
        let file = parse(src, &LineIndex::new(src), Limits::default());
        validate(file.root().expect("document"), kind)
    }

    #[test]
    fn vendored_schemas_compile() {
        assert!(compiled(FileKind::Workflow).validator.is_some());
        assert!(compiled(FileKind::Action).validator.is_some());
    }

    #[test]
    fn valid_workflow_has_no_errors() {
        let errs = check(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo hi\n",
            FileKind::Workflow,
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn unknown_step_key_is_reported_at_the_key() {
        let errs = check(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        shel: bash\n",
            FileKind::Workflow,
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].span.start.line, errs[0].span.start.col), (7, 9));
        assert!(
            errs[0].message.contains("unknown key `shel`"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn missing_runs_on_names_the_job() {
        let errs = check(
            "on: push\njobs:\n  a:\n    steps:\n      - run: echo\n",
            FileKind::Workflow,
        );
        assert!(
            errs.iter()
                .any(|e| e.message.contains("runs-on") && e.span.start.line == 3),
            "{errs:?}"
        );
    }

    #[test]
    fn action_without_runs_is_reported() {
        let errs = check("name: x\ndescription: y\n", FileKind::Action);
        assert!(errs.iter().any(|e| e.message.contains("`runs`")), "{errs:?}");
    }
}
