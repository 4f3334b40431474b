//! The GitHub Actions runtime protocol: step outputs (`$GITHUB_OUTPUT`), the job summary
//! (`$GITHUB_STEP_SUMMARY`) and workflow commands (`::error …::`, `::add-mask::`, `::group::`).
//! Commands are built here as strings and printed by `output`; this module only appends to
//! the two runner-owned files. It never decides what to report.
use crate::context::Env;
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Escapes the message part of a workflow command (after the final `::`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value (`file=…,title=…`): also `:` and `,`, which delimit properties.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Annotation levels the runner understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// Where an annotation points; every part is optional, as for the runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location<'a> {
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    pub col: Option<u32>,
    pub title: Option<&'a str>,
}

/// `::error file=F,line=L,col=C,title=T::message`, with properties and message escaped so
/// that neither a newline nor a `::` in user text can start a second command.
pub fn annotation(level: Level, at: &Location<'_>, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(file) = at.file {
        props.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = at.line {
        props.push(format!("line={line}"));
    }
    if let Some(col) = at.col {
        props.push(format!("col={col}"));
    }
    if let Some(title) = at.title {
        props.push(format!("title={}", escape_property(title)));
    }
    let sep = if props.is_empty() { "" } else { " " };
    format!(
        "::{}{sep}{}::{}",
        level.as_str(),
        props.join(","),
        escape_data(message)
    )
}

/// `::add-mask::VALUE`: from here on the runner replaces VALUE in the log with `***`.
/// The one place a secret is deliberately rendered, and only in the form the runner consumes.
/// A multi-line secret is masked line by line (the runner masks one line per command).
pub fn add_mask(secret: &Secret<String>) -> Vec<String> {
    secret
        .expose()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("::add-mask::{}", escape_data(l)))
        .collect()
}

/// `::group::TITLE`; close with [`endgroup`].
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

pub fn endgroup() -> &'static str {
    "::endgroup::"
}

/// One `$GITHUB_OUTPUT` entry in the delimiter form (`name<<DELIM\nvalue\nDELIM\n`), which
/// carries any value, multi-line included. `delimiter` must not occur in the value; see
/// [`fresh_delimiter`].
pub fn output_entry(name: &str, value: &str, delimiter: &str) -> String {
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// A random delimiter that does not occur in `value` (the runner ends the value at the first
/// line equal to it, so a value containing it could inject further outputs).
pub fn fresh_delimiter(value: &str) -> String {
    loop {
        let mut nonce = [0u8; 16];
        let _ = getrandom::fill(&mut nonce);
        let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let delimiter = format!("ghadelimiter_{hex}");
        if !value.contains(&delimiter) {
            return delimiter;
        }
    }
}

/// Output names reach the runner unquoted: keep them to the characters it documents.
fn check_output_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            crate::error::ErrorCode::Internal,
            format!("`{name}` is not a valid step output name"),
        ))
    }
}

/// The two runner files of the current step, when running under GitHub Actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionsRuntime {
    pub output: Option<PathBuf>,
    pub summary: Option<PathBuf>,
}

impl ActionsRuntime {
    pub fn from_env(env: &Env) -> Self {
        ActionsRuntime {
            output: env.get("GITHUB_OUTPUT").map(PathBuf::from),
            summary: env.get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        }
    }

    /// Sets step outputs (no-op outside Actions). All entries go out in one append.
    pub fn set_outputs(&self, outputs: &[(&str, &str)]) -> Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in outputs {
            check_output_name(name)?;
            text.push_str(&output_entry(name, value, &fresh_delimiter(value)));
        }
        append(path, &text)
    }

    /// Appends markdown to the job summary (no-op outside Actions).
    pub fn append_summary(&self, markdown: &str) -> Result<()> {
        match &self.summary {
            Some(path) => {
                let mut text = markdown.to_string();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                append(path, &text)
            }
            None => Ok(()),
        }
    }
}

/// The runner owns these files and reads them after the step: append in one `write_all` on an
/// O_APPEND handle (no temp-file rename, which would drop what other steps wrote).
fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, &e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io("append to", path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_escapes_properties_and_message() {
        let at = Location {
            file: Some("a,b:c.yml"),
            line: Some(3),
            col: Some(7),
            title: Some("rule: x, y"),
        };
        let line = annotation(Level::Error, &at, "bad\nthing 100%\r::warning::x");
        assert_eq!(
            line,
            "::error file=a%2Cb%3Ac.yml,line=3,col=7,title=rule%3A x%2C y::bad%0Athing 100%25%0D::warning::x"
        );
        assert!(!line.contains('\n'));
        assert_eq!(
            annotation(Level::Notice, &Location::default(), "hi"),
            "::notice::hi"
        );
    }

    #[test]
    fn mask_group_and_output_forms() {
        let s = Secret::new("tok%en\nsecond ".to_string());
        assert_eq!(add_mask(&s), vec!["::add-mask::tok%25en", "::add-mask::second"]);
        assert_eq!(group("deploy: pull"), "::group::deploy: pull");
        assert_eq!(endgroup(), "::endgroup::");
        assert_eq!(output_entry("digest", "a\nb", "D"), "digest<<D\na\nb\nD\n");
    }

    #[test]
    fn delimiter_never_occurs_in_value() {
        let d = fresh_delimiter("x");
        assert!(d.starts_with("ghadelimiter_") && d.len() == 13 + 32);
        assert_ne!(d, fresh_delimiter("x"), "random per call");
    }

    #[test]
    fn outputs_and_summary_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = ActionsRuntime {
            output: Some(dir.path().join("out")),
            summary: Some(dir.path().join("sum")),
        };
        rt.set_outputs(&[("status", "ok"), ("report-path", "a\nb")])
            .expect("outputs");
        rt.set_outputs(&[("digest", "sha256:1")]).expect("more outputs");
        let out = std::fs::read_to_string(dir.path().join("out")).expect("read");
        let parsed = parse_outputs(&out);
        assert_eq!(
            parsed,
            vec![
                ("status".to_string(), "ok".to_string()),
                ("report-path".to_string(), "a\nb".to_string()),
                ("digest".to_string(), "sha256:1".to_string())
            ]
        );
        rt.append_summary("# one").expect("summary");
        rt.append_summary("two\n").expect("summary");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sum")).expect("read"),
            "# one\ntwo\n"
        );
        assert!(rt.set_outputs(&[("bad name", "x")]).is_err());
        ActionsRuntime::default()
            .set_outputs(&[("x", "y")])
            .expect("no-op outside Actions");
    }

    /// The runner's reading of the delimiter form, to check what we write round-trips.
    fn parse_outputs(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = text.lines();
        while let Some(head) = lines.next() {
            let Some((name, delim)) = head.split_once("<<") else {
                continue;
            };
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_string(), value.join("\n")));
        }
        out
    }
}
