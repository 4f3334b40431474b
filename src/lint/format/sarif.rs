//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning ingests it (`github/codeql-action/
//! upload-sarif`): one run, every registered rule as a descriptor, one result per finding
//! with a 1-based region relative to the repository root.
use super::Run;
use crate::lint::finding::Severity;
use crate::lint::registry::RULES;
use serde_json::{Value, json};

const DOCS: &str = "https://github.com/autosd/autosd/blob/main/docs/lint-rules.md";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

pub fn render(run: &Run<'_>) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let m = r.meta();
            json!({
                "id": m.id,
                "name": m.id,
                "shortDescription": { "text": m.summary },
                "fullDescription": { "text": m.summary },
                "helpUri": format!("{DOCS}#{}", m.id),
                "help": { "text": format!("See {DOCS}#{}", m.id) },
                "defaultConfiguration": { "level": level(m.severity) },
                "properties": { "tags": ["github-actions"] },
            })
        })
        .collect();
    let results: Vec<Value> = run
        .findings()
        .map(|(_, f)| {
            let index = RULES.iter().position(|r| r.meta().id == f.rule);
            let (start, end) = (f.span.start, f.span.end);
            // GitHub rejects empty regions; a point becomes one column wide.
            let (end_line, end_col) = if end.line > start.line {
                (end.line, end.col)
            } else {
                (start.line, end.col.max(start.col + 1))
            };
            let mut text = f.message.clone();
            if let Some(help) = &f.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.file), "uriBaseId": "%SRCROOT%" },
                        "region": {
                            "startLine": start.line,
                            "startColumn": start.col,
                            "endLine": end_line,
                            "endColumn": end_col,
                        }
                    }
                }],
                "partialFingerprints": {
                    "primaryLocationLineHash": fingerprint(&f.file, f.rule, &f.message),
                },
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "autosd",
                "informationUri": DOCS,
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// SARIF URIs use `/` and percent-encode spaces; `./` prefixes are dropped.
fn uri(path: &str) -> String {
    path.trim_start_matches("./")
        .replace('\\', "/")
        .replace(' ', "%20")
}

/// Stable across line moves: the same finding on the same file keeps its alert.
fn fingerprint(file: &str, rule: &str, message: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{file}\0{rule}\0{message}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
