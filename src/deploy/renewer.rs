//! Keeping a held cluster lock alive: a thread that renews it every third of its lease
//! while the operation runs, as Kubernetes leader election does. The lease can then be
//! short — a holder killed outright frees the lock within it — and still never lapse under
//! a long roll-out. The renewing side lives on the thread: an engine or API client of its
//! own (a client bound to the main thread's runtime would only make progress while that
//! thread waits on it).
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting renewer looks whether it was stopped.
const SLICE: Duration = Duration::from_millis(50);

pub struct Renewer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Renewer {
    /// Every third of `lease` (at least a second), calls the renew function `open` made on
    /// the new thread, until stopped; `open` giving None, or a renewal answering false (the
    /// lock was taken over), ends the renewals.
    pub fn start<F, R>(lease: Duration, open: F) -> Renewer
    where
        F: FnOnce() -> Option<R> + Send + 'static,
        R: FnMut() -> bool,
    {
        let period = (lease / 3).max(Duration::from_secs(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let Some(mut renew) = open() else { return };
            loop {
                let next = Instant::now() + period;
                while Instant::now() < next {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(SLICE);
                }
                if !renew() {
                    return;
                }
            }
        });
        Renewer { stop, thread }
    }

    /// Stops the renewals and waits for one under way, so none races a release.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// A renewer of a 3 s lease whose renewals count in `count` and answer `keep_going`.
    fn counting(keep_going: bool) -> (Renewer, Arc<AtomicU32>) {
        let count = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&count);
        let r = Renewer::start(Duration::from_secs(3), move || {
            Some(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                keep_going
            })
        });
        (r, count)
    }

    fn wait_for_one(count: &AtomicU32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while count.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "never renewed");
            std::thread::sleep(SLICE);
        }
    }

    #[test]
    fn nothing_is_renewed_after_stop() {
        let (r, count) = counting(true);
        wait_for_one(&count);
        r.stop();
        let renewed = count.load(Ordering::SeqCst);
        // More than one period: a renewer still running would have renewed again.
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(count.load(Ordering::SeqCst), renewed);
    }

    #[test]
    fn a_renewal_answering_false_ends_the_renewals() {
        let (r, count) = counting(false);
        wait_for_one(&count);
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(count.load(Ordering::SeqCst), 1);
        r.stop();
    }
}
