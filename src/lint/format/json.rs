//! `--format json`: a versioned document with its own serialisation structs, so internal
//! types can change without breaking consumers. Documented in docs/lint.md; bump
//! [`SCHEMA_VERSION`] only on a breaking change.
use super::Run;
use crate::lint::finding::Pos;
use serde::Serialize;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: Tool,
    files: Vec<&'a str>,
    findings: Vec<JsonFinding<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    severity: &'static str,
    message: &'a str,
    file: &'a str,
    start: JsonPos,
    end: JsonPos,
    help: Option<&'a str>,
    fixable: bool,
}

#[derive(Serialize)]
struct JsonPos {
    line: u32,
    column: u32,
    offset: u32,
}

impl From<Pos> for JsonPos {
    fn from(p: Pos) -> Self {
        JsonPos {
            line: p.line,
            column: p.col,
            offset: p.offset,
        }
    }
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
}

pub fn render(run: &Run<'_>) -> String {
    let [notes, warnings, errors] = run.counts();
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "autosd",
            version: env!("CARGO_PKG_VERSION"),
        },
        files: run.reports.iter().map(|r| r.path.as_str()).collect(),
        findings: run
            .findings()
            .map(|(_, f)| JsonFinding {
                rule: f.rule,
                severity: f.severity.as_str(),
                message: &f.message,
                file: &f.file,
                start: f.span.start.into(),
                end: f.span.end.into(),
                help: f.help.as_deref(),
                fixable: f.fix.is_some(),
            })
            .collect(),
        summary: Summary {
            errors,
            warnings,
            notes,
        },
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}
