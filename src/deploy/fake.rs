//! An in-memory `Target` for tests of the executor and of the use cases above it: images
//! map to digests, digests are healthy or not, and it remembers what serves, what is kept
//! and who holds the lock. It follows the same rules as the real targets.
use crate::deploy::health::GateFailure;
use crate::deploy::plan::{Plan, Step};
use crate::deploy::release::Scope;
use crate::deploy::target::{HealthReport, LockGuard, LockHolder, Outcome, Progress, Running, Target};
use crate::error::{Error, ErrorCode, Result};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct FakeState {
    /// image reference → digest.
    pub images: BTreeMap<String, String>,
    /// digests whose releases fail their gate.
    pub unhealthy: BTreeSet<String>,
    /// (release id, digest) serving now.
    pub serving: Option<(String, String)>,
    /// Stopped releases kept, newest first, with their digests.
    pub retained: Vec<(String, String)>,
    pub lock: Option<LockHolder>,
    /// Release ids whose leftovers `recover` cleaned.
    pub recovered: Vec<String>,
    /// How many times a retained release was restarted (the no-pull fast path).
    pub restarts: usize,
}

#[derive(Debug, Clone, Default)]
pub struct FakeTarget {
    pub state: Rc<RefCell<FakeState>>,
}

impl FakeTarget {
    pub fn with_images(images: &[(&str, &str)]) -> Self {
        let t = FakeTarget::default();
        for (r, d) in images {
            t.state.borrow_mut().images.insert(r.to_string(), d.to_string());
        }
        t
    }

    fn run(&self, plan: &Plan) -> Outcome {
        let mut s = self.state.borrow_mut();
        let new = (plan.release.id.clone(), plan.release.digest.clone());
        if s.unhealthy.contains(&plan.release.digest) {
            // The new release never took over (or was undone): what served before serves.
            return Outcome::GateFailed {
                failure: GateFailure::NotReady("fake: unhealthy digest".into()),
                previous_serving: s.serving.is_some(),
            };
        }
        for step in &plan.steps {
            if let Step::RestartRetained { release_id } = step {
                s.retained.retain(|(id, _)| id != release_id);
                s.restarts += 1;
            }
        }
        if let Some(old) = s.serving.take() {
            s.retained.insert(0, old);
        }
        s.serving = Some(new);
        let keep = plan.keep;
        s.retained.truncate(keep);
        Outcome::Healthy { ready_after_ms: 1 }
    }
}

struct FakeGuard(Rc<RefCell<FakeState>>);

impl LockGuard for FakeGuard {
    fn release(self: Box<Self>) -> Result<()> {
        self.0.borrow_mut().lock = None;
        Ok(())
    }
}

impl Target for FakeTarget {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn resolve(&self, image: &str, _: &mut dyn Progress) -> Result<String> {
        self.state
            .borrow()
            .images
            .get(image)
            .cloned()
            .ok_or_else(|| Error::new(ErrorCode::ImageNotFound, format!("image {image} not found")))
    }

    fn retained(&self, _: &Scope) -> Result<Vec<(String, String)>> {
        Ok(self.state.borrow().retained.clone())
    }

    fn deploy(&self, plan: &Plan, _: &mut dyn Progress) -> Result<Outcome> {
        Ok(self.run(plan))
    }

    fn current(&self, _: &Scope) -> Result<Option<Running>> {
        Ok(self.state.borrow().serving.as_ref().map(|(id, d)| Running {
            release_id: Some(id.clone()),
            digest: Some(d.clone()),
            unit: format!("fake-{id}"),
        }))
    }

    fn health(&self, _: &Scope) -> Result<HealthReport> {
        let s = self.state.borrow();
        let healthy = s.serving.as_ref().is_some_and(|(_, d)| !s.unhealthy.contains(d));
        Ok(HealthReport {
            healthy,
            detail: if healthy {
                "ok".into()
            } else {
                "not serving or unhealthy".into()
            },
        })
    }

    fn restart(&self, _: &Scope) -> Result<()> {
        Ok(())
    }

    fn lock(
        &self,
        scope: &Scope,
        holder: &LockHolder,
        _: Duration,
    ) -> Result<(Box<dyn LockGuard>, Vec<String>)> {
        let mut s = self.state.borrow_mut();
        if let Some(h) = &s.lock {
            return Err(Error::new(
                ErrorCode::LockHeld,
                format!("{scope} is locked by {}", h.describe()),
            ));
        }
        s.lock = Some(holder.clone());
        Ok((Box::new(FakeGuard(self.state.clone())), Vec::new()))
    }

    fn lock_holder(&self, _: &Scope) -> Result<Option<LockHolder>> {
        Ok(self.state.borrow().lock.clone())
    }

    fn break_lock(&self, _: &Scope) -> Result<bool> {
        Ok(self.state.borrow_mut().lock.take().is_some())
    }

    fn recover(&self, _: &Scope, release_ids: &[String]) -> Result<()> {
        self.state
            .borrow_mut()
            .recovered
            .extend(release_ids.iter().cloned());
        Ok(())
    }
}
