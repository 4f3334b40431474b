//! Finds every `${{ … }}` inside a string value. A `}}` inside a single-quoted string
//! literal does not close the expression, exactly as the runner reads it.
use super::{ExprError, Span};

/// One `${{ … }}` occurrence: `whole` covers the delimiters, `inner` only the expression text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedded {
    pub whole: Span,
    pub inner: Span,
}

/// The occurrences in `text`, in order, and the error for an unterminated `${{` (after
/// which nothing more can be found).
pub fn find_embedded(text: &str) -> (Vec<Embedded>, Option<ExprError>) {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find("${{") {
        let open = from + rel;
        let inner_start = open + 3;
        let mut i = inner_start;
        let mut in_string = false;
        let close = loop {
            match bytes.get(i) {
                None => break None,
                Some(b'\'') if in_string && bytes.get(i + 1) == Some(&b'\'') => i += 2,
                Some(b'\'') => {
                    in_string = !in_string;
                    i += 1;
                }
                Some(b'}') if !in_string && bytes.get(i + 1) == Some(&b'}') => break Some(i),
                Some(_) => i += 1,
            }
        };
        let Some(close) = close else {
            let hint = if in_string {
                "`${{` is never closed by `}}` (a string literal inside it is not closed either)"
            } else {
                "`${{` is never closed by `}}`"
            };
            return (found, Some(ExprError::new(Span::new(open, inner_start), hint)));
        };
        found.push(Embedded {
            whole: Span::new(open, close + 2),
            inner: Span::new(inner_start, close),
        });
        from = close + 2;
    }
    (found, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inners(text: &str) -> Vec<&str> {
        let (found, err) = find_embedded(text);
        assert!(err.is_none(), "{text}");
        found.iter().map(|e| &text[e.inner.start..e.inner.end]).collect()
    }

    #[test]
    fn finds_each_expression_with_offsets() {
        let text = "echo ${{ a }} and ${{b}}!";
        let (found, _) = find_embedded(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].whole, Span::new(5, 13));
        assert_eq!(found[0].inner, Span::new(8, 11));
        assert_eq!(&text[found[1].whole.start..found[1].whole.end], "${{b}}");
        assert_eq!(inners("no expressions here"), Vec::<&str>::new());
        assert_eq!(inners("${{ x }}${{ y }}"), vec![" x ", " y "]);
    }

    #[test]
    fn closing_braces_inside_strings_do_not_end_the_expression() {
        assert_eq!(
            inners("${{ format('}}{0}', 'it''s') }} x"),
            vec![" format('}}{0}', 'it''s') "]
        );
        assert_eq!(inners("${{ '' }}"), vec![" '' "]);
    }

    #[test]
    fn unterminated_expressions_are_errors_at_the_opener() {
        let (found, err) = find_embedded("ok ${{ a }} then ${{ b ");
        assert_eq!(found.len(), 1);
        assert_eq!(err.map(|e| e.span), Some(Span::new(17, 20)));
        let (_, err) = find_embedded("${{ 'open }}");
        assert!(err.is_some_and(|e| e.message.contains("string literal")));
    }

    #[test]
    fn single_dollar_and_braces_are_plain_text() {
        assert_eq!(inners("${ a } $ {{ b }} ${{"[..17].as_ref()), Vec::<&str>::new());
    }
}
