//! Recursive-descent parser for one expression (the text between `${{` and `}}`, or a
//! whole `if:` condition). Precedence, lowest first: `||`, `&&`, `== !=`, `< <= > >=`, `!`,
//! then postfix `.name`, `.*`, `[index]`, as GitHub documents it.
use super::ast::{BinOp, Expr, ExprKind};
use super::lexer::{Token, TokenKind, tokenize};
use super::{ExprError, Span};

/// Deeper nesting than this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

/// Parses `src` as exactly one expression.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(src)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    if parser.peek().kind == TokenKind::End {
        return Err(ExprError::new(Span::new(0, src.len()), "the expression is empty"));
    }
    let expr = parser.parse_or()?;
    let next = parser.peek();
    if next.kind != TokenKind::End {
        return Err(ExprError::new(
            next.span,
            format!(
                "unexpected {} after a complete expression: an operator is missing",
                next.kind.describe()
            ),
        ));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends the list with `End`, and `bump` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::End {
            self.pos += 1;
        }
        token
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> Result<Token, ExprError> {
        if self.peek().kind == kind {
            return Ok(self.bump());
        }
        let found = self.peek();
        Err(ExprError::new(
            found.span,
            format!("expected {what} but found {}", found.kind.describe()),
        ))
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                self.peek().span,
                format!("the expression nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn binary(
        &mut self,
        next: fn(&mut Parser) -> Result<Expr, ExprError>,
        ops: &[(TokenKind, BinOp)],
    ) -> Result<Expr, ExprError> {
        let mut lhs = next(self)?;
        loop {
            let Some(&(_, op)) = ops.iter().find(|(kind, _)| *kind == self.peek().kind) else {
                return Ok(lhs);
            };
            let op_span = self.bump().span;
            let rhs = next(self)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr::new(
                ExprKind::Binary {
                    op,
                    op_span,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            );
        }
    }

    fn parse_or(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let result = self.binary(Parser::parse_and, &[(TokenKind::Or, BinOp::Or)]);
        self.depth -= 1;
        result
    }

    fn parse_and(&mut self) -> Result<Expr, ExprError> {
        self.binary(Parser::parse_equality, &[(TokenKind::And, BinOp::And)])
    }

    fn parse_equality(&mut self) -> Result<Expr, ExprError> {
        self.binary(
            Parser::parse_ordering,
            &[(TokenKind::Eq, BinOp::Eq), (TokenKind::Ne, BinOp::Ne)],
        )
    }

    fn parse_ordering(&mut self) -> Result<Expr, ExprError> {
        self.binary(
            Parser::parse_unary,
            &[
                (TokenKind::Lt, BinOp::Lt),
                (TokenKind::Le, BinOp::Le),
                (TokenKind::Gt, BinOp::Gt),
                (TokenKind::Ge, BinOp::Ge),
            ],
        )
    }

    fn parse_unary(&mut self) -> Result<Expr, ExprError> {
        if self.peek().kind == TokenKind::Not {
            let not = self.bump();
            self.enter()?;
            let operand = self.parse_unary();
            self.depth -= 1;
            let operand = operand?;
            let span = not.span.to(operand.span);
            return Ok(Expr::new(ExprKind::Not(Box::new(operand)), span));
        }
        let primary = self.parse_primary()?;
        self.parse_postfix(primary)
    }

    fn parse_postfix(&mut self, mut expr: Expr) -> Result<Expr, ExprError> {
        loop {
            match self.peek().kind {
                TokenKind::Dot => {
                    self.bump();
                    let token = self.bump();
                    expr = match token.kind {
                        TokenKind::Star => {
                            let span = expr.span.to(token.span);
                            Expr::new(ExprKind::Filter { recv: Box::new(expr) }, span)
                        }
                        TokenKind::Ident(name) => {
                            let span = expr.span.to(token.span);
                            Expr::new(
                                ExprKind::Property {
                                    recv: Box::new(expr),
                                    name,
                                    name_span: token.span,
                                },
                                span,
                            )
                        }
                        other => {
                            return Err(ExprError::new(
                                token.span,
                                format!(
                                    "expected a property name or `*` after `.` but found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    };
                }
                TokenKind::LBracket => {
                    self.bump();
                    if self.peek().kind == TokenKind::Star {
                        self.bump();
                        let close = self.expect(TokenKind::RBracket, "`]`")?;
                        let span = expr.span.to(close.span);
                        expr = Expr::new(ExprKind::Filter { recv: Box::new(expr) }, span);
                        continue;
                    }
                    let index = self.parse_or()?;
                    let close = self.expect(TokenKind::RBracket, "`]` to close the index")?;
                    let span = expr.span.to(close.span);
                    expr = match index.kind {
                        ExprKind::String(name) => Expr::new(
                            ExprKind::Property {
                                recv: Box::new(expr),
                                name,
                                name_span: index.span,
                            },
                            span,
                        ),
                        _ => Expr::new(
                            ExprKind::Index {
                                recv: Box::new(expr),
                                index: Box::new(index),
                            },
                            span,
                        ),
                    };
                }
                _ => return Ok(expr),
            }
        }
    }

    fn parse_primary(&mut self) -> Result<Expr, ExprError> {
        let token = self.bump();
        let span = token.span;
        let kind = match token.kind {
            TokenKind::Number(n) => ExprKind::Number(n),
            TokenKind::String(s) => ExprKind::String(s),
            TokenKind::LParen => {
                let inner = self.parse_or()?;
                let close = self.expect(TokenKind::RParen, "`)` to close the group")?;
                return Ok(Expr::new(inner.kind, span.to(close.span)));
            }
            TokenKind::Ident(name) => match name.as_str() {
                "null" => ExprKind::Null,
                "true" => ExprKind::Bool(true),
                "false" => ExprKind::Bool(false),
                "NaN" => ExprKind::Number(f64::NAN),
                "Infinity" => ExprKind::Number(f64::INFINITY),
                _ if self.peek().kind == TokenKind::LParen => return self.parse_call(name, span),
                _ => ExprKind::Context(name),
            },
            other => {
                return Err(ExprError::new(
                    span,
                    format!(
                        "expected a value (literal, context, function call or `(`) but found {}",
                        other.describe()
                    ),
                ));
            }
        };
        Ok(Expr::new(kind, span))
    }

    fn parse_call(&mut self, name: String, name_span: Span) -> Result<Expr, ExprError> {
        self.bump();
        let mut args = Vec::new();
        if self.peek().kind != TokenKind::RParen {
            loop {
                args.push(self.parse_or()?);
                match self.peek().kind {
                    TokenKind::Comma => {
                        self.bump();
                    }
                    TokenKind::RParen => break,
                    _ => {
                        let found = self.peek();
                        return Err(ExprError::new(
                            found.span,
                            format!(
                                "expected `,` or `)` in the arguments of `{name}` but found {}",
                                found.kind.describe()
                            ),
                        ));
                    }
                }
            }
        }
        let close = self.bump();
        Ok(Expr::new(
            ExprKind::Call {
                name,
                name_span,
                args,
            },
            name_span.to(close.span),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact, fully parenthesised rendering that makes precedence visible.
    fn show(expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Null => "null".into(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Number(n) => n.to_string(),
            ExprKind::String(s) => format!("'{s}'"),
            ExprKind::Context(c) => c.clone(),
            ExprKind::Property { recv, name, .. } => format!("{}.{name}", show(recv)),
            ExprKind::Index { recv, index } => format!("{}[{}]", show(recv), show(index)),
            ExprKind::Filter { recv } => format!("{}.*", show(recv)),
            ExprKind::Call { name, args, .. } => {
                let args: Vec<String> = args.iter().map(show).collect();
                format!("{name}({})", args.join(", "))
            }
            ExprKind::Not(inner) => format!("(!{})", show(inner)),
            ExprKind::Binary { op, lhs, rhs, .. } => {
                format!("({} {} {})", show(lhs), op.as_str(), show(rhs))
            }
        }
    }

    fn ok(src: &str) -> String {
        show(&parse(src).unwrap_or_else(|e| panic!("{src}: {}", e.message)))
    }

    #[test]
    fn precedence_follows_the_documented_table() {
        assert_eq!(ok("a || b && c"), "(a || (b && c))");
        assert_eq!(ok("a == b && c != d"), "((a == b) && (c != d))");
        assert_eq!(ok("a < b == c >= d"), "((a < b) == (c >= d))");
        assert_eq!(ok("!a == b"), "((!a) == b)");
        assert_eq!(ok("!(a == b)"), "(!(a == b))");
        assert_eq!(ok("!!a.b"), "(!(!a.b))");
        assert_eq!(ok("a || b || c"), "((a || b) || c)");
    }

    #[test]
    fn access_chains_filters_and_indexes() {
        assert_eq!(
            ok("github.event.commits[0].message"),
            "github.event.commits[0].message"
        );
        assert_eq!(ok("github['event']['issue']"), "github.event.issue");
        assert_eq!(ok("github.event.*.body"), "github.event.*.body");
        assert_eq!(ok("a[*].b"), "a.*.b");
        assert_eq!(ok("fromJSON(x).a[b.c]"), "fromJSON(x).a[b.c]");
        assert_eq!(ok("steps.my-step.outputs.x"), "steps.my-step.outputs.x");
    }

    #[test]
    fn literals_and_calls() {
        assert_eq!(ok("null"), "null");
        assert_eq!(ok("true && false"), "(true && false)");
        assert_eq!(ok("format('{0}', 1, 'x')"), "format('{0}', 1, 'x')");
        assert_eq!(ok("success()"), "success()");
        assert_eq!(ok("-1 < 0x10"), "(-1 < 16)");
    }

    #[test]
    fn spans_cover_nodes_and_names() {
        let expr = parse("  github.event_name == 'push'").expect("parse");
        assert_eq!(expr.span, Span::new(2, 29));
        let ExprKind::Binary { lhs, op_span, .. } = &expr.kind else {
            panic!("not binary")
        };
        assert_eq!(*op_span, Span::new(20, 22));
        let ExprKind::Property { name_span, .. } = &lhs.kind else {
            panic!("not property")
        };
        assert_eq!(*name_span, Span::new(9, 19));
        let call = parse("contains( a , b )").expect("parse");
        assert_eq!(call.span, Span::new(0, 17));
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases = [
            ("", 0, "empty"),
            ("a ==", 4, "expected a value"),
            ("(a", 2, "`)`"),
            ("a b", 2, "operator is missing"),
            ("f(a b)", 4, "expected `,` or `)`"),
            ("a.1", 2, "property name"),
            ("a.(b)", 2, "property name"),
            ("a[0", 3, "`]`"),
            ("a &&& b", 4, "`&`"),
        ];
        for (src, col, needle) in cases {
            let err = parse(src).expect_err(src);
            assert_eq!(err.span.start, col, "{src}: {}", err.message);
            assert!(err.message.contains(needle), "{src}: {}", err.message);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        let err = parse(&deep).expect_err("too deep");
        assert!(err.message.contains("levels deep"));
        let nots = format!("{}a", "!".repeat(10_000));
        assert!(parse(&nots).is_err());
        let fine = format!("{}a{}", "(".repeat(50), ")".repeat(50));
        assert_eq!(ok(&fine), "a");
    }
}

#[cfg(test)]
mod prop_tests {
    use super::parse;
    use crate::lint::expr::template::find_embedded;
    use proptest::prelude::*;

    /// Fragments that make random input look like expressions, so the generator reaches
    /// deep into the parser instead of failing on the first character.
    fn expression_like() -> impl Strategy<Value = String> {
        let atoms = prop::sample::select(vec![
            "github",
            ".",
            "event",
            "[",
            "]",
            "(",
            ")",
            "*",
            "'",
            "''",
            "'x'",
            "!",
            "==",
            "!=",
            "<",
            "<=",
            "&&",
            "||",
            ",",
            "0x1f",
            "1e3",
            "-2",
            "null",
            "true",
            "format",
            "contains",
            " ",
            "${{",
            "}}",
            "é",
            "\"",
            "=",
            "&",
            "fromJSON",
            "'{0}'",
            "'[1]'",
            "case",
            "matrix",
            "issue",
            "title",
            "steps",
            "outputs",
            "join",
            "toJSON",
            "hashFiles",
            "success",
        ]);
        prop::collection::vec(atoms, 0..40).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
            let _ = find_embedded(&text);
            let _ = crate::lint::expr::functions::check_format(&text, 2);
        }

        #[test]
        fn parsing_expression_like_text_never_panics_and_spans_stay_inside(text in expression_like()) {
            match parse(&text) {
                Ok(expr) => {
                    // The checker and the untrusted-input analysis accept any tree.
                    let scope = crate::lint::expr::contexts::Scope::new();
                    let _ = crate::lint::expr::check::check(&expr, &scope, None);
                    let _ = crate::lint::expr::untrusted::untrusted_values(
                        &expr,
                        &crate::lint::expr::untrusted::AllInputs,
                    );
                    prop_assert!(expr.span.end <= text.len());
                    let mut inside = true;
                    expr.walk(&mut |e| inside &= e.span.start <= e.span.end && e.span.end <= text.len());
                    prop_assert!(inside);
                }
                Err(err) => {
                    prop_assert!(err.span.start <= err.span.end && err.span.end <= text.len());
                    prop_assert!(text.is_char_boundary(err.span.start));
                }
            }
            let (found, _) = find_embedded(&text);
            for e in found {
                prop_assert!(e.whole.start < e.inner.start && e.inner.end < e.whole.end && e.whole.end <= text.len());
            }
        }
    }
}
