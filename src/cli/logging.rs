//! The debug log (`--log-file`). Logging is best effort: an unwritable log never fails a
//! command. Secrets cannot reach it because they only travel as `Secret<T>`.
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

/// Keeps the subscriber installed for the life of the command.
pub struct LogGuard;

pub fn init(path: &Path, verbose: bool) -> Option<LogGuard> {
    let file = OpenOptions::new().create(true).append(true).open(path).ok()?;
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_max_level(level)
        .try_init()
        .ok()?;
    Some(LogGuard)
}
