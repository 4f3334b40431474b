//! The spanned YAML tree: built from `saphyr-parser` events, every node keeps its start and
//! end position and mappings keep key spans in source order. Parsing never panics and never
//! fails as a whole: malformed input yields [`YamlProblem`]s with positions, and the work is
//! bounded (file size, nesting depth, node count including alias expansion).
//!
//! Scalars resolve with the YAML 1.2 core schema, as GitHub Actions does: `on` is a string,
//! `yes`/`no` are strings, `true`/`false`/`null`/`~`/numbers are typed.
use super::finding::{LineIndex, Pos, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// Bounds that keep hostile input cheap. Exceeding one is a [`ProblemKind::Limit`] problem.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file parsed at all, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes in one document, counting every alias expansion in full.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 128,
            max_nodes: 1_000_000,
        }
    }
}

/// How a scalar was written; matters for fixes and for telling `"true"` from `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl Style {
    fn from_parser(style: ScalarStyle) -> Style {
        match style {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::SingleQuoted,
            ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
            ScalarStyle::Literal => Style::Literal,
            ScalarStyle::Folded => Style::Folded,
        }
    }

    pub fn is_block(self) -> bool {
        matches!(self, Style::Literal | Style::Folded)
    }
}

/// A scalar's value resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The scalar's content after YAML unescaping and folding.
    pub text: String,
    pub style: Style,
    /// `!!str`-style tag suffix when one was written.
    pub tag: Option<String>,
}

impl Scalar {
    /// The core-schema type; quoted, block and `!!str`-tagged scalars are always strings.
    pub fn value(&self) -> ScalarValue {
        if self.style != Style::Plain || self.tag.as_deref() == Some("str") {
            return ScalarValue::String;
        }
        resolve_plain(&self.text)
    }
}

fn resolve_plain(text: &str) -> ScalarValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarValue::Null,
        "true" | "True" | "TRUE" => return ScalarValue::Bool(true),
        "false" | "False" | "FALSE" => return ScalarValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return ScalarValue::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return ScalarValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return ScalarValue::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return ScalarValue::Int(i);
        }
        return text
            .parse::<f64>()
            .map_or(ScalarValue::String, ScalarValue::Float);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && !hex.is_empty()
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return ScalarValue::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && !oct.is_empty()
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return ScalarValue::Int(i);
    }
    if is_core_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return ScalarValue::Float(f);
    }
    ScalarValue::String
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit, per the core schema.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !frac.is_none_or(all_digits) {
        return false;
    }
    if int.is_empty() && frac.is_none_or(str::is_empty) {
        return false;
    }
    if frac.is_none() && exp.is_none() {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    }
}

/// One key/value pair of a mapping, both with spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in source order; duplicates are kept (and reported), lookups take the first.
    Map(Vec<Entry>),
}

/// A YAML node with its source span. For a node reached through an alias, the outer span
/// is the alias's and the children keep the anchored original's spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

impl Node {
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar of any type (`true`, `3`, `"x"` alike); `None` for collections.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.text.as_str())
    }

    /// The text of a scalar that resolves to a string (not null, bool or number).
    pub fn as_string(&self) -> Option<&str> {
        self.as_scalar()
            .filter(|s| s.value() == ScalarValue::String)
            .map(|s| s.text.as_str())
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.as_scalar().is_some_and(|s| s.value() == ScalarValue::Null)
    }

    /// The first entry whose key is the scalar `key` (case-sensitive, like GitHub).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key.as_str() == Some(key))
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Entries of a mapping as `(key text, entry)`; empty for other kinds and non-scalar keys.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.as_map()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.key.as_str().map(|k| (k, e)))
    }

    /// A mapping's value, or a sequence's items, or the node itself: for keys that take
    /// "a string or a list of strings" (`needs`, `runs-on`, `branches`).
    pub fn items(&self) -> Vec<&Node> {
        match &self.kind {
            NodeKind::Seq(s) => s.iter().collect(),
            _ => vec![self],
        }
    }

    /// Does the scalar contain a `${{` expression (so its value is only known at run time)?
    pub fn is_expression(&self) -> bool {
        self.as_str().is_some_and(|s| s.contains("${{"))
    }

    fn weight(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar(_) => 1,
            NodeKind::Seq(items) => 1 + items.iter().map(Node::weight).sum::<usize>(),
            NodeKind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|e| e.key.weight() + e.value.weight())
                    .sum::<usize>()
            }
        }
    }
}

/// What went wrong while reading a file, before any rule ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not YAML: scanner or parser error, tab indentation, bad encoding, several documents,
    /// unsupported merge keys.
    Syntax,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// A bound was hit: file size, nesting depth, node count (alias bombs).
    Limit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub kind: ProblemKind,
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

/// A parsed file: its documents (usually one) and the problems met on the way.
/// When a syntax error or limit stops parsing, `documents` holds only complete documents.
#[derive(Debug, Default)]
pub struct YamlFile {
    pub documents: Vec<Node>,
    pub problems: Vec<YamlProblem>,
}

impl YamlFile {
    /// The first document's root, the one GitHub reads.
    pub fn root(&self) -> Option<&Node> {
        self.documents.first()
    }
}

enum Frame {
    Seq {
        start: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<Node>,
    },
}

struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    problems: Vec<YamlProblem>,
}

/// Parses `source` into a [`YamlFile`]. `index` must be the [`LineIndex`] of `source`.
pub fn parse(source: &str, index: &LineIndex, limits: Limits) -> YamlFile {
    let mut file = YamlFile::default();
    if source.len() > limits.max_bytes {
        file.problems.push(YamlProblem {
            kind: ProblemKind::Limit,
            span: Span::point(index.pos(source, 1, 0)),
            message: format!(
                "file is {} bytes, more than the {} bytes the linter reads",
                source.len(),
                limits.max_bytes
            ),
            help: Some("workflow files this large are not accepted by GitHub either".into()),
        });
        return file;
    }
    let mut b = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        problems: Vec::new(),
    };
    let mut parser = Parser::new_from_str(source);
    let mut finished: Option<Node> = None;
    let mut doc_count = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ev) => ev,
            Err(err) => {
                let m = err.marker();
                let pos = index.pos(source, m.line(), m.col());
                b.problems.push(syntax_problem(source, index, pos, err.info()));
                break;
            }
        };
        let start = index.pos(source, span.start.line(), span.start.col());
        let end = index.pos(source, span.end.line(), span.end.col());
        match event {
            Event::DocumentStart(_) => {
                doc_count += 1;
                b.anchors.clear();
                b.nodes = 0;
                if doc_count == 2 {
                    b.problems.push(YamlProblem {
                        kind: ProblemKind::Syntax,
                        span: Span::new(start, end),
                        message: "file holds more than one YAML document".into(),
                        help: Some(
                            "GitHub reads one document per file: split it or remove the `---` separator"
                                .into(),
                        ),
                    });
                }
            }
            Event::DocumentEnd => {
                if let Some(doc) = finished.take() {
                    file.documents.push(doc);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    span: Span::new(start, end),
                    kind: NodeKind::Scalar(Scalar {
                        text: text.into_owned(),
                        style: Style::from_parser(style),
                        tag: tag.map(|t| t.suffix.clone()),
                    }),
                };
                if !b.count(1, start) {
                    break;
                }
                if !b.push(node, anchor, &mut finished) {
                    break;
                }
            }
            Event::Alias(id) => {
                let Some(weight) = b.anchors.get(&id).map(|(_, w)| *w) else {
                    b.problems.push(YamlProblem {
                        kind: ProblemKind::Syntax,
                        span: Span::new(start, end),
                        message: "alias refers to an unknown anchor".into(),
                        help: None,
                    });
                    break;
                };
                if !b.count(weight, start) {
                    break;
                }
                let Some((original, _)) = b.anchors.get(&id) else {
                    break;
                };
                let mut node = original.clone();
                node.span = Span::new(start, end);
                if !b.push(node, 0, &mut finished) {
                    break;
                }
            }
            Event::SequenceStart(anchor, _) => {
                if !b.open(start) || !b.count(1, start) {
                    break;
                }
                b.stack.push(Frame::Seq {
                    start,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, _) => {
                if !b.open(start) || !b.count(1, start) {
                    break;
                }
                b.stack.push(Frame::Map {
                    start,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = b.stack.pop() else { break };
                let (node, anchor) = match frame {
                    Frame::Seq { start, anchor, items } => {
                        let end = items.last().map_or(end, |n| n.span.end.max(start));
                        (
                            Node {
                                span: Span::new(start, end),
                                kind: NodeKind::Seq(items),
                            },
                            anchor,
                        )
                    }
                    Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    } => {
                        b.check_duplicates(&entries);
                        let end = entries
                            .last()
                            .map_or(end, |e| e.value.span.end.max(e.key.span.end));
                        (
                            Node {
                                span: Span::new(start, end),
                                kind: NodeKind::Map(entries),
                            },
                            anchor,
                        )
                    }
                };
                if !b.push(node, anchor, &mut finished) {
                    break;
                }
            }
        }
    }
    file.problems.append(&mut b.problems);
    file
}

fn syntax_problem(source: &str, index: &LineIndex, pos: Pos, info: &str) -> YamlProblem {
    // The scanner's words for a tab are cryptic; say it plainly when the line is tab-indented.
    let line = &source[index.line_range(source, pos.line)];
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    let prev_tab = pos.line > 1 && {
        let prev = &source[index.line_range(source, pos.line - 1)];
        prev.trim_start_matches(' ').starts_with('\t')
    };
    if indent.contains('\t') || (info.contains("tab") && prev_tab) {
        return YamlProblem {
            kind: ProblemKind::Syntax,
            span: Span::point(pos),
            message: "tab character used for indentation".into(),
            help: Some("YAML allows only spaces for indentation: replace the tabs with spaces".into()),
        };
    }
    YamlProblem {
        kind: ProblemKind::Syntax,
        span: Span::point(pos),
        message: format!("YAML syntax error: {info}"),
        help: None,
    }
}

impl Builder {
    fn open(&mut self, start: Pos) -> bool {
        if self.stack.len() >= self.limits.max_depth {
            self.problems.push(YamlProblem {
                kind: ProblemKind::Limit,
                span: Span::point(start),
                message: format!("nesting deeper than {} levels", self.limits.max_depth),
                help: Some("no workflow needs this depth; the file was not analysed further".into()),
            });
            return false;
        }
        true
    }

    fn count(&mut self, weight: usize, at: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(weight);
        if self.nodes > self.limits.max_nodes {
            self.problems.push(YamlProblem {
                kind: ProblemKind::Limit,
                span: Span::point(at),
                message: format!(
                    "document expands to more than {} nodes (aliases are counted in full)",
                    self.limits.max_nodes
                ),
                help: Some("this looks like an alias bomb; the file was not analysed further".into()),
            });
            return false;
        }
        true
    }

    /// Attaches a finished node to its parent (or finishes the document).
    fn push(&mut self, node: Node, anchor: usize, finished: &mut Option<Node>) -> bool {
        if anchor != 0 {
            let weight = node.weight();
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        match self.stack.last_mut() {
            None => *finished = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if node.as_str() == Some("<<")
                        && node.as_scalar().is_some_and(|s| s.style == Style::Plain)
                    {
                        self.problems.push(YamlProblem {
                            kind: ProblemKind::Syntax,
                            span: node.span,
                            message: "merge keys (`<<`) are not supported by GitHub Actions".into(),
                            help: Some("repeat the keys, or use an alias for the whole value instead".into()),
                        });
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push(Entry { key: k, value: node }),
            },
        }
        true
    }

    fn check_duplicates(&mut self, entries: &[Entry]) {
        if entries.len() < 2 {
            return;
        }
        let mut seen: HashMap<&str, &Entry> = HashMap::with_capacity(entries.len());
        for e in entries {
            let Some(k) = e.key.as_str() else { continue };
            if let Some(first) = seen.get(k) {
                self.problems.push(YamlProblem {
                    kind: ProblemKind::DuplicateKey,
                    span: e.key.span,
                    message: format!(
                        "key `{k}` is defined twice in this mapping (first at line {})",
                        first.key.span.start.line
                    ),
                    help: Some("GitHub rejects duplicate keys: remove or rename one of them".into()),
                });
            } else {
                seen.insert(k, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(src: &str) -> YamlFile {
        parse(src, &LineIndex::new(src), Limits::default())
    }

    #[test]
    fn nodes_keep_positions_and_order() {
        let f = parse_str("on: push\njobs:\n  b: {}\n  a:\n    runs-on: x\n");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let root = f.root().expect("one document");
        let keys: Vec<_> = root.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["on", "jobs"]);
        let jobs = root.get("jobs").expect("jobs");
        let ids: Vec<_> = jobs.entries().map(|(k, _)| k).collect();
        assert_eq!(ids, ["b", "a"]);
        let ro = jobs.get("a").and_then(|a| a.entry("runs-on")).expect("runs-on");
        assert_eq!((ro.key.span.start.line, ro.key.span.start.col), (5, 5));
        assert_eq!((ro.value.span.start.line, ro.value.span.start.col), (5, 14));
        assert_eq!(root.get("on").and_then(Node::as_string), Some("push"));
    }

    #[test]
    fn core_schema_types() {
        assert_eq!(resolve_plain("true"), ScalarValue::Bool(true));
        assert_eq!(resolve_plain("yes"), ScalarValue::String);
        assert_eq!(resolve_plain("on"), ScalarValue::String);
        assert_eq!(resolve_plain("3"), ScalarValue::Int(3));
        assert_eq!(resolve_plain("3.10"), ScalarValue::Float(3.1));
        assert_eq!(resolve_plain("1e3"), ScalarValue::Float(1000.0));
        assert_eq!(resolve_plain("v1.2"), ScalarValue::String);
        assert_eq!(resolve_plain(""), ScalarValue::Null);
        assert_eq!(resolve_plain("."), ScalarValue::String);
    }

    #[test]
    fn duplicates_and_syntax_errors_become_problems() {
        let f = parse_str("a: 1\nb: 2\na: 3\n");
        assert_eq!(f.problems.len(), 1);
        assert_eq!(f.problems[0].kind, ProblemKind::DuplicateKey);
        assert_eq!(f.problems[0].span.start.line, 3);
        let f = parse_str("a: [1, 2\n");
        assert_eq!(f.problems[0].kind, ProblemKind::Syntax);
        let f = parse_str("a:\n\tb: 1\n");
        assert!(f.problems[0].message.contains("tab"), "{:?}", f.problems);
    }

    #[test]
    fn alias_bombs_hit_the_node_limit() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let f = parse_str(&src);
        assert!(f.problems.iter().any(|p| p.kind == ProblemKind::Limit));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let src = "[".repeat(10_000);
        let f = parse_str(&src);
        assert!(
            f.problems
                .iter()
                .any(|p| p.kind == ProblemKind::Limit || p.kind == ProblemKind::Syntax)
        );
    }

    #[test]
    fn several_documents_are_reported() {
        let f = parse_str("a: 1\n---\nb: 2\n");
        assert_eq!(f.documents.len(), 2);
        assert!(f.problems.iter().any(|p| p.message.contains("more than one")));
    }
}
