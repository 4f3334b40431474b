//! Cancellation by signal. Release commands run for minutes, and CI cancels a job with
//! SIGINT, then SIGTERM, then a kill a few seconds later. Dying at the first signal would
//! leave the deploy lock held until its lease ends (minutes, on a cluster where no one can
//! see the dead pid) and a release half-gated. After [`install`], the first SIGINT or SIGTERM
//! only raises a flag (no work in the handler); every wait — health gates, lock waits,
//! `heal --watch` — checks it and ends its operation the quick way: the candidate removed
//! or the known-good digest rolled out again without a gate, the verdict in the ledger, the
//! lock released, and exit `AUTOSD-INTERRUPTED`. A second signal ends the process at once.
use crate::error::{Error, ErrorCode, Result};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The exit status of a process ended by the second signal (128 + SIGINT, as shells report).
const SECOND_SIGNAL_EXIT: i32 = 130;

/// How often a wait looks at the flag: well inside the seconds CI allows between signals.
const SLICE: Duration = Duration::from_millis(50);

struct Flags {
    /// Armed by the first signal; a signal arriving while it is set ends the process.
    raised: Arc<AtomicBool>,
    /// The number of the first signal, for messages.
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Handles SIGINT, SIGTERM and SIGHUP as above from now on (idempotent).
pub fn install() -> Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        raised: Arc::new(AtomicBool::new(false)),
        signal: Arc::new(AtomicUsize::new(0)),
    };
    // SIGHUP too: some runner versions end a cancelled step with it.
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        let cannot = |e: std::io::Error| {
            Error::new(ErrorCode::Internal, format!("cannot handle signal {signal}: {e}"))
        };
        // Handlers run in registration order: the shutdown sees the flag as the signal
        // before found it, so only a second signal ends the process.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            SECOND_SIGNAL_EXIT,
            Arc::clone(&flags.raised),
        )
        .map_err(cannot)?;
        signal_hook::flag::register_usize(signal, Arc::clone(&flags.signal), signal as usize)
            .map_err(cannot)?;
        signal_hook::flag::register(signal, Arc::clone(&flags.raised)).map_err(cannot)?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The signal that asked autosd to stop (`"SIGTERM"`), None while none did.
pub fn requested() -> Option<&'static str> {
    let flags = FLAGS.get()?;
    if !flags.raised.load(Ordering::SeqCst) {
        return None;
    }
    Some(match flags.signal.load(Ordering::SeqCst) as i32 {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGHUP => "SIGHUP",
        _ => "SIGTERM",
    })
}

/// `AUTOSD-INTERRUPTED` once a signal asked autosd to stop; `while` says what it was doing.
pub fn check(while_doing: &str) -> Result<()> {
    match requested() {
        Some(signal) => Err(interrupted(signal, while_doing)),
        None => Ok(()),
    }
}

/// The error of an operation stopped by `signal` while doing `what`.
pub fn interrupted(signal: &str, what: &str) -> Error {
    Error::new(ErrorCode::Interrupted, format!("{signal} received {what}"))
        .hint("run the command again to finish; `autosd releases` shows what was done")
}

/// Sleeps `duration`, or less when a signal asks autosd to stop meanwhile.
pub fn sleep(duration: Duration) {
    let until = Instant::now() + duration;
    while requested().is_none() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(SLICE));
    }
}
