//! The default human format: `severity[rule]: message`, the location, the source line with
//! a caret under the span, and a `help:` line; a summary closes the report.
use super::Run;
use crate::lint::FileReport;
use crate::lint::finding::Finding;

pub fn render(run: &Run<'_>) -> String {
    let mut out = String::new();
    for (report, f) in run.findings() {
        render_one(&mut out, report, f);
    }
    let [notes, warnings, errors] = run.counts();
    let total = notes + warnings + errors;
    let files = run.reports.len();
    let files_word = if files == 1 { "file" } else { "files" };
    if total == 0 {
        out.push_str(&format!("no problems found in {files} {files_word}\n"));
    } else {
        let mut parts = Vec::new();
        for (n, word) in [(errors, "error"), (warnings, "warning"), (notes, "note")] {
            if n > 0 {
                parts.push(format!("{n} {word}{}", if n == 1 { "" } else { "s" }));
            }
        }
        out.push_str(&format!("{} in {files} {files_word}\n", parts.join(", ")));
    }
    out
}

fn render_one(out: &mut String, report: &FileReport, f: &Finding) {
    let start = f.span.start;
    out.push_str(&format!("{}[{}]: {}\n", f.severity, f.rule, f.message));
    out.push_str(&format!("  --> {}:{}:{}\n", f.file, start.line, start.col));
    let src = &report.file.source;
    let range = report.file.lines.line_range(src, start.line);
    let line = src.get(range).unwrap_or_default();
    if !line.is_empty() || start.line as usize <= report.file.lines.line_count() {
        let num = start.line.to_string();
        let pad = " ".repeat(num.len());
        let shown: String = line.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
        let width = shown.chars().count() as u32;
        let col0 = start.col.saturating_sub(1);
        let end_col0 = if f.span.end.line == start.line {
            f.span.end.col.saturating_sub(1)
        } else {
            width
        };
        let carets = end_col0.saturating_sub(col0).max(1) as usize;
        out.push_str(&format!("{pad} |\n{num} | {}\n", shown.trim_end()));
        out.push_str(&format!(
            "{pad} | {}{}\n",
            " ".repeat(col0 as usize),
            "^".repeat(carets)
        ));
        if let Some(help) = &f.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
    } else if let Some(help) = &f.help {
        out.push_str(&format!("  = help: {help}\n"));
    }
    out.push('\n');
}
