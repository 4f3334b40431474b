//! Signatures of GitHub's built-in expression functions: arity, argument types, result
//! type, and the `format` placeholder grammar. Function names are case-insensitive.
use super::types::{Ty, join_all};

/// A built-in function. `max_args` is `usize::MAX` for variadic functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    /// Status functions and `hashFiles` are only available at some keys; the
    /// availability table lists them. The others are allowed wherever expressions are.
    pub restricted: bool,
}

const fn f(name: &'static str, min_args: usize, max_args: usize, restricted: bool) -> Function {
    Function {
        name,
        min_args,
        max_args,
        restricted,
    }
}

/// Every documented function.
pub const FUNCTIONS: &[Function] = &[
    f("contains", 2, 2, false),
    f("startsWith", 2, 2, false),
    f("endsWith", 2, 2, false),
    f("format", 1, usize::MAX, false),
    f("join", 1, 2, false),
    f("toJSON", 1, 1, false),
    f("fromJSON", 1, 1, false),
    f("hashFiles", 1, usize::MAX, true),
    f("case", 3, usize::MAX, false),
    f("success", 0, usize::MAX, true),
    f("always", 0, 0, true),
    f("cancelled", 0, 0, true),
    f("failure", 0, usize::MAX, true),
];

/// The function called `name` (any letter case).
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// One argument as the checker sees it: its type, and its value when it is a string literal.
#[derive(Debug, Clone)]
pub struct Arg<'a> {
    pub ty: Ty,
    pub literal: Option<&'a str>,
}

/// A problem with one call: which argument (or `None` for the call as a whole) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct CallProblem {
    pub arg: Option<usize>,
    pub message: String,
}

impl CallProblem {
    fn at(arg: usize, message: String) -> CallProblem {
        CallProblem {
            arg: Some(arg),
            message,
        }
    }
}

/// The result type of calling `func` with `args`, and everything wrong with the call.
/// Arity is checked by the caller (it may be narrowed by the availability table).
pub fn check_call(func: &Function, args: &[Arg<'_>]) -> (Ty, Vec<CallProblem>) {
    let mut problems = Vec::new();
    let name = func.name;
    let no_composite = |index: usize, what: &str, problems: &mut Vec<CallProblem>| {
        if let Some(arg) = args.get(index)
            && arg.ty.is_composite()
        {
            problems.push(CallProblem::at(
                index,
                format!(
                    "{what} of `{name}` must be a string, number, bool or null, but it is {}",
                    arg.ty.kind_name()
                ),
            ));
        }
    };
    let result = match name {
        "contains" => {
            if let Some(Ty::Object(_)) = args.first().map(|a| &a.ty) {
                problems.push(CallProblem::at(
                    0,
                    "the first argument of `contains` must be a string or an array, but it is an object"
                        .to_string(),
                ));
            }
            no_composite(1, "the second argument", &mut problems);
            Ty::Bool
        }
        "startsWith" | "endsWith" => {
            no_composite(0, "the first argument", &mut problems);
            no_composite(1, "the second argument", &mut problems);
            Ty::Bool
        }
        "format" => {
            no_composite(0, "the format string", &mut problems);
            for i in 1..args.len() {
                no_composite(i, "an argument", &mut problems);
            }
            if let Some(fmt) = args.first().and_then(|a| a.literal) {
                problems.extend(check_format(fmt, args.len() - 1));
            }
            Ty::String
        }
        "join" => {
            if let Some(Ty::Object(_)) = args.first().map(|a| &a.ty) {
                problems.push(CallProblem::at(
                    0,
                    "the first argument of `join` must be an array or a string, but it is an object"
                        .to_string(),
                ));
            }
            no_composite(1, "the separator", &mut problems);
            Ty::String
        }
        "toJSON" => Ty::String,
        "fromJSON" => {
            no_composite(0, "the argument", &mut problems);
            match args.first().and_then(|a| a.literal) {
                Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value) => Ty::from_json(&value),
                    Err(err) => {
                        problems.push(CallProblem::at(
                            0,
                            format!("`fromJSON` is given invalid JSON: {err}"),
                        ));
                        Ty::Any
                    }
                },
                None => Ty::Any,
            }
        }
        "hashFiles" => {
            for i in 0..args.len() {
                no_composite(i, "a pattern", &mut problems);
            }
            Ty::String
        }
        "case" => {
            if args.len() >= 3 && args.len().is_multiple_of(2) {
                problems.push(CallProblem {
                    arg: None,
                    message: format!(
                        "`case` takes pairs of condition and value followed by a default, so an odd number of arguments, but it has {}",
                        args.len()
                    ),
                });
            }
            let values = args
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == 1 || *i == args.len() - 1)
                .map(|(_, a)| a.ty.clone());
            join_all(values)
        }
        _ => Ty::Bool,
    };
    (result, problems)
}

/// Checks a literal `format` string against the number of values passed after it.
/// `{{` and `}}` are escaped braces; `{N}` refers to the N-th value (from 0).
pub fn check_format(fmt: &str, values: usize) -> Vec<CallProblem> {
    let mut problems = Vec::new();
    let mut used = vec![false; values];
    let bytes = fmt.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let digits_end = bytes[i + 1..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(bytes.len(), |p| i + 1 + p);
                if digits_end == i + 1 || bytes.get(digits_end) != Some(&b'}') {
                    problems.push(CallProblem::at(
                        0,
                        format!(
                            "the format string has an invalid placeholder at `{}`: use `{{N}}`, or `{{{{` for a literal brace",
                            placeholder_text(fmt, i, digits_end)
                        ),
                    ));
                    return problems;
                }
                let index: usize = fmt[i + 1..digits_end].parse().unwrap_or(usize::MAX);
                match used.get_mut(index) {
                    Some(slot) => *slot = true,
                    None => problems.push(CallProblem::at(
                        0,
                        format!(
                            "the format string uses placeholder {{{index}}} but only {values} value{} follow{}",
                            if values == 1 { "" } else { "s" },
                            if values == 1 { "s" } else { "" }
                        ),
                    )),
                }
                i = digits_end + 1;
            }
            b'}' => {
                problems.push(CallProblem::at(
                    0,
                    "the format string has a lone `}`: write `}}` for a literal brace".to_string(),
                ));
                return problems;
            }
            _ => i += 1,
        }
    }
    for (index, used) in used.iter().enumerate() {
        if !used {
            problems.push(CallProblem::at(
                index + 1,
                format!("the format string has no placeholder {{{index}}} for this value"),
            ));
        }
    }
    problems
}

/// The text of a bad placeholder: from its `{` through the first character after the digits.
fn placeholder_text(fmt: &str, open: usize, digits_end: usize) -> &str {
    let next = fmt[digits_end..].chars().next().map_or(0, char::len_utf8);
    &fmt[open..digits_end + next]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(ty: Ty) -> Arg<'static> {
        Arg { ty, literal: None }
    }

    fn lit(text: &'static str) -> Arg<'static> {
        Arg {
            ty: Ty::String,
            literal: Some(text),
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup("TOJSON").map(|f| f.name), Some("toJSON"));
        assert_eq!(lookup("startswith").map(|f| f.name), Some("startsWith"));
        assert!(lookup("toYAML").is_none());
    }

    #[test]
    fn format_placeholders_match_values() {
        assert!(check_format("{0} and {1}", 2).is_empty());
        assert!(check_format("{1}{0}{0}", 2).is_empty());
        assert!(check_format("{{0}} is literal", 0).is_empty());
        assert!(check_format("{{{0}}}", 1).is_empty());
        let too_few = check_format("{0} {2}", 2);
        assert!(too_few.iter().any(|p| p.message.contains("{2}")), "{too_few:?}");
        assert!(
            too_few
                .iter()
                .any(|p| p.arg == Some(2) && p.message.contains("{1}"))
        );
        let unused = check_format("hello", 1);
        assert_eq!(unused.len(), 1);
        assert_eq!(unused[0].arg, Some(1));
        assert!(!check_format("{x}", 1).is_empty());
        assert!(!check_format("{0", 1).is_empty());
        assert!(!check_format("a } b", 0).is_empty());
        assert!(check_format("{é", 1)[0].message.contains("`{é`"));
    }

    #[test]
    fn argument_types_are_checked() {
        let contains = lookup("contains").expect("contains");
        let (ty, problems) = check_call(contains, &[arg(Ty::array(Ty::String)), lit("x")]);
        assert_eq!(ty, Ty::Bool);
        assert!(problems.is_empty());
        let (_, problems) = check_call(contains, &[arg(Ty::any_object()), lit("x")]);
        assert_eq!(problems.len(), 1);
        let starts = lookup("startsWith").expect("startsWith");
        let (_, problems) = check_call(starts, &[arg(Ty::array(Ty::String)), lit("x")]);
        assert_eq!(problems[0].arg, Some(0));
        let (_, problems) = check_call(starts, &[arg(Ty::Any), arg(Ty::Number)]);
        assert!(problems.is_empty());
    }

    #[test]
    fn from_json_literals_are_typed_and_validated() {
        let from = lookup("fromJSON").expect("fromJSON");
        let (ty, problems) = check_call(from, &[lit(r#"["a","b"]"#)]);
        assert_eq!(ty, Ty::array(Ty::String));
        assert!(problems.is_empty());
        let (ty, problems) = check_call(from, &[lit("{not json")]);
        assert_eq!(ty, Ty::Any);
        assert!(problems[0].message.contains("invalid JSON"));
        let (ty, _) = check_call(from, &[arg(Ty::String)]);
        assert_eq!(ty, Ty::Any);
    }

    #[test]
    fn case_needs_an_odd_number_of_arguments() {
        let case = lookup("case").expect("case");
        let (ty, problems) = check_call(case, &[arg(Ty::Bool), lit("a"), lit("b")]);
        assert_eq!(ty, Ty::String);
        assert!(problems.is_empty());
        let (_, problems) = check_call(case, &[arg(Ty::Bool), lit("a"), arg(Ty::Bool), lit("b")]);
        assert_eq!(problems.len(), 1);
        let (ty, _) = check_call(case, &[arg(Ty::Bool), lit("a"), arg(Ty::Number)]);
        assert_eq!(ty, Ty::Any);
    }
}
