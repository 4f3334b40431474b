//! `--format oneline`: `file:line:col: message [rule-id]`, for editors and grep.
use super::Run;

pub fn render(run: &Run<'_>) -> String {
    let mut out = String::new();
    for (_, f) in run.findings() {
        out.push_str(&format!(
            "{}:{}:{}: {} [{}]\n",
            f.file, f.span.start.line, f.span.start.col, f.message, f.rule
        ));
    }
    out
}
