//! Renderers of a finished lint run. Each format is its own module and only reads the
//! findings: positions were resolved by the rules, so no renderer recomputes one.
pub mod github;
pub mod human;
pub mod json;
pub mod oneline;
pub mod sarif;

use super::FileReport;
use super::finding::{Finding, Severity};

/// The `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `error[rule]: message`, the source line with a caret, and a help line.
    Human,
    /// The versioned JSON document described in docs/lint.md.
    Json,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// `::error file=…` workflow commands: annotations on the pull request.
    Github,
    /// `file:line:col: message [rule-id]`, one finding per line.
    Oneline,
}

/// A finished run: the reports of every file, filtered to what is shown.
pub struct Run<'a> {
    pub reports: &'a [FileReport],
    /// Findings below this severity are not rendered (and do not fail the run).
    pub min_severity: Severity,
}

impl Run<'_> {
    /// Shown findings with their file's report, in file order then position.
    pub fn findings(&self) -> impl Iterator<Item = (&FileReport, &Finding)> {
        self.reports
            .iter()
            .flat_map(|r| r.findings.iter().map(move |f| (r, f)))
            .filter(|(_, f)| f.severity >= self.min_severity)
    }

    /// Counts of shown findings per severity: `[note, warning, error]`.
    pub fn counts(&self) -> [usize; 3] {
        let mut c = [0; 3];
        for (_, f) in self.findings() {
            c[f.severity as usize] += 1;
        }
        c
    }
}

/// Renders `run` in `format`; the result is printed as is by the CLI.
pub fn render(format: Format, run: &Run<'_>) -> String {
    match format {
        Format::Human => human::render(run),
        Format::Json => json::render(run),
        Format::Sarif => sarif::render(run),
        Format::Github => github::render(run),
        Format::Oneline => oneline::render(run),
    }
}
