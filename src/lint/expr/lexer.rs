//! Tokens of the `${{ }}` expression language with the byte range of each one.
//! Knows nothing about YAML: offsets are relative to the expression text it is given.
use super::{ExprError, Span};

/// What a token is. Identifiers keep their spelling; keywords (`true`, `false`, `null`,
/// `NaN`, `Infinity`) are recognised by the parser, which matches case-sensitively as GitHub does.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Ident(String),
    Number(f64),
    String(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Comma,
    Star,
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    End,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Ident(name) => format!("identifier `{name}`"),
            TokenKind::Number(_) => "number".to_string(),
            TokenKind::String(_) => "string".to_string(),
            TokenKind::End => "end of expression".to_string(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            TokenKind::LParen => "(",
            TokenKind::RParen => ")",
            TokenKind::LBracket => "[",
            TokenKind::RBracket => "]",
            TokenKind::Dot => ".",
            TokenKind::Comma => ",",
            TokenKind::Star => "*",
            TokenKind::Not => "!",
            TokenKind::Lt => "<",
            TokenKind::Le => "<=",
            TokenKind::Gt => ">",
            TokenKind::Ge => ">=",
            TokenKind::Eq => "==",
            TokenKind::Ne => "!=",
            TokenKind::And => "&&",
            TokenKind::Or => "||",
            _ => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Splits `src` into tokens, ending with one [`TokenKind::End`]. Stops at the first
/// character that cannot start a token.
pub fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let kind = match b {
            b'(' => single(&mut i, TokenKind::LParen),
            b')' => single(&mut i, TokenKind::RParen),
            b'[' => single(&mut i, TokenKind::LBracket),
            b']' => single(&mut i, TokenKind::RBracket),
            b',' => single(&mut i, TokenKind::Comma),
            b'*' => single(&mut i, TokenKind::Star),
            b'.' => single(&mut i, TokenKind::Dot),
            b'!' if bytes.get(i + 1) == Some(&b'=') => double(&mut i, TokenKind::Ne),
            b'!' => single(&mut i, TokenKind::Not),
            b'<' if bytes.get(i + 1) == Some(&b'=') => double(&mut i, TokenKind::Le),
            b'<' => single(&mut i, TokenKind::Lt),
            b'>' if bytes.get(i + 1) == Some(&b'=') => double(&mut i, TokenKind::Ge),
            b'>' => single(&mut i, TokenKind::Gt),
            b'=' if bytes.get(i + 1) == Some(&b'=') => double(&mut i, TokenKind::Eq),
            b'&' if bytes.get(i + 1) == Some(&b'&') => double(&mut i, TokenKind::And),
            b'|' if bytes.get(i + 1) == Some(&b'|') => double(&mut i, TokenKind::Or),
            b'=' | b'&' | b'|' => {
                return Err(ExprError::new(
                    Span::new(i, i + 1),
                    format!(
                        "unexpected `{}`: did you mean `{}{}`?",
                        b as char, b as char, b as char
                    ),
                ));
            }
            b'\'' => lex_string(src, &mut i)?,
            b'0'..=b'9' | b'-' | b'+' => lex_number(src, &mut i)?,
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && is_ident_byte(bytes[i]) {
                    i += 1;
                }
                TokenKind::Ident(src[start..i].to_string())
            }
            b'"' => {
                return Err(ExprError::new(
                    Span::new(i, i + 1),
                    "strings in expressions use single quotes: `'text'`, not double quotes",
                ));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ExprError::new(
                    Span::new(i, i + ch.len_utf8()),
                    format!("unexpected character `{ch}` in expression"),
                ));
            }
        };
        tokens.push(Token {
            kind,
            span: Span::new(start, i),
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        span: Span::new(bytes.len(), bytes.len()),
    });
    Ok(tokens)
}

/// Identifiers may contain `-` so that `steps.my-step.outputs` reads as one property name.
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn single(i: &mut usize, kind: TokenKind) -> TokenKind {
    *i += 1;
    kind
}

fn double(i: &mut usize, kind: TokenKind) -> TokenKind {
    *i += 2;
    kind
}

/// A single-quoted string; `''` stands for one quote and is the only escape.
fn lex_string(src: &str, i: &mut usize) -> Result<TokenKind, ExprError> {
    let start = *i;
    let bytes = src.as_bytes();
    let mut value = String::new();
    let mut j = start + 1;
    let mut chunk = j;
    loop {
        match bytes.get(j) {
            None => {
                return Err(ExprError::new(
                    Span::new(start, bytes.len()),
                    "unterminated string literal: a closing `'` is missing",
                ));
            }
            Some(b'\'') if bytes.get(j + 1) == Some(&b'\'') => {
                value.push_str(&src[chunk..j]);
                value.push('\'');
                j += 2;
                chunk = j;
            }
            Some(b'\'') => {
                value.push_str(&src[chunk..j]);
                *i = j + 1;
                return Ok(TokenKind::String(value));
            }
            Some(_) => j += 1,
        }
    }
}

/// A number literal as GitHub reads it: optional sign, decimal with fraction and
/// exponent, or `0x` hexadecimal (and `0o` octal). The whole word must be numeric, so
/// `1abc` is an error rather than `1` followed by `abc`.
fn lex_number(src: &str, i: &mut usize) -> Result<TokenKind, ExprError> {
    let start = *i;
    let bytes = src.as_bytes();
    let mut j = start;
    // Consume the maximal "word" a number could belong to, then validate it as a whole.
    if matches!(bytes[j], b'-' | b'+') {
        j += 1;
    }
    while j < bytes.len() {
        let b = bytes[j];
        let prev = if j > start { bytes[j - 1] } else { 0 };
        let exp_sign =
            matches!(b, b'-' | b'+') && matches!(prev, b'e' | b'E') && !is_hex_word(&src[start..j]);
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exp_sign {
            j += 1;
        } else {
            break;
        }
    }
    let word = &src[start..j];
    *i = j;
    parse_number(word)
        .map(TokenKind::Number)
        .ok_or_else(|| ExprError::new(Span::new(start, j), format!("invalid number literal `{word}`")))
}

fn is_hex_word(word: &str) -> bool {
    let unsigned = word.trim_start_matches(['-', '+']);
    unsigned.starts_with("0x") || unsigned.starts_with("0X")
}

/// Parses a number literal; `None` when it is not one.
pub fn parse_number(word: &str) -> Option<f64> {
    let (negative, unsigned) = match word.as_bytes().first() {
        Some(b'-') => (true, &word[1..]),
        Some(b'+') => (false, &word[1..]),
        _ => (false, word),
    };
    let magnitude = if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()? as f64
    } else if let Some(oct) = unsigned.strip_prefix("0o") {
        if oct.is_empty() || !oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        u64::from_str_radix(oct, 8).ok()? as f64
    } else {
        if !is_decimal(unsigned) {
            return None;
        }
        unsigned.parse::<f64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] [e [sign] digits]`; rejects Rust-only forms
/// like `inf`, `1_000` or `NaN`, which `f64::from_str` would otherwise accept.
fn is_decimal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(bytes, &mut i);
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(bytes, &mut i);
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if count_digits(bytes, &mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

fn count_digits(bytes: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    *i - start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src)
            .unwrap_or_else(|e| panic!("{src}: {}", e.message))
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn operators_and_punctuation() {
        assert_eq!(
            kinds("! < <= > >= == != && || ( ) [ ] . , *"),
            vec![
                TokenKind::Not,
                TokenKind::Lt,
                TokenKind::Le,
                TokenKind::Gt,
                TokenKind::Ge,
                TokenKind::Eq,
                TokenKind::Ne,
                TokenKind::And,
                TokenKind::Or,
                TokenKind::LParen,
                TokenKind::RParen,
                TokenKind::LBracket,
                TokenKind::RBracket,
                TokenKind::Dot,
                TokenKind::Comma,
                TokenKind::Star,
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn numbers_in_all_documented_forms() {
        let cases = [
            ("711", 711.0),
            ("-9.2", -9.2),
            ("0xff", 255.0),
            ("-2.99e-2", -0.0299),
            ("1E3", 1000.0),
            ("0o17", 15.0),
            ("+3", 3.0),
        ];
        for (src, want) in cases {
            assert_eq!(kinds(src), vec![TokenKind::Number(want), TokenKind::End], "{src}");
        }
    }

    #[test]
    fn bad_numbers_are_errors_with_their_span() {
        for src in ["1abc", "0x", "0xzz", "1e", "1.2.3", "1_000"] {
            let err = tokenize(src).expect_err(src);
            assert_eq!(err.span, Span::new(0, src.len()), "{src}");
        }
    }

    #[test]
    fn strings_unescape_doubled_quotes() {
        assert_eq!(
            kinds("'it''s' ''"),
            vec![
                TokenKind::String("it's".into()),
                TokenKind::String(String::new()),
                TokenKind::End
            ]
        );
        let err = tokenize("x == 'open").expect_err("unterminated");
        assert_eq!(err.span, Span::new(5, 10));
    }

    #[test]
    fn identifiers_keep_dashes_and_spans() {
        let tokens = tokenize("steps.my-step.outputs").expect("lex");
        assert_eq!(tokens[2].kind, TokenKind::Ident("my-step".into()));
        assert_eq!(tokens[2].span, Span::new(6, 13));
    }

    #[test]
    fn single_equals_and_double_quotes_are_explained() {
        let err = tokenize("a = b").expect_err("single =");
        assert!(err.message.contains("`==`"), "{}", err.message);
        assert_eq!(err.span, Span::new(2, 3));
        let err = tokenize("a == \"b\"").expect_err("double quotes");
        assert!(err.message.contains("single quotes"));
        let err = tokenize("a ~ b").expect_err("tilde");
        assert_eq!(err.span, Span::new(2, 3));
        let err = tokenize("a é").expect_err("non-ascii");
        assert_eq!(err.span, Span::new(2, 4));
    }
}
