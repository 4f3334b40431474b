//! Positions, severities and the `Finding` a rule emits. Spans are resolved once, here,
//! from parser markers; renderers only read them and never recompute a position.
use std::fmt;

/// A point in a source file. `line` and `col` are 1-based (`col` counts characters, as
/// editors do); `offset` is the byte offset into the UTF-8 source, used by `--fix` edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    pub offset: u32,
}

/// A range in a source file: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub fn new(start: Pos, end: Pos) -> Span {
        Span { start, end }
    }

    /// An empty span at `pos`, for problems that sit between characters.
    pub fn point(pos: Pos) -> Span {
        Span { start: pos, end: pos }
    }

    /// The byte range in the source, for slicing and for fix edits.
    pub fn bytes(&self) -> std::ops::Range<usize> {
        self.start.offset as usize..self.end.offset as usize
    }
}

/// How bad a finding is. Ordered: `Note < Warning < Error`; `--min-severity` compares with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Style or hardening advice; shown only with `--min-severity note`.
    Note,
    /// Probably wrong or risky, but the workflow still runs.
    Warning,
    /// The workflow is invalid, will fail, or is exploitable.
    Error,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Note, Severity::Warning, Severity::Error];

    /// The spelling used on the command line, in config files and in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One text replacement for `--fix`: replace the bytes `start..end` of the original source
/// with `replacement`. Edits of one fix never overlap; the fixer drops a fix whose edits
/// overlap an already accepted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub replacement: String,
}

/// A mechanical repair attached to a finding: a title for the diff header and its edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<Edit>,
}

/// A problem found in one file. Built by rules through [`super::LintContext::finding`],
/// which fills the file name and the default severity from the rule's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The kebab-case rule id, as in docs, config, SARIF and ignore comments.
    pub rule: &'static str,
    pub severity: Severity,
    /// One sentence saying what is wrong, naming the offending value.
    pub message: String,
    /// The path as given on the command line or found by discovery (`-` for stdin).
    pub file: String,
    pub span: Span,
    /// How to repair it; rendered as `help:` lines.
    pub help: Option<String>,
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn fix(mut self, title: impl Into<String>, edits: Vec<Edit>) -> Self {
        self.fix = Some(Fix {
            title: title.into(),
            edits,
        });
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sort key: file, position, rule; makes every output deterministic.
    pub fn sort_key(&self) -> (&str, Pos, &'static str, &str) {
        (&self.file, self.span.start, self.rule, &self.message)
    }
}

/// Maps parser positions (character index, 1-based line, 0-based column) to [`Pos`]
/// with byte offsets. ASCII sources take a constant-time path.
#[derive(Debug)]
pub struct LineIndex {
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
    ascii: bool,
    len: usize,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        for (i, b) in source.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineIndex {
            starts,
            ascii: source.is_ascii(),
            len: source.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// Byte range of 1-based `line`, without its newline.
    pub fn line_range(&self, source: &str, line: u32) -> std::ops::Range<usize> {
        let idx = (line.max(1) as usize - 1).min(self.starts.len() - 1);
        let start = self.starts[idx];
        let mut end = self.starts.get(idx + 1).map_or(self.len, |n| n - 1);
        if end > start && source.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        start..end.max(start)
    }

    /// The [`Pos`] of 1-based `line` and 0-based character column `col0`.
    pub fn pos(&self, source: &str, line: usize, col0: usize) -> Pos {
        let idx = line.max(1).min(self.starts.len()) - 1;
        let start = self.starts[idx];
        let offset = if self.ascii {
            (start + col0).min(self.len)
        } else {
            let rest = &source[start..];
            rest.char_indices().nth(col0).map_or(self.len, |(b, _)| start + b)
        };
        Pos {
            line: (idx + 1) as u32,
            col: col0 as u32 + 1,
            offset: offset as u32,
        }
    }

    /// The [`Pos`] of byte `offset` (clamped to the source and to a char boundary).
    pub fn pos_of_offset(&self, source: &str, offset: usize) -> Pos {
        let mut offset = offset.min(self.len);
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let idx = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[idx];
        let col = if self.ascii {
            offset - start
        } else {
            source[start..offset].chars().count()
        };
        Pos {
            line: (idx + 1) as u32,
            col: col as u32 + 1,
            offset: offset as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_bytes() {
        let src = "a: é\nbb: x\n";
        let idx = LineIndex::new(src);
        let p = idx.pos(src, 2, 4);
        assert_eq!((p.line, p.col, p.offset), (2, 5, 10));
        let q = idx.pos(src, 1, 4);
        assert_eq!((q.line, q.col, q.offset), (1, 5, 5));
        assert_eq!(idx.pos_of_offset(src, 10), p);
        assert_eq!(&src[idx.line_range(src, 2)], "bb: x");
    }

    #[test]
    fn severities_are_ordered_and_parse() {
        assert!(Severity::Note < Severity::Warning && Severity::Warning < Severity::Error);
        assert_eq!(Severity::parse("warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
    }
}
