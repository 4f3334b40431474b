//! Health-gate semantics shared by every target: a release must become ready within a
//! deadline, then stay healthy for a whole stability window, judged from observations taken
//! every `interval`. Pure: the target feeds observations and elapsed time, the gate decides.
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a release is judged. Defaults: ready within 60 s, then healthy for 10 s, checked
/// every second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateSpec {
    #[serde(with = "millis")]
    pub ready_timeout: Duration,
    #[serde(with = "millis")]
    pub stability_window: Duration,
    #[serde(with = "millis")]
    pub interval: Duration,
}

impl Default for GateSpec {
    fn default() -> Self {
        GateSpec {
            ready_timeout: Duration::from_secs(60),
            stability_window: Duration::from_secs(10),
            interval: Duration::from_secs(1),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// What one look at the release saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// Every configured check passed.
    Healthy,
    /// Not (yet) answering: fine while starting, a failure once it was ready.
    NotReady(String),
    /// A definitive failure whatever the phase: the process exited, or the engine's own
    /// health check gave up (`unhealthy`).
    Failed(String),
}

/// Why a gate failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum GateFailure {
    /// Never became ready within the deadline; the last reason seen.
    NotReady(String),
    /// Failed outright (exited, engine health `unhealthy`) before becoming ready.
    Failed(String),
    /// Was ready, then failed inside the stability window.
    Unstable(String),
    /// A signal stopped autosd before the gate had a verdict (`crate::interrupt`).
    Interrupted(String),
}

impl GateFailure {
    pub fn describe(&self) -> String {
        match self {
            GateFailure::NotReady(r) => format!("not ready within the deadline: {r}"),
            GateFailure::Failed(r) => format!("failed while starting: {r}"),
            GateFailure::Unstable(r) => format!("failed during the stability window: {r}"),
            GateFailure::Interrupted(signal) => format!("interrupted by {signal} before it had a verdict"),
        }
    }
}

/// The gate's answer after an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateStep {
    /// Look again after `interval`.
    Wait,
    Passed,
    Failed(GateFailure),
}

/// The running state of one gate.
#[derive(Debug, Clone)]
pub struct Gate {
    spec: GateSpec,
    ready_at: Option<Duration>,
}

impl Gate {
    pub fn new(spec: GateSpec) -> Self {
        Gate { spec, ready_at: None }
    }

    pub fn spec(&self) -> &GateSpec {
        &self.spec
    }

    /// When the release first looked ready (time since the gate began).
    pub fn ready_at(&self) -> Option<Duration> {
        self.ready_at
    }

    /// Feeds one observation taken `elapsed` after the gate began.
    pub fn observe(&mut self, elapsed: Duration, obs: Observation) -> GateStep {
        match (self.ready_at, obs) {
            (None, Observation::Healthy) => {
                self.ready_at = Some(elapsed);
                if self.spec.stability_window.is_zero() {
                    GateStep::Passed
                } else {
                    GateStep::Wait
                }
            }
            (None, Observation::Failed(r)) => GateStep::Failed(GateFailure::Failed(r)),
            (None, Observation::NotReady(r)) => {
                if elapsed >= self.spec.ready_timeout {
                    GateStep::Failed(GateFailure::NotReady(r))
                } else {
                    GateStep::Wait
                }
            }
            (Some(ready), Observation::Healthy) => {
                if elapsed.saturating_sub(ready) >= self.spec.stability_window {
                    GateStep::Passed
                } else {
                    GateStep::Wait
                }
            }
            (Some(_), Observation::NotReady(r) | Observation::Failed(r)) => {
                GateStep::Failed(GateFailure::Unstable(r))
            }
        }
    }

    /// Runs the gate to its verdict: `look` once, then again after `pause(&gate)`, until it
    /// passes (`Ok(Ok(ms until ready))`) or fails (`Ok(Err(why))`); a `look` that errs ends
    /// it with that error, and a signal (`crate::interrupt`) with `GateFailure::Interrupted`.
    pub fn run<E>(
        mut self,
        mut look: impl FnMut() -> Result<Observation, E>,
        pause: impl Fn(&Gate) -> Duration,
    ) -> Result<Result<u64, GateFailure>, E> {
        let start = std::time::Instant::now();
        loop {
            let obs = look()?;
            let step = self.observe(start.elapsed(), obs);
            if let (GateStep::Wait, Some(signal)) = (&step, crate::interrupt::requested()) {
                return Ok(Err(GateFailure::Interrupted(signal.to_string())));
            }
            match step {
                GateStep::Passed => return Ok(Ok(self.ready_at.unwrap_or_default().as_millis() as u64)),
                GateStep::Failed(f) => return Ok(Err(f)),
                GateStep::Wait => crate::interrupt::sleep(pause(&self)),
            }
        }
    }

    /// `run` with the usual rhythm: readiness looked at every 100 ms at most (looks are cheap,
    /// and a quick release should not wait a whole interval), the window every interval.
    pub fn poll<E>(
        self,
        look: impl FnMut() -> Result<Observation, E>,
    ) -> Result<Result<u64, GateFailure>, E> {
        let interval = self.spec.interval;
        self.run(look, move |g| match g.ready_at() {
            None => interval.min(Duration::from_millis(100)),
            Some(_) => interval,
        })
    }

    /// The longest the gate can take: the ready deadline plus the window, plus one interval.
    pub fn max_duration(&self) -> Duration {
        self.spec.ready_timeout + self.spec.stability_window + self.spec.interval
    }
}

/// Merges the looks of several checks (engine health, HTTP probe): any definitive failure
/// wins, then any not-ready, else healthy.
pub fn combine(observations: impl IntoIterator<Item = Observation>) -> Observation {
    let mut worst = Observation::Healthy;
    for obs in observations {
        worst = match (worst, obs) {
            (Observation::Failed(r), _) | (_, Observation::Failed(r)) => Observation::Failed(r),
            (Observation::NotReady(r), _) | (_, Observation::NotReady(r)) => Observation::NotReady(r),
            _ => Observation::Healthy,
        };
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ready: u64, window: u64) -> GateSpec {
        GateSpec {
            ready_timeout: Duration::from_secs(ready),
            stability_window: Duration::from_secs(window),
            interval: Duration::from_secs(1),
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn passes_after_ready_and_a_full_window() {
        let mut g = Gate::new(spec(10, 3));
        assert_eq!(
            g.observe(s(0), Observation::NotReady("starting".into())),
            GateStep::Wait
        );
        assert_eq!(g.observe(s(2), Observation::Healthy), GateStep::Wait);
        assert_eq!(g.ready_at(), Some(s(2)));
        assert_eq!(g.observe(s(4), Observation::Healthy), GateStep::Wait);
        assert_eq!(g.observe(s(5), Observation::Healthy), GateStep::Passed);
    }

    #[test]
    fn zero_window_passes_on_first_healthy() {
        let mut g = Gate::new(spec(10, 0));
        assert_eq!(g.observe(s(1), Observation::Healthy), GateStep::Passed);
    }

    #[test]
    fn not_ready_by_the_deadline_fails() {
        let mut g = Gate::new(spec(5, 3));
        assert_eq!(
            g.observe(s(4), Observation::NotReady("refused".into())),
            GateStep::Wait
        );
        assert_eq!(
            g.observe(s(5), Observation::NotReady("refused".into())),
            GateStep::Failed(GateFailure::NotReady("refused".into()))
        );
    }

    #[test]
    fn exit_fails_at_once() {
        let mut g = Gate::new(spec(60, 3));
        assert_eq!(
            g.observe(s(0), Observation::Failed("exited 3".into())),
            GateStep::Failed(GateFailure::Failed("exited 3".into()))
        );
    }

    #[test]
    fn any_blip_inside_the_window_fails() {
        let mut g = Gate::new(spec(60, 10));
        g.observe(s(1), Observation::Healthy);
        assert_eq!(
            g.observe(s(3), Observation::NotReady("503".into())),
            GateStep::Failed(GateFailure::Unstable("503".into()))
        );
    }

    #[test]
    fn run_looks_until_a_verdict_and_passes_errors_through() {
        let fast = GateSpec {
            ready_timeout: s(60),
            stability_window: Duration::ZERO,
            interval: Duration::from_millis(1),
        };
        let mut looks = vec![Observation::Healthy, Observation::NotReady("starting".into())];
        let verdict = Gate::new(fast).run(
            || Ok::<_, ()>(looks.pop().unwrap_or(Observation::Healthy)),
            |g| g.spec().interval,
        );
        assert!(matches!(verdict, Ok(Ok(_))), "{verdict:?}");
        assert!(looks.is_empty(), "looked until healthy");
        let failed = Gate::new(fast).run(
            || Ok::<_, ()>(Observation::Failed("exited".into())),
            |_| Duration::ZERO,
        );
        assert_eq!(failed, Ok(Err(GateFailure::Failed("exited".into()))));
        assert_eq!(
            Gate::new(fast).run(|| Err::<Observation, _>("gone"), |_| Duration::ZERO),
            Err("gone")
        );
    }

    #[test]
    fn combine_takes_the_worst() {
        let h = Observation::Healthy;
        let n = Observation::NotReady("n".into());
        let f = Observation::Failed("f".into());
        assert_eq!(combine([h.clone(), h.clone()]), h);
        assert_eq!(combine([h.clone(), n.clone()]), n);
        assert_eq!(combine([n.clone(), f.clone(), h.clone()]), f);
        assert_eq!(combine([]), h);
    }

    #[test]
    fn defaults_are_sensible() {
        let d = GateSpec::default();
        assert!(d.ready_timeout >= d.stability_window);
        assert!(!d.interval.is_zero());
        assert_eq!(Gate::new(d).max_duration(), s(71));
    }
}
