//! Renders finished results and errors, as human text or stable JSON. With `print_stdout`
//! denied elsewhere, this module and `main` are the only places that write to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the sanctioned printer

use crate::error::Error;
use serde_json::{Value, json};
use std::io::Write;

/// Version of every JSON document autosd prints; bump on breaking change only.
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

/// A finished result of a command, renderable both ways.
pub trait Render {
    fn human(&self) -> String;
    /// A JSON object; `schema_version` is added by the printer.
    fn json(&self) -> Value;
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: OutputFormat,
}

impl Printer {
    pub fn new(format: OutputFormat) -> Self {
        Printer { format }
    }

    pub fn print(&self, result: &dyn Render) {
        match self.format {
            OutputFormat::Human => write_stdout(&result.human()),
            OutputFormat::Json => write_stdout(&versioned(result.json()).to_string()),
        }
    }

    /// Pre-rendered text (lint reports, diffs) on stdout, as is.
    pub fn text(&self, text: &str) {
        if !text.is_empty() {
            write_stdout(text);
        }
    }

    /// A progress or notice line for humans: stderr, so stdout stays parseable.
    pub fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    /// A question on stderr without a line break; the answer is typed after it.
    pub fn prompt(&self, question: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(question.as_bytes());
        let _ = err.flush();
    }

    /// A GitHub Actions workflow command (`::group::…`) on stdout, where the runner reads
    /// them; suppressed with JSON output so stdout stays one document.
    pub fn workflow_command(&self, line: &str) {
        if self.format == OutputFormat::Human {
            write_stdout(line);
        }
    }

    /// `error[CODE]: message` and `hint:` lines on stderr; with JSON output, also a JSON
    /// error document on stdout so scripts need not scrape stderr.
    pub fn error(&self, err: &Error) {
        let mut text = format!("{err}\n");
        for hint in err.hint_lines() {
            text.push_str(&format!("hint: {hint}\n"));
        }
        let _ = std::io::stderr().write_all(text.as_bytes());
        if self.format == OutputFormat::Json {
            let doc = json!({
                "error": {
                    "code": err.code.as_str(),
                    "exit_code": err.code.exit_code(),
                    "message": err.message,
                    "hints": err.hint_lines(),
                }
            });
            write_stdout(&versioned(doc).to_string());
        }
    }
}

fn versioned(mut doc: Value) -> Value {
    if let Value::Object(map) = &mut doc {
        map.insert("schema_version".into(), json!(JSON_SCHEMA_VERSION));
    }
    doc
}

/// Writes a block to stdout; a closed pipe (`autosd … | head`) is not an error.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Lays out rows under a header with columns padded to the widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<width$}", width = *w))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}
