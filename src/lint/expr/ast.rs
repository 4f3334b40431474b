//! The syntax tree of one expression. Every node carries the byte range it covers in the
//! expression text, so a rule can point at the exact operand that is wrong.
use super::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// `<`, `<=`, `>`, `>=`: ordering, which only makes sense between primitives.
    pub fn is_ordering(self) -> bool {
        matches!(self, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// A context name at the root of an access chain: `github`, `matrix`, …
    Context(String),
    /// `recv.name` or `recv['name']` with a string literal.
    Property {
        recv: Box<Expr>,
        name: String,
        name_span: Span,
    },
    /// `recv[index]` where the index is not a string literal.
    Index {
        recv: Box<Expr>,
        index: Box<Expr>,
    },
    /// `recv.*`: every element (array) or property value (object).
    Filter {
        recv: Box<Expr>,
    },
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    Not(Box<Expr>),
    Binary {
        op: BinOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// The dotted path of a plain access chain (`github.event.issue.title`, with `*` for
    /// filters and numeric or dynamic indexes), or `None` when the chain does not start at
    /// a context. Names are lowercased because context access is case-insensitive.
    pub fn access_path(&self) -> Option<Vec<String>> {
        match &self.kind {
            ExprKind::Context(name) => Some(vec![name.to_ascii_lowercase()]),
            ExprKind::Property { recv, name, .. } => {
                let mut path = recv.access_path()?;
                path.push(name.to_ascii_lowercase());
                Some(path)
            }
            ExprKind::Index { recv, .. } | ExprKind::Filter { recv } => {
                let mut path = recv.access_path()?;
                path.push("*".to_string());
                Some(path)
            }
            _ => None,
        }
    }

    /// Calls `visit` on this node and every node below it, parents first.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Expr)) {
        visit(self);
        match &self.kind {
            ExprKind::Property { recv, .. } | ExprKind::Filter { recv } => recv.walk(visit),
            ExprKind::Index { recv, index } => {
                recv.walk(visit);
                index.walk(visit);
            }
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.walk(visit)),
            ExprKind::Not(inner) => inner.walk(visit),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.walk(visit);
                rhs.walk(visit);
            }
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::Context(_) => {}
        }
    }
}
