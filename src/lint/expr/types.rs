//! Static types of expression values and GitHub's loose comparison rules over them.
//! `Any` means "not known statically" and never produces a finding on its own.
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// The type of a value. Object property names are stored lowercased because property
/// access in expressions is case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Any,
    Null,
    Bool,
    Number,
    String,
    Object(Object),
    Array(Box<Ty>),
}

/// An object type: known properties, plus the type of any other property (`rest`).
/// `rest: None` makes the object closed: a property not listed does not exist. The
/// properties are shared (`Rc`) because context types are cloned for every access.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub props: Rc<BTreeMap<String, Ty>>,
    pub rest: Option<Box<Ty>>,
}

impl Object {
    /// A closed object with exactly these properties.
    pub fn closed<'a>(props: impl IntoIterator<Item = (&'a str, Ty)>) -> Object {
        Object {
            props: Rc::new(
                props
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
            ),
            rest: None,
        }
    }

    /// An object whose every property has type `rest` (a map such as `env` or `secrets`).
    pub fn map_of(rest: Ty) -> Object {
        Object {
            props: Rc::default(),
            rest: Some(Box::new(rest)),
        }
    }

    pub fn with(mut self, name: &str, ty: Ty) -> Object {
        self.insert(name, ty);
        self
    }

    /// Adds property `name`, or widens its type when it is already there.
    pub fn insert(&mut self, name: &str, ty: Ty) {
        let key = name.to_ascii_lowercase();
        let props = Rc::make_mut(&mut self.props);
        let merged = match props.get(&key) {
            Some(prev) => prev.join(&ty),
            None => ty,
        };
        props.insert(key, merged);
    }

    /// The type of property `name`, or `None` when the object is closed and lacks it.
    pub fn get(&self, name: &str) -> Option<Ty> {
        let key = name.to_ascii_lowercase();
        match self.props.get(&key) {
            Some(ty) => Some(ty.clone()),
            None => self.rest.as_deref().cloned(),
        }
    }

    /// The type of "some property value", used by `.*` filters over objects.
    pub fn element(&self) -> Ty {
        let mut acc: Option<Ty> = self.rest.as_deref().cloned();
        for ty in self.props.values() {
            acc = Some(match acc {
                None => ty.clone(),
                Some(prev) => prev.join(ty),
            });
        }
        acc.unwrap_or(Ty::Any)
    }
}

impl Ty {
    pub fn array(elem: Ty) -> Ty {
        Ty::Array(Box::new(elem))
    }

    /// An object of unknown shape, such as the event payload.
    pub fn any_object() -> Ty {
        Ty::Object(Object::map_of(Ty::Any))
    }

    /// The least type covering both (used for `||`, `&&`, `case` and matrix rows).
    pub fn join(&self, other: &Ty) -> Ty {
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Ty::Any, _) | (_, Ty::Any) => Ty::Any,
            (Ty::Array(a), Ty::Array(b)) => Ty::array(a.join(b)),
            (Ty::Object(a), Ty::Object(b)) => {
                let mut props = (*a.props).clone();
                for (k, v) in b.props.iter() {
                    let merged = match props.get(k) {
                        Some(prev) => prev.join(v),
                        None => v.clone(),
                    };
                    props.insert(k.clone(), merged);
                }
                let rest = match (&a.rest, &b.rest) {
                    (None, None) => None,
                    (Some(r), None) | (None, Some(r)) => Some(r.clone()),
                    (Some(r), Some(s)) => Some(Box::new(r.join(s))),
                };
                Ty::Object(Object {
                    props: Rc::new(props),
                    rest,
                })
            }
            _ => Ty::Any,
        }
    }

    /// Objects and arrays; they compare by identity and coerce to `NaN`.
    pub fn is_composite(&self) -> bool {
        matches!(self, Ty::Object(_) | Ty::Array(_))
    }

    /// The short name used in messages: `string`, `object`, `array<string>`.
    pub fn kind_name(&self) -> String {
        match self {
            Ty::Any => "any".into(),
            Ty::Null => "null".into(),
            Ty::Bool => "bool".into(),
            Ty::Number => "number".into(),
            Ty::String => "string".into(),
            Ty::Object(_) => "object".into(),
            Ty::Array(elem) => format!("array<{}>", elem.kind_name()),
        }
    }

    /// The static type of a JSON value, used for `fromJSON('…')` literals and matrices.
    pub fn from_json(value: &serde_json::Value) -> Ty {
        match value {
            serde_json::Value::Null => Ty::Null,
            serde_json::Value::Bool(_) => Ty::Bool,
            serde_json::Value::Number(_) => Ty::Number,
            serde_json::Value::String(_) => Ty::String,
            serde_json::Value::Array(items) => Ty::array(join_all(items.iter().map(Ty::from_json))),
            serde_json::Value::Object(map) => {
                let mut object = Object::closed([]);
                for (k, v) in map {
                    object.insert(k, Ty::from_json(v));
                }
                Ty::Object(object)
            }
        }
    }
}

/// The join of all types, or `Any` for none.
pub fn join_all(types: impl IntoIterator<Item = Ty>) -> Ty {
    types.into_iter().reduce(|a, b| a.join(&b)).unwrap_or(Ty::Any)
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Object(object) if !object.props.is_empty() && object.props.len() <= 6 => {
                let names: Vec<&str> = object.props.keys().map(String::as_str).collect();
                write!(f, "object {{{}}}", names.join(", "))
            }
            other => f.write_str(&other.kind_name()),
        }
    }
}

/// Why comparing `lhs` and `rhs` with `op` is meaningless under GitHub's loose rules, or
/// `None` when it is fine. Objects and arrays are equal only to the very same instance and
/// turn into `NaN` when compared with a primitive, so such comparisons are constant.
pub fn comparison_problem(op: super::ast::BinOp, lhs: &Ty, rhs: &Ty) -> Option<String> {
    if matches!(lhs, Ty::Any) || matches!(rhs, Ty::Any) {
        return None;
    }
    if op.is_ordering() {
        let bad = [lhs, rhs].into_iter().find(|t| t.is_composite())?;
        return Some(format!(
            "`{}` cannot order a value of type {}: objects and arrays are never less or greater than anything",
            op.as_str(),
            bad.kind_name()
        ));
    }
    if matches!(op, super::ast::BinOp::Eq | super::ast::BinOp::Ne) && lhs.is_composite() != rhs.is_composite()
    {
        let constant = if op == super::ast::BinOp::Eq {
            "false"
        } else {
            "true"
        };
        return Some(format!(
            "comparing {} with {} is always {constant}: objects and arrays only equal themselves",
            lhs.kind_name(),
            rhs.kind_name()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::ast::BinOp;
    use super::*;

    #[test]
    fn join_widens_to_any_only_when_needed() {
        assert_eq!(Ty::String.join(&Ty::String), Ty::String);
        assert_eq!(Ty::String.join(&Ty::Number), Ty::Any);
        assert_eq!(
            Ty::array(Ty::Number).join(&Ty::array(Ty::Number)),
            Ty::array(Ty::Number)
        );
        let a = Ty::Object(Object::closed([("os", Ty::String)]));
        let b = Ty::Object(Object::closed([("os", Ty::String), ("node", Ty::Number)]));
        let Ty::Object(joined) = a.join(&b) else {
            panic!("not an object")
        };
        assert_eq!(joined.get("node"), Some(Ty::Number));
        assert_eq!(joined.get("missing"), None);
    }

    #[test]
    fn object_lookup_is_case_insensitive_and_respects_rest() {
        let closed = Object::closed([("Event_Name", Ty::String)]);
        assert_eq!(closed.get("EVENT_NAME"), Some(Ty::String));
        assert_eq!(closed.get("other"), None);
        let open = Object::map_of(Ty::String);
        assert_eq!(open.get("ANYTHING"), Some(Ty::String));
        assert_eq!(
            Object::closed([("a", Ty::Bool), ("b", Ty::Number)]).element(),
            Ty::Any
        );
        assert_eq!(
            Object::map_of(Ty::String).with("x", Ty::String).element(),
            Ty::String
        );
    }

    #[test]
    fn json_values_get_precise_types() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"os":["ubuntu","macos"],"n":[1,2],"x":null}"#).expect("json");
        let Ty::Object(object) = Ty::from_json(&value) else {
            panic!("not an object")
        };
        assert_eq!(object.get("os"), Some(Ty::array(Ty::String)));
        assert_eq!(object.get("n"), Some(Ty::array(Ty::Number)));
        assert_eq!(object.get("x"), Some(Ty::Null));
        assert_eq!(Ty::from_json(&serde_json::json!([])), Ty::array(Ty::Any));
    }

    #[test]
    fn loose_comparisons() {
        let obj = Ty::any_object();
        assert!(comparison_problem(BinOp::Eq, &obj, &Ty::String).is_some());
        assert!(comparison_problem(BinOp::Ne, &Ty::Null, &Ty::array(Ty::String)).is_some());
        assert!(comparison_problem(BinOp::Lt, &obj, &obj).is_some());
        // Loose coercion makes mixed primitives legitimate: '1' == 1 is true.
        assert!(comparison_problem(BinOp::Eq, &Ty::String, &Ty::Number).is_none());
        assert!(comparison_problem(BinOp::Lt, &Ty::Null, &Ty::Number).is_none());
        assert!(comparison_problem(BinOp::Eq, &obj, &obj).is_none());
        assert!(comparison_problem(BinOp::Eq, &Ty::Any, &obj).is_none());
    }
}
