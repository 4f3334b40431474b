//! The type checker: walks one parsed expression against a [`Scope`] (the typed contexts)
//! and an optional [`Availability`] (what the key allows), and reports problems in three
//! families that map onto three rules: types, undefined names, and availability.
use super::Span;
use super::ast::{Expr, ExprKind};
use super::availability::Availability;
use super::contexts::{CONTEXT_NAMES, Scope};
use super::functions::{self, Arg};
use super::types::{Ty, comparison_problem};

/// Which rule a problem belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Wrong argument types or counts, meaningless comparisons, property of a non-object.
    Type,
    /// A context, property, step, job, input or function that does not exist.
    Undefined,
    /// A context or function that exists but is not available at this key.
    Availability,
}

/// One problem, with the byte range in the expression text it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub span: Span,
    pub message: String,
    /// The name may be missing by design (a key that only some matrix rows' objects
    /// have): worth a warning, not an error.
    pub soft: bool,
}

/// Type-checks `expr`; returns its type and every problem found.
pub fn check(expr: &Expr, scope: &Scope, availability: Option<&Availability>) -> (Ty, Vec<Problem>) {
    let mut checker = Checker {
        scope,
        availability,
        problems: Vec::new(),
    };
    let typed = checker.ty(expr);
    (typed.ty, checker.problems)
}

/// A type, and whether it is the result of a `.*` filter, in which case a following
/// property access applies to every element.
struct Typed {
    ty: Ty,
    projected: bool,
}

impl Typed {
    fn plain(ty: Ty) -> Typed {
        Typed { ty, projected: false }
    }
}

struct Checker<'a> {
    scope: &'a Scope,
    availability: Option<&'a Availability>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, kind: ProblemKind, span: Span, message: String) {
        self.problems.push(Problem {
            kind,
            span,
            message,
            soft: false,
        });
    }

    fn ty(&mut self, expr: &Expr) -> Typed {
        match &expr.kind {
            ExprKind::Null => Typed::plain(Ty::Null),
            ExprKind::Bool(_) => Typed::plain(Ty::Bool),
            ExprKind::Number(_) => Typed::plain(Ty::Number),
            ExprKind::String(_) => Typed::plain(Ty::String),
            ExprKind::Context(name) => Typed::plain(self.context(name, expr.span)),
            ExprKind::Property {
                recv,
                name,
                name_span,
            } => {
                let recv_typed = self.ty(recv);
                self.property(recv, recv_typed, name, *name_span)
            }
            ExprKind::Index { recv, index } => {
                let recv_typed = self.ty(recv);
                let index_ty = self.ty(index).ty;
                Typed::plain(self.index(recv_typed.ty, &index_ty, expr.span))
            }
            ExprKind::Filter { recv } => {
                let recv_ty = self.ty(recv).ty;
                match recv_ty {
                    Ty::Array(elem) => Typed {
                        ty: Ty::Array(elem),
                        projected: true,
                    },
                    Ty::Object(object) => Typed {
                        ty: Ty::array(object.element()),
                        projected: true,
                    },
                    Ty::Any => Typed::plain(Ty::Any),
                    other => {
                        self.report(
                            ProblemKind::Type,
                            expr.span,
                            format!(
                                "`.*` filters an object or an array, but this value is {}",
                                other.kind_name()
                            ),
                        );
                        Typed::plain(Ty::Any)
                    }
                }
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => Typed::plain(self.call(name, *name_span, args, expr.span)),
            ExprKind::Not(inner) => {
                self.ty(inner);
                Typed::plain(Ty::Bool)
            }
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let l = self.ty(lhs).ty;
                let r = self.ty(rhs).ty;
                match op {
                    super::ast::BinOp::And | super::ast::BinOp::Or => Typed::plain(l.join(&r)),
                    _ => {
                        if let Some(message) = comparison_problem(*op, &l, &r) {
                            self.report(ProblemKind::Type, *op_span, message);
                        }
                        Typed::plain(Ty::Bool)
                    }
                }
            }
        }
    }

    fn context(&mut self, name: &str, span: Span) -> Ty {
        let Some(ty) = self.scope.get(name) else {
            let message = match functions::lookup(name) {
                Some(f) => format!("`{name}` is a function: call it as `{}(…)`", f.name),
                None => format!(
                    "`{name}` is not a context; the contexts are {}",
                    CONTEXT_NAMES.join(", ")
                ),
            };
            self.report(ProblemKind::Undefined, span, message);
            return Ty::Any;
        };
        if let Some(avail) = self.availability
            && !avail.allows_context(name)
        {
            self.report(
                ProblemKind::Availability,
                span,
                format!(
                    "the `{}` context is not available here; this key allows {}",
                    name.to_ascii_lowercase(),
                    list_or_none(&avail.contexts)
                ),
            );
        }
        ty
    }

    fn property(&mut self, recv: &Expr, typed: Typed, name: &str, name_span: Span) -> Typed {
        if typed.projected
            && let Ty::Array(elem) = &typed.ty
        {
            let inner = self.property(recv, Typed::plain((**elem).clone()), name, name_span);
            return Typed {
                ty: Ty::array(inner.ty),
                projected: true,
            };
        }
        match typed.ty {
            Ty::Any => Typed::plain(Ty::Any),
            Ty::Object(object) => match object.get(name) {
                Some(ty) => Typed::plain(ty),
                None => {
                    let path = recv.access_path().unwrap_or_default();
                    let message = if path == ["steps"] && self.scope.is_later_step(name) {
                        format!(
                            "step `{name}` runs after this one: a step can only read the outputs and results of earlier steps"
                        )
                    } else {
                        undefined_property_message(recv, &object, name)
                    };
                    self.report(ProblemKind::Undefined, name_span, message);
                    if path.len() >= 2
                        && path[0] == "matrix"
                        && let Some(last) = self.problems.last_mut()
                    {
                        last.soft = true;
                    }
                    Typed::plain(Ty::Any)
                }
            },
            Ty::Array(_) => {
                self.report(
                    ProblemKind::Type,
                    name_span,
                    format!(
                        "property `{name}` of an array is always null: index it with `[N]` or filter it with `.*.{name}`"
                    ),
                );
                Typed::plain(Ty::Any)
            }
            other => {
                self.report(
                    ProblemKind::Type,
                    name_span,
                    format!(
                        "property `{name}` of a {} value is always null: only objects have properties",
                        other.kind_name()
                    ),
                );
                Typed::plain(Ty::Any)
            }
        }
    }

    fn index(&mut self, recv: Ty, index: &Ty, span: Span) -> Ty {
        match recv {
            Ty::Any => Ty::Any,
            Ty::Array(elem) => {
                if matches!(index, Ty::Object(_) | Ty::Array(_)) {
                    self.report(
                        ProblemKind::Type,
                        span,
                        format!("an array index must be a number, but it is {}", index.kind_name()),
                    );
                }
                *elem
            }
            Ty::Object(object) => match object.rest {
                // A dynamic key may name any property of a closed object.
                Some(rest) if object.props.is_empty() => *rest,
                _ => Ty::Any,
            },
            other => {
                self.report(
                    ProblemKind::Type,
                    span,
                    format!(
                        "indexing a {} value always gives null: only objects and arrays can be indexed",
                        other.kind_name()
                    ),
                );
                Ty::Any
            }
        }
    }

    fn call(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Ty {
        let arg_types: Vec<Ty> = args.iter().map(|a| self.ty(a).ty).collect();
        let Some(func) = functions::lookup(name) else {
            let known: Vec<&str> = functions::FUNCTIONS.iter().map(|f| f.name).collect();
            self.report(
                ProblemKind::Undefined,
                name_span,
                format!(
                    "`{name}` is not a function; the functions are {}",
                    known.join(", ")
                ),
            );
            return Ty::Any;
        };
        let (mut min, mut max) = (func.min_args, func.max_args);
        if func.restricted
            && let Some(avail) = self.availability
        {
            match avail.function(func.name) {
                Some(allowed) => (min, max) = (allowed.min_args, allowed.max_args),
                None => {
                    let allowed: Vec<String> =
                        avail.functions.iter().map(|f| format!("{}()", f.name)).collect();
                    let tail = if allowed.is_empty() {
                        "this key allows none of the status functions or `hashFiles()`".to_string()
                    } else {
                        format!("this key allows {}", allowed.join(", "))
                    };
                    self.report(
                        ProblemKind::Availability,
                        name_span,
                        format!("`{}()` is not available here; {tail}", func.name),
                    );
                }
            }
        }
        if args.len() < min || args.len() > max {
            let wanted = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            self.report(
                ProblemKind::Type,
                span,
                format!(
                    "`{}` takes {wanted} argument{}, but {} {} given",
                    func.name,
                    if wanted == "1" { "" } else { "s" },
                    args.len(),
                    if args.len() == 1 { "is" } else { "are" }
                ),
            );
        }
        let typed_args: Vec<Arg<'_>> = args
            .iter()
            .zip(arg_types)
            .map(|(expr, ty)| Arg {
                ty,
                literal: match &expr.kind {
                    ExprKind::String(s) => Some(s.as_str()),
                    _ => None,
                },
            })
            .collect();
        let (result, problems) = functions::check_call(func, &typed_args);
        for problem in problems {
            let at = problem.arg.and_then(|i| args.get(i)).map_or(span, |a| a.span);
            self.report(ProblemKind::Type, at, problem.message);
        }
        result
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// A message naming what is missing in the terms of the context it belongs to, with a
/// "did you mean" for near misses and the list of what exists when it is short.
fn undefined_property_message(recv: &Expr, object: &super::types::Object, name: &str) -> String {
    let path = recv.access_path().unwrap_or_default();
    let known: Vec<&str> = object.props.keys().map(String::as_str).collect();
    let hint = match suggest(name, &known) {
        Some(close) => format!("; did you mean `{close}`?"),
        None if known.is_empty() => String::new(),
        None if known.len() <= 12 => format!("; {}", known.join(", ")),
        None => String::new(),
    };
    let path_str: Vec<&str> = path.iter().map(String::as_str).collect();
    let what = match path_str.as_slice() {
        ["steps"] => format!("no step with id `{name}` runs before this one in the job"),
        ["needs"] => format!("job `{name}` is not listed in this job's `needs:`"),
        ["jobs"] => format!("the workflow has no job `{name}`"),
        ["needs" | "jobs", job, "outputs"] => format!("job `{job}` declares no output `{name}`"),
        ["matrix"] if known.is_empty() => {
            return format!("the job has no matrix, so `matrix.{name}` is always null");
        }
        ["matrix"] => format!("the matrix of this job has no key `{name}`"),
        ["inputs"] if known.is_empty() => {
            return format!(
                "no input `{name}` is declared: the workflow has no `workflow_dispatch` or `workflow_call` inputs"
            );
        }
        ["inputs"] => format!("no input `{name}` is declared"),
        _ => format!("`{}` has no property `{name}`", path_str.join(".")),
    };
    let label = match path_str.as_slice() {
        ["steps"] => "earlier step ids: ",
        ["needs"] => "needed jobs: ",
        ["jobs"] => "jobs: ",
        ["needs" | "jobs", _, "outputs"] => "its outputs: ",
        ["matrix"] => "matrix keys: ",
        ["inputs"] => "declared inputs: ",
        _ => "its properties: ",
    };
    match hint.strip_prefix("; ") {
        Some(list) if !list.starts_with("did you mean") => format!("{what}; {label}{list}"),
        _ => format!("{what}{hint}"),
    }
}

/// The known name closest to `name` (case-insensitive edit distance at most 2, and less
/// than half the name), if any.
fn suggest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let name = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&name, k), *k))
        .filter(|(d, k)| *d > 0 && *d <= 2 && *d * 2 < name.len().max(k.len()))
        .min()
        .map(|(_, k)| k)
}

/// Edit distance counting a swap of two neighbours as one edit (typos like `nmae`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::availability::{DocumentKind, Seg, availability};
    use super::super::contexts::{self, JobOutputs};
    use super::super::parser::parse;
    use super::*;
    use std::sync::Arc;

    fn problems_with(src: &str, scope: &Scope, avail: Option<&Availability>) -> Vec<Problem> {
        let expr = parse(src).unwrap_or_else(|e| panic!("{src}: {}", e.message));
        check(&expr, scope, avail).1
    }

    fn problems(src: &str) -> Vec<Problem> {
        problems_with(src, &Scope::new(), None)
    }

    fn ty(src: &str, scope: &Scope) -> Ty {
        let expr = parse(src).unwrap_or_else(|e| panic!("{src}: {}", e.message));
        let (ty, problems) = check(&expr, scope, None);
        assert!(problems.is_empty(), "{src}: {problems:?}");
        ty
    }

    fn step_if() -> Arc<Availability> {
        availability(
            DocumentKind::Workflow,
            &[
                Seg::Key("jobs"),
                Seg::Key("j"),
                Seg::Key("steps"),
                Seg::Item,
                Seg::Key("if"),
            ],
        )
        .expect("step-if")
    }

    #[test]
    fn well_typed_expressions_have_no_problems() {
        let scope = Scope::new();
        for src in [
            "github.event_name == 'push' && !cancelled()",
            "contains(github.event.pull_request.labels.*.name, 'ok')",
            "format('{0}-{1}', runner.os, hashFiles('**/Cargo.lock'))",
            "fromJSON(env.LIST)[0]",
            "secrets.GITHUB_TOKEN || github.token",
            "github.event.commits[0].author.name",
            "startsWith(github.ref, 'refs/tags/') && github.ref_protected",
            "case(github.event_name == 'push', 'p', 'o')",
            "toJSON(github)",
            "join(fromJSON('[\"a\",\"b\"]'), ', ')",
            "GitHub.Event_Name",
        ] {
            let found = problems_with(src, &scope, None);
            assert!(found.is_empty(), "{src}: {found:?}");
        }
    }

    #[test]
    fn documented_loose_semantics_are_accepted() {
        let scope = Scope::new();
        for src in [
            // Loose equality coerces mixed primitives: these are meaningful comparisons.
            "'1' == 1",
            "null == 0",
            "true == 1",
            "'' == false",
            "'abc' < 'abd'",
            // NaN and Infinity literals, hex and exponents.
            "NaN != NaN && Infinity > 0x10 && 2e3 == 2000",
            // `&&`/`||` return operands, so a string default is idiomatic.
            "github.head_ref || github.ref_name",
            // Function names are case-insensitive.
            "ToJson(fromjson('[1]')) == '[1]' && CONTAINS('abc', 'b')",
            // Index access with a string literal is a property access.
            "github['event']['pull_request'] != null",
        ] {
            let found = problems_with(src, &scope, None);
            assert!(found.is_empty(), "{src}: {found:?}");
        }
    }

    #[test]
    fn filters_project_properties_over_elements() {
        let scope = Scope::new();
        assert_eq!(
            ty("fromJSON('[{\"a\":1},{\"a\":2}]').*.a", &scope),
            Ty::array(Ty::Number)
        );
        assert_eq!(
            ty("fromJSON('{\"x\":\"s\",\"y\":\"t\"}').*", &scope),
            Ty::array(Ty::String)
        );
        assert_eq!(ty("fromJSON('[[1]]')[0][0]", &scope), Ty::Number);
    }

    #[test]
    fn type_errors_point_at_the_operand() {
        let found = problems("startsWith(fromJSON('[1]'), 'x')");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, ProblemKind::Type);
        assert_eq!(found[0].span, Span::new(11, 26));
        let found = problems("format('{0} {1}', github.sha)");
        assert!(found[0].message.contains("{1}"), "{found:?}");
        assert_eq!(found[0].span, Span::new(7, 16));
        let found = problems("contains('a')");
        assert!(found[0].message.contains("takes 2 arguments"), "{found:?}");
        let found = problems("github.ref_protected.value");
        assert!(found[0].message.contains("bool"), "{found:?}");
        let found = problems("null.x");
        assert!(found[0].message.contains("null"), "{found:?}");
        let found = problems("fromJSON('[1]') == 'x'");
        assert!(found[0].message.contains("always false"), "{found:?}");
        assert_eq!(found[0].span, Span::new(16, 18));
        let found = problems("fromJSON('{}') < 1");
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn undefined_names_are_reported_with_what_exists() {
        let mut scope = Scope::new();
        scope.set("steps", contexts::steps(["build"]));
        scope.set_later_steps(["Deploy"]);
        scope.set(
            "needs",
            contexts::needs(&[JobOutputs {
                id: "setup".into(),
                outputs: Some(vec!["version".into()]),
            }]),
        );
        scope.set("inputs", contexts::inputs([("name", Ty::String)]));
        let cases = [
            ("steps.test.outputs.x", "no step with id `test`", "build"),
            (
                "steps.deploy.outputs.x",
                "step `deploy` runs after this one",
                "earlier steps",
            ),
            ("needs.other.result", "not listed in this job's `needs:`", "setup"),
            (
                "needs.setup.outputs.versoin",
                "declares no output `versoin`",
                "did you mean `version`?",
            ),
            ("inputs.nmae", "no input `nmae`", "did you mean `name`?"),
            (
                "github.evnt.x",
                "`github` has no property `evnt`",
                "did you mean `event`?",
            ),
            (
                "github.nothing_like_it",
                "`github` has no property",
                "`nothing_like_it`",
            ),
            ("inputs.other", "no input `other`", "declared inputs: name"),
            ("foo.bar", "not a context", "github"),
            ("toYaml(github)", "not a function", "toJSON"),
            ("success", "is a function", "success(…)"),
        ];
        for (src, needle, hint) in cases {
            let found = problems_with(src, &scope, None);
            assert_eq!(found.len(), 1, "{src}: {found:?}");
            assert_eq!(found[0].kind, ProblemKind::Undefined, "{src}");
            assert!(found[0].message.contains(needle), "{src}: {}", found[0].message);
            assert!(found[0].message.contains(hint), "{src}: {}", found[0].message);
        }
        assert!(problems_with("steps.build.outputs.anything", &scope, None).is_empty());
        assert!(problems_with("steps.build.conclusion == 'success'", &scope, None).is_empty());
    }

    #[test]
    fn availability_limits_contexts_and_functions() {
        let avail = step_if();
        let scope = Scope::new();
        let found = problems_with("secrets.TOKEN != ''", &scope, Some(&avail));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, ProblemKind::Availability);
        assert_eq!(found[0].span, Span::new(0, 7));
        assert!(problems_with("always() && hashFiles('x') != ''", &scope, Some(&avail)).is_empty());
        let found = problems_with("failure('build')", &scope, Some(&avail));
        assert_eq!(found[0].kind, ProblemKind::Type, "{found:?}");
        let job_env = availability(
            DocumentKind::Workflow,
            &[Seg::Key("jobs"), Seg::Key("j"), Seg::Key("env"), Seg::Key("X")],
        )
        .expect("job-env");
        let found = problems_with("hashFiles('a')", &scope, Some(&job_env));
        assert_eq!(found[0].kind, ProblemKind::Availability);
        assert!(found[0].message.contains("allows none"), "{}", found[0].message);
    }
}
