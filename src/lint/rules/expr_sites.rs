//! Shared by the expression rules (`expression-syntax`, `expression-type`,
//! `context-availability`, `undefined-reference`, `template-injection`): finds every
//! `${{ }}` and `if:` condition of a file with its key path, parses it, builds the typed
//! contexts visible there (matrix, needs, steps, inputs, jobs) and maps offsets inside a
//! scalar's value back to the file, through quoting, escapes and block-scalar folding.
//! Not a rule itself.
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::lint::LintContext;
use crate::lint::expr::ast::Expr;
use crate::lint::expr::availability::{DocumentKind, Seg, availability};
use crate::lint::expr::check::{Problem, check};
use crate::lint::expr::contexts::{self, JobOutputs, Scope};
use crate::lint::expr::parser::parse;
use crate::lint::expr::template::find_embedded;
use crate::lint::expr::types::{Object, Ty, join_all};
use crate::lint::expr::{ExprError, Span as ExprSpan};
use crate::lint::finding::Span;
use crate::lint::model::{FileKind, Workflow};
use crate::lint::yaml::{Node, NodeKind, ScalarValue, Style};

/// One step of the key path to a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

/// One expression in the file: where it is, what it parsed to, and its problems.
pub struct Site<'a> {
    /// The scalar holding it.
    pub node: &'a Node,
    pub path: Vec<PathSeg<'a>>,
    /// Byte range of the expression text inside the scalar's value.
    pub inner: ExprSpan,
    /// Byte range of `${{ … }}` inside the value; `None` for a bare `if:` condition.
    pub whole: Option<ExprSpan>,
    pub parsed: Rc<Result<Expr, ExprError>>,
    problems: Rc<Vec<Problem>>,
}

impl Site<'_> {
    /// The type, name and availability problems of the expression (none for a syntax error).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The file span of a range of the expression text.
    pub fn span_of(&self, cx: &LintContext<'_>, span: ExprSpan) -> Span {
        value_span(cx, self.node, span.shift(self.inner.start))
    }
}

/// A problem found before parsing: an unterminated `${{`, or an `if:` that mixes `${{ }}`
/// with other text and so is a non-empty string, always true.
pub struct TemplateProblem<'a> {
    pub node: &'a Node,
    pub error: ExprError,
    pub mixed_if: bool,
}

/// Everything the expression rules need for one file.
pub struct FileExprs<'a> {
    pub sites: Vec<Site<'a>>,
    pub template_problems: Vec<TemplateProblem<'a>>,
}

/// What one scalar (reached by one path) contributes, independent of borrowed nodes.
#[derive(Clone, Default)]
struct ScalarOutcome {
    sites: Vec<CachedSite>,
    template_problems: Vec<(ExprError, bool)>,
}

/// One expression of a scalar: inner and whole ranges, the parse, its problems.
type CachedSite = (
    ExprSpan,
    Option<ExprSpan>,
    Rc<Result<Expr, ExprError>>,
    Rc<Vec<Problem>>,
);

/// Every expression of the file in `cx`, collected and parsed on first use and then shared
/// by the five expression rules through [`LintContext::exprs`].
pub fn collect<'c, 'a>(cx: &'c LintContext<'a>) -> &'c FileExprs<'a> {
    cx.exprs()
}

/// Collects and parses every expression of the file in `cx` (see [`collect`]).
pub(crate) fn compute<'a>(cx: &LintContext<'a>) -> FileExprs<'a> {
    let mut out = FileExprs {
        sites: Vec::new(),
        template_problems: Vec::new(),
    };
    let Some(root) = cx.root() else { return out };
    let kind = match cx.kind {
        FileKind::Workflow => DocumentKind::Workflow,
        FileKind::Action => DocumentKind::Action,
    };
    let mut scopes: Option<Scopes> = None;
    let mut path = Vec::new();
    walk(root, &mut path, &mut |node, path| {
        let Some(scalar) = node.as_scalar() else { return };
        let condition = is_condition_key(path);
        let text = scalar.text.as_str();
        let evaluated = text.contains("${{") || (condition && scalar.value() == ScalarValue::String);
        if !evaluated {
            return;
        }
        let scopes = scopes.get_or_insert_with(|| Scopes::new(cx, root));
        let outcome = analyze_scalar(text, condition, path, kind, scopes);
        for (inner, whole, parsed, problems) in outcome.sites {
            out.sites.push(Site {
                node,
                path: path.to_vec(),
                inner,
                whole,
                parsed,
                problems,
            });
        }
        for (error, mixed_if) in outcome.template_problems {
            out.template_problems.push(TemplateProblem {
                node,
                error,
                mixed_if,
            });
        }
    });
    out
}

const MAX_WALK_DEPTH: usize = 200;

fn walk<'a>(node: &'a Node, path: &mut Vec<PathSeg<'a>>, f: &mut dyn FnMut(&'a Node, &[PathSeg<'a>])) {
    if path.len() > MAX_WALK_DEPTH {
        return;
    }
    match &node.kind {
        NodeKind::Scalar(_) => f(node, path),
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                walk(item, path, f);
                path.pop();
            }
        }
        NodeKind::Map(entries) => {
            for entry in entries {
                let Some(key) = entry.key.as_str() else { continue };
                path.push(PathSeg::Key(key));
                walk(&entry.value, path, f);
                path.pop();
            }
        }
    }
}

fn is_condition_key(path: &[PathSeg<'_>]) -> bool {
    matches!(path.last(), Some(PathSeg::Key("if" | "pre-if" | "post-if")))
}

/// Finds, parses and checks the expressions of one scalar value at `path`.
fn analyze_scalar(
    text: &str,
    condition: bool,
    path: &[PathSeg<'_>],
    kind: DocumentKind,
    scopes: &Scopes,
) -> ScalarOutcome {
    let mut out = ScalarOutcome::default();
    let segs: Vec<Seg<'_>> = path
        .iter()
        .map(|p| match p {
            PathSeg::Key(k) => Seg::Key(k),
            PathSeg::Index(_) => Seg::Item,
        })
        .collect();
    // Keys without a context list do not evaluate expressions: nothing to check there.
    let Some(avail) = availability(kind, &segs) else {
        return out;
    };
    let scope = scopes.at(path);
    let mut push = |inner: ExprSpan, whole: Option<ExprSpan>| {
        let parsed = parse(&text[inner.start..inner.end]);
        let problems = match &parsed {
            Ok(expr) => check(expr, &scope, Some(&avail)).1,
            Err(_) => Vec::new(),
        };
        out.sites.push((inner, whole, Rc::new(parsed), Rc::new(problems)));
    };
    let (found, error) = find_embedded(text);
    if condition && !text.contains("${{") {
        push(ExprSpan::new(0, text.len()), None);
        return out;
    }
    let mut mixed = None;
    if condition && found.len() == 1 && error.is_none() {
        let whole = found[0].whole;
        let outside = format!("{}{}", &text[..whole.start], &text[whole.end..]);
        if !outside.trim().is_empty() {
            mixed = Some(ExprError::new(
                ExprSpan::new(0, text.len()),
                "this `if:` mixes `${{ }}` with other text, so it is a non-empty string and always true",
            ));
        }
    }
    for embedded in found {
        push(embedded.inner, Some(embedded.whole));
    }
    if let Some(mixed) = mixed {
        out.template_problems.push((mixed, true));
    }
    if let Some(error) = error {
        out.template_problems.push((error, false));
    }
    out
}

/// The typed contexts of a file, per job and per step.
struct Scopes {
    base: Scope,
    jobs: Vec<JobScope>,
    /// Composite action steps, or `None` for workflows.
    action_steps: Option<Vec<Option<String>>>,
    all_jobs: Vec<JobOutputs>,
    cache: RefCell<HashMap<ScopeKey, Rc<Scope>>>,
}

struct JobScope {
    id: String,
    scope: Scope,
    steps: Vec<Option<String>>,
}

impl Scopes {
    fn new(cx: &LintContext<'_>, root: &Node) -> Scopes {
        let mut base = Scope::new();
        let mut jobs = Vec::new();
        let mut all_jobs = Vec::new();
        let mut action_steps = None;
        if let Some(wf) = cx.workflow() {
            base.set("inputs", workflow_inputs(&wf));
            for job in wf.jobs() {
                all_jobs.push(JobOutputs {
                    id: job.id().to_string(),
                    outputs: job_outputs(job.node()),
                });
            }
            for job in wf.jobs() {
                let mut scope = base.clone();
                let needs: Vec<JobOutputs> = job
                    .needs()
                    .iter()
                    .filter_map(|n| n.as_str())
                    .map(|id| JobOutputs {
                        id: id.to_string(),
                        outputs: wf.job(id).and_then(|j| job_outputs(j.node())),
                    })
                    .collect();
                let needs_is_static = job.get("needs").is_none_or(|n| !n.is_expression());
                if needs_is_static {
                    scope.set("needs", contexts::needs(&needs));
                }
                scope.set(
                    "matrix",
                    matrix_type(job.get("strategy").and_then(|s| s.get("matrix"))),
                );
                let steps = step_ids(job.get("steps"));
                jobs.push(JobScope {
                    id: job.id().to_string(),
                    scope,
                    steps,
                });
            }
        } else if let Some(action) = cx.action() {
            let names: Vec<&str> = action
                .inputs()
                .map(|i| i.entries().map(|(k, _)| k).collect())
                .unwrap_or_default();
            let loose_inputs = action.inputs().is_some_and(|i| i.as_map().is_none());
            if !loose_inputs {
                base.set(
                    "inputs",
                    contexts::inputs(names.into_iter().map(|n| (n, Ty::String))),
                );
            }
            action_steps = Some(step_ids(root.get("runs").and_then(|r| r.get("steps"))));
        }
        Scopes {
            base,
            jobs,
            action_steps,
            all_jobs,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The scope at `path`. Scopes differ only by job and by how many steps are visible,
    /// so they are built once per such pair and shared.
    fn at(&self, path: &[PathSeg<'_>]) -> Rc<Scope> {
        let (key, job, visible) = match path {
            [PathSeg::Key("jobs"), PathSeg::Key(id), rest @ ..] => {
                match self.jobs.iter().position(|j| j.id == *id) {
                    Some(j) => {
                        let steps = &self.jobs[j].steps;
                        let visible = match rest {
                            [PathSeg::Key("steps"), PathSeg::Index(i), ..]
                                if steps.len() <= MAX_ORDERED_STEPS =>
                            {
                                (*i).min(steps.len())
                            }
                            _ => steps.len(),
                        };
                        (ScopeKey::Job(j, visible), Some(j), visible)
                    }
                    None => (ScopeKey::Base, None, 0),
                }
            }
            [
                PathSeg::Key("on"),
                PathSeg::Key("workflow_call"),
                PathSeg::Key("outputs"),
                ..,
            ] => (ScopeKey::CallOutputs, None, 0),
            _ => match &self.action_steps {
                Some(steps) => {
                    let visible = match path {
                        [PathSeg::Key("runs"), PathSeg::Key("steps"), PathSeg::Index(i), ..]
                            if steps.len() <= MAX_ORDERED_STEPS =>
                        {
                            (*i).min(steps.len())
                        }
                        _ => steps.len(),
                    };
                    (ScopeKey::Action(visible), None, visible)
                }
                None => (ScopeKey::Base, None, 0),
            },
        };
        if let Some(scope) = self.cache.borrow().get(&key) {
            return scope.clone();
        }
        let scope = match key {
            ScopeKey::Job(..) => {
                let job = &self.jobs[job.unwrap_or_default()];
                let mut scope = job.scope.clone();
                scope.set("steps", steps_type(&job.steps[..visible]));
                scope.set_later_steps(job.steps[visible..].iter().flatten().map(String::as_str));
                scope
            }
            ScopeKey::CallOutputs => {
                let mut scope = self.base.clone();
                scope.set("jobs", contexts::jobs(&self.all_jobs));
                scope
            }
            ScopeKey::Action(_) => {
                let mut scope = self.base.clone();
                let steps = self.action_steps.as_deref().unwrap_or_default();
                let visible = visible.min(steps.len());
                scope.set("steps", steps_type(&steps[..visible]));
                scope.set_later_steps(steps[visible..].iter().flatten().map(String::as_str));
                scope
            }
            ScopeKey::Base => self.base.clone(),
        };
        let scope = Rc::new(scope);
        let mut cache = self.cache.borrow_mut();
        // Steps are visited in order, so one scope per job is enough; keeping every prefix
        // would hold a quadratic number of step ids.
        match key {
            ScopeKey::Job(j, _) => cache.retain(|k, _| !matches!(k, ScopeKey::Job(other, _) if *other == j)),
            ScopeKey::Action(_) => cache.retain(|k, _| !matches!(k, ScopeKey::Action(_))),
            ScopeKey::Base | ScopeKey::CallOutputs => {}
        }
        cache.insert(key, scope.clone());
        scope
    }
}

/// Above this many steps in one job (hostile or generated input), every step id counts as
/// visible everywhere in the job: `steps.<later id>` is no longer reported, but the work per
/// file stays linear instead of growing with steps × steps.
const MAX_ORDERED_STEPS: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ScopeKey {
    Base,
    CallOutputs,
    /// Job index and number of visible steps.
    Job(usize, usize),
    /// Number of visible composite steps.
    Action(usize),
}

/// Step ids in order (`None` for steps without an id).
fn step_ids(steps: Option<&Node>) -> Vec<Option<String>> {
    steps
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .map(|s| s.get("id").and_then(Node::as_str).map(str::to_string))
        .collect()
}

/// The `steps` context from the visible step ids; unknown shape when an id is computed.
fn steps_type(visible: &[Option<String>]) -> Ty {
    if visible.iter().flatten().any(|id| id.contains("${{")) {
        return Ty::any_object();
    }
    contexts::steps(visible.iter().flatten().map(String::as_str))
}

/// Output names of a job, when they are statically known (not for reusable-workflow calls).
fn job_outputs(job: &Node) -> Option<Vec<String>> {
    if job.get("uses").is_some() {
        return None;
    }
    match job.get("outputs") {
        None => Some(Vec::new()),
        Some(outputs) => outputs
            .as_map()
            .map(|_| outputs.entries().map(|(k, _)| k.to_string()).collect()),
    }
}

/// `inputs` of a workflow: the union of `workflow_dispatch` and `workflow_call` inputs.
fn workflow_inputs(wf: &Workflow<'_>) -> Ty {
    let Some(on) = wf.on() else {
        return Ty::any_object();
    };
    if on.value.is_expression() {
        return Ty::any_object();
    }
    let mut object = Object::closed([]);
    for event in ["workflow_dispatch", "workflow_call"] {
        let Some((_, Some(config))) = wf.event(event) else {
            continue;
        };
        let Some(inputs) = config.get("inputs") else {
            continue;
        };
        if inputs.as_map().is_none() && !inputs.is_null() {
            return Ty::any_object();
        }
        for (name, entry) in inputs.entries() {
            let ty = contexts::input_type(entry.value.get("type").and_then(Node::as_str));
            object.insert(name, ty);
        }
    }
    Ty::Object(object)
}

/// The type of `matrix` from a static `strategy.matrix`; unknown shape when it comes
/// from an expression; an empty object for jobs without a matrix.
pub fn matrix_type(matrix: Option<&Node>) -> Ty {
    let Some(matrix) = matrix else {
        return Ty::Object(Object::closed([]));
    };
    if matrix.as_map().is_none() {
        return Ty::any_object();
    }
    let mut object = Object::closed([]);
    let add = |object: &mut Object, key: &str, ty: Ty| object.insert(key, ty);
    for (key, entry) in matrix.entries() {
        match key {
            "exclude" => {}
            "include" => match entry.value.as_seq() {
                Some(rows) => {
                    for row in rows {
                        if row.as_map().is_none() {
                            object.rest = Some(Box::new(Ty::Any));
                            continue;
                        }
                        for (k, e) in row.entries() {
                            add(&mut object, k, node_type(&e.value));
                        }
                    }
                }
                None => object.rest = Some(Box::new(Ty::Any)),
            },
            _ if key.contains("${{") => object.rest = Some(Box::new(Ty::Any)),
            _ => {
                let ty = match entry.value.as_seq() {
                    Some(values) => join_all(values.iter().map(node_type)),
                    None => Ty::Any,
                };
                add(&mut object, key, ty);
            }
        }
    }
    Ty::Object(object)
}

/// The static type of a YAML value; strings holding expressions are unknown.
fn node_type(node: &Node) -> Ty {
    match &node.kind {
        NodeKind::Scalar(s) => match s.value() {
            ScalarValue::Null => Ty::Null,
            ScalarValue::Bool(_) => Ty::Bool,
            ScalarValue::Int(_) | ScalarValue::Float(_) => Ty::Number,
            ScalarValue::String if s.text.contains("${{") => Ty::Any,
            ScalarValue::String => Ty::String,
        },
        NodeKind::Seq(items) => Ty::array(join_all(items.iter().map(node_type))),
        NodeKind::Map(_) => {
            let mut object = Object::closed([]);
            for (k, e) in node.entries() {
                object.insert(k, node_type(&e.value));
            }
            Ty::Object(object)
        }
    }
}

/// The file span of the byte range `span` of scalar `node`'s value; the whole node when the
/// value cannot be mapped back to the source.
pub fn value_span(cx: &LintContext<'_>, node: &Node, span: ExprSpan) -> Span {
    let source = cx.source();
    match value_offsets(source, node) {
        Some(map) => {
            let start = map[span.start.min(map.len() - 1)];
            let end = map[span.end.min(map.len() - 1)].max(start);
            Span::new(
                cx.file.lines.pos_of_offset(source, start),
                cx.file.lines.pos_of_offset(source, end),
            )
        }
        None => node.span,
    }
}

/// For each byte of scalar `node`'s value, the byte offset in `source` it comes from,
/// plus one entry for the end. Decodes the scalar's source text again (quotes, escapes,
/// line folding, block indentation) and checks it reproduces the parser's value, so a
/// mapping is either exact or `None`.
pub fn value_offsets(source: &str, node: &Node) -> Option<Vec<usize>> {
    let scalar = node.as_scalar()?;
    let start = node.span.start.offset as usize;
    let value = scalar.text.as_bytes();
    let mut out = Decoded {
        value,
        map: Vec::with_capacity(value.len() + 1),
    };
    let end = match scalar.style {
        Style::Plain => flow(source.as_bytes(), start, None, &mut out)?,
        Style::SingleQuoted => flow(source.as_bytes(), start, Some(b'\''), &mut out)?,
        Style::DoubleQuoted => flow(source.as_bytes(), start, Some(b'"'), &mut out)?,
        Style::Literal => block(source.as_bytes(), start, false, &mut out)?,
        Style::Folded => block(source.as_bytes(), start, true, &mut out)?,
    };
    out.map.push(end);
    Some(out.map)
}

struct Decoded<'v> {
    value: &'v [u8],
    map: Vec<usize>,
}

impl Decoded<'_> {
    fn done(&self) -> bool {
        self.map.len() >= self.value.len()
    }

    /// Records that the next value bytes are `bytes`, from source offset `at`.
    fn push(&mut self, bytes: &[u8], at: usize) -> Option<()> {
        for b in bytes {
            if self.value.get(self.map.len()) != Some(b) {
                return None;
            }
            self.map.push(at);
        }
        Some(())
    }

    fn push_source(&mut self, src: &[u8], from: usize, to: usize) -> Option<()> {
        for (k, b) in src[from..to].iter().enumerate() {
            if self.value.get(self.map.len()) != Some(b) {
                return None;
            }
            self.map.push(from + k);
        }
        Some(())
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Plain, single- and double-quoted scalars: line breaks fold to a space (or to `n-1`
/// newlines for `n` breaks), surrounding whitespace of the break is dropped.
fn flow(src: &[u8], start: usize, quote: Option<u8>, out: &mut Decoded<'_>) -> Option<usize> {
    let mut i = start;
    if let Some(q) = quote {
        if src.get(i) != Some(&q) {
            return None;
        }
        i += 1;
    }
    while !out.done() {
        let c = *src.get(i)?;
        match c {
            b'\'' if quote == Some(b'\'') => {
                if src.get(i + 1) != Some(&b'\'') {
                    return None;
                }
                out.push(b"'", i)?;
                i += 2;
            }
            b'"' if quote == Some(b'"') => return None,
            b'\\' if quote == Some(b'"') => {
                let e = *src.get(i + 1)?;
                if e == b'\n' || e == b'\r' {
                    i += 1;
                    i += if src.get(i) == Some(&b'\r') && src.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    while matches!(src.get(i), Some(b' ' | b'\t')) {
                        i += 1;
                    }
                    continue;
                }
                let (ch, len) = match e {
                    b'x' => (hex_char(src, i + 2, 2)?, 4),
                    b'u' => (hex_char(src, i + 2, 4)?, 6),
                    b'U' => (hex_char(src, i + 2, 8)?, 10),
                    _ => (simple_escape(e)?, 2),
                };
                let mut buf = [0u8; 4];
                out.push(ch.encode_utf8(&mut buf).as_bytes(), i)?;
                i += len;
            }
            b' ' | b'\t' => {
                let mut j = i;
                while matches!(src.get(j), Some(b' ' | b'\t')) {
                    j += 1;
                }
                if !matches!(src.get(j), Some(b'\n' | b'\r')) {
                    out.push_source(src, i, j)?;
                }
                i = j;
            }
            b'\n' | b'\r' => {
                let first = i;
                let mut breaks = 0;
                loop {
                    i += if src[i] == b'\r' && src.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    breaks += 1;
                    while matches!(src.get(i), Some(b' ' | b'\t')) {
                        i += 1;
                    }
                    if !matches!(src.get(i), Some(b'\n' | b'\r')) {
                        break;
                    }
                }
                if breaks == 1 {
                    out.push(b" ", first)?;
                } else {
                    for _ in 1..breaks {
                        out.push(b"\n", first)?;
                    }
                }
            }
            _ => {
                let len = utf8_len(c).min(src.len() - i);
                out.push_source(src, i, i + len)?;
                i += len;
            }
        }
    }
    Some(i)
}

fn hex_char(src: &[u8], from: usize, digits: usize) -> Option<char> {
    let text = std::str::from_utf8(src.get(from..from + digits)?).ok()?;
    char::from_u32(u32::from_str_radix(text, 16).ok()?)
}

fn simple_escape(e: u8) -> Option<char> {
    Some(match e {
        b'0' => '\0',
        b'a' => '\x07',
        b'b' => '\x08',
        b't' | b'\t' => '\t',
        b'n' => '\n',
        b'v' => '\x0b',
        b'f' => '\x0c',
        b'r' => '\r',
        b'e' => '\x1b',
        b' ' => ' ',
        b'"' => '"',
        b'/' => '/',
        b'\\' => '\\',
        b'N' => '\u{85}',
        b'_' => '\u{a0}',
        b'L' => '\u{2028}',
        b'P' => '\u{2029}',
        _ => return None,
    })
}

/// Literal (`|`) and folded (`>`) block scalars. The indentation is that of the first
/// non-empty line; the result is verified against the parser's value by [`Decoded`].
fn block(src: &[u8], start: usize, folded: bool, out: &mut Decoded<'_>) -> Option<usize> {
    // The parser's span starts at the first content character; the scalar's lines start
    // at the beginning of that line, or earlier when empty lines precede it.
    let line_start = |at: usize| src[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut i = line_start(start.min(src.len()));
    while i > 0 {
        let prev = line_start(i - 1);
        if !src[prev..i - 1]
            .iter()
            .all(|&b| b == b' ' || b == b'\t' || b == b'\r')
        {
            break;
        }
        i = prev;
    }
    let mut lines = Vec::new();
    let mut at = i;
    while at < src.len() {
        let end = src[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(src.len(), |p| at + p);
        let content_end = if end > at && src[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        lines.push((at, content_end));
        at = end + 1;
    }
    let indent_of = |(s, e): (usize, usize)| src[s..e].iter().take_while(|&&b| b == b' ').count();
    let is_blank = |(s, e): (usize, usize)| src[s..e].iter().all(|&b| b == b' ' || b == b'\t');
    let indent = lines.iter().find(|l| !is_blank(**l)).map(|l| indent_of(*l))?;
    let mut prev_end = i;
    let mut prev_more: Option<bool> = None;
    let mut empties = 0;
    for &(s, e) in &lines {
        if out.done() {
            break;
        }
        if is_blank((s, e)) && e - s <= indent {
            empties += 1;
            if !folded {
                out.push(b"\n", e)?;
            }
            continue;
        }
        if indent_of((s, e)) < indent {
            break;
        }
        let content = s + indent;
        let more = matches!(src.get(content), Some(b' ' | b'\t'));
        if folded {
            match prev_more {
                None => {
                    for _ in 0..empties {
                        out.push(b"\n", prev_end)?;
                    }
                }
                Some(false) if !more && empties == 0 => out.push(b" ", prev_end)?,
                Some(false) if !more => {
                    for _ in 0..empties {
                        out.push(b"\n", prev_end)?;
                    }
                }
                Some(_) => {
                    for _ in 0..=empties {
                        out.push(b"\n", prev_end)?;
                    }
                }
            }
        }
        out.push_source(src, content, e)?;
        if !folded && !out.done() {
            out.push(b"\n", e)?;
        }
        prev_end = e;
        prev_more = Some(more);
        empties = 0;
    }
    while !out.done() {
        out.push(b"\n", prev_end)?;
    }
    Some(prev_end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::ParsedFile;

    /// Parses `yaml`, takes the scalar under `key` of the root mapping, and checks that
    /// every byte of its value maps back to the same byte in the source.
    fn roundtrip(yaml: &str, key: &str) -> Vec<usize> {
        let file = ParsedFile::parse(yaml.as_bytes());
        let root = file.yaml.root().expect("root");
        let node = root.get(key).expect("key");
        let map = value_offsets(&file.source, node)
            .unwrap_or_else(|| panic!("no map for {key}: {:?}", node.as_str()));
        let value = node.as_str().expect("scalar");
        assert_eq!(map.len(), value.len() + 1);
        map
    }

    fn source_of(yaml: &str, map: &[usize], value: &str, needle: &str) -> usize {
        let at = value.find(needle).expect("needle in value");
        let src = map[at];
        assert_eq!(&yaml[src..src + needle.len()], needle, "mapped text differs");
        src
    }

    #[test]
    fn maps_plain_and_quoted_scalars() {
        let yaml = "a: echo ${{ x }}\nb: 'it''s ${{ y }}'\nc: \"tab\\t${{ z }}\"\n";
        for (key, needle) in [("a", "${{ x }}"), ("b", "${{ y }}"), ("c", "${{ z }}")] {
            let map = roundtrip(yaml, key);
            let file = ParsedFile::parse(yaml.as_bytes());
            let value = file
                .yaml
                .root()
                .and_then(|r| r.get(key))
                .and_then(Node::as_str)
                .unwrap_or("");
            source_of(yaml, &map, value, needle);
        }
    }

    #[test]
    fn maps_literal_and_folded_blocks() {
        let yaml = "run: |\n  echo one\n\n  echo ${{ github.head_ref }}\n    indented ${{ a }}\nnext: |-\n  x\nfold: >\n  first ${{ b }}\n  second ${{ c }}\n\n  third\n";
        let file = ParsedFile::parse(yaml.as_bytes());
        let root = file.yaml.root().expect("root");
        for (key, needles) in [
            ("run", vec!["${{ github.head_ref }}", "${{ a }}"]),
            ("next", vec!["x"]),
            ("fold", vec!["${{ b }}", "${{ c }}", "third"]),
        ] {
            let map = roundtrip(yaml, key);
            let value = root.get(key).and_then(Node::as_str).unwrap_or("");
            for needle in needles {
                source_of(yaml, &map, value, needle);
            }
        }
    }

    #[test]
    fn maps_multi_line_flow_scalars() {
        let yaml = "a: first\n  second ${{ x }}\nb: \"one \\\n  two ${{ y }}\"\n";
        let file = ParsedFile::parse(yaml.as_bytes());
        let root = file.yaml.root().expect("root");
        for (key, needle) in [("a", "${{ x }}"), ("b", "${{ y }}")] {
            let map = roundtrip(yaml, key);
            let value = root.get(key).and_then(Node::as_str).unwrap_or("");
            source_of(yaml, &map, value, needle);
        }
    }

    #[test]
    fn matrix_types_come_from_rows_and_include() {
        let yaml = "m:\n  os: [ubuntu-latest, macos-latest]\n  node: [18, 20]\n  include:\n    - os: windows-latest\n      experimental: true\n  exclude:\n    - os: macos-latest\n";
        let file = ParsedFile::parse(yaml.as_bytes());
        let m = file.yaml.root().and_then(|r| r.get("m"));
        let Ty::Object(object) = matrix_type(m) else {
            panic!("matrix is an object")
        };
        assert_eq!(object.get("os"), Some(Ty::String));
        assert_eq!(object.get("node"), Some(Ty::Number));
        assert_eq!(object.get("experimental"), Some(Ty::Bool));
        assert_eq!(object.get("exclude"), None);
        assert_eq!(object.rest, None);
        let dynamic = ParsedFile::parse(b"m: ${{ fromJSON(needs.a.outputs.m) }}\n");
        assert_eq!(
            matrix_type(dynamic.yaml.root().and_then(|r| r.get("m"))),
            Ty::any_object()
        );
        assert_eq!(matrix_type(None), Ty::Object(Object::closed([])));
    }
}

#[cfg(test)]
mod prop_tests {
    use super::value_offsets;
    use crate::lint::ParsedFile;
    use proptest::prelude::*;

    /// A scalar value written in one of the five styles, as `key: <scalar>` YAML.
    fn written(value: &str, style: usize) -> String {
        match style {
            0 => format!("k: '{}'\n", value.replace('\'', "''")),
            1 => format!("k: \"{}\"\n", value.replace('\\', "\\\\").replace('"', "\\\"")),
            2 => format!(
                "k: |\n{}",
                value.lines().map(|l| format!("  {l}\n")).collect::<String>()
            ),
            3 => format!(
                "k: >\n{}",
                value.lines().map(|l| format!("  {l}\n")).collect::<String>()
            ),
            _ => format!("k: x {value}\n"),
        }
    }

    proptest! {
        /// Whatever the parser's value is, a mapping (when one is produced) sends every byte
        /// of the value to the same byte in the source, outside escapes and folds.
        #[test]
        fn mapped_bytes_are_the_source_bytes(
            value in "[a-z ${}'\"\\\\:#-]{0,30}(\n[a-z ${}]{1,20}){0,3}",
            style in 0usize..5,
        ) {
            let yaml = written(&value, style);
            let file = ParsedFile::parse(yaml.as_bytes());
            let Some(node) = file.yaml.root().and_then(|r| r.get("k")) else { return Ok(()) };
            let Some(text) = node.as_str() else { return Ok(()) };
            let map = value_offsets(&file.source, node);
            prop_assert!(map.is_some(), "no mapping for {:?} from {:?}", text, yaml);
            if let Some(map) = map {
                prop_assert_eq!(map.len(), text.len() + 1);
                for (i, &at) in map.iter().enumerate().take(text.len()) {
                    let b = text.as_bytes()[i];
                    let src = file.source.as_bytes()[at];
                    // Escapes and folded line breaks map to their first source byte.
                    prop_assert!(src == b || src == b'\\' || src == b'\n' || src == b' ' || (b == b'\'' && src == b'\''));
                }
            }
        }
    }
}
