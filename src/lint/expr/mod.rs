//! The `${{ }}` expression language, independent of YAML: lexer, parser, the splitter
//! that finds expressions inside strings, static types, built-in functions, typed
//! contexts, the per-key availability table and the untrusted-input analysis. Offsets are
//! byte offsets into the expression text; rules map them back to the file.
pub mod ast;
pub mod availability;
pub mod check;
pub mod contexts;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod template;
pub mod types;
pub mod untrusted;

/// A byte range `start..end` in the text handed to the lexer or splitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The range from the start of `self` to the end of `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The same range moved right by `by` bytes (from an inner text to its container).
    pub fn shift(self, by: usize) -> Span {
        Span {
            start: self.start + by,
            end: self.end + by,
        }
    }
}

/// A syntax error in an expression: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub span: Span,
    pub message: String,
}

impl ExprError {
    pub fn new(span: Span, message: impl Into<String>) -> ExprError {
        ExprError {
            span,
            message: message.into(),
        }
    }
}
