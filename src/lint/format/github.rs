//! `--format github`: workflow commands that GitHub turns into annotations
//! (`::error file=…,line=…,col=…,title=…::message`). Chosen by default when
//! `GITHUB_ACTIONS=true`.
use super::Run;
use crate::lint::finding::Severity;

pub fn render(run: &Run<'_>) -> String {
    let mut out = String::new();
    for (_, f) in run.findings() {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut message = f.message.clone();
        if let Some(help) = &f.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            escape_property(&f.file),
            f.span.start.line,
            f.span.start.col,
            f.span.end.line.max(f.span.start.line),
            if f.span.end.line > f.span.start.line {
                f.span.end.col
            } else {
                f.span.end.col.max(f.span.start.col)
            },
            escape_property(&format!("{} ({})", f.rule, f.severity)),
            escape_data(&message),
        ));
    }
    out
}

/// The escaping the runner's command parser undoes for the message part.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Properties additionally escape the separators `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_separators() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
