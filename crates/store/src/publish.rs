//! The checkpoint-publishing seam. Once the integrator has signed a
//! checkpoint, made it durable and published it to readers, each
//! [`PublishStep`] of the log runs for it, in the order the steps were
//! added: cosigning by witnesses, timestamping, uploading to object storage
//! plug in here without touching the integrator.
//!
//! Steps run on a thread of their own, so a slow or failing step delays
//! neither acknowledgements nor the next checkpoint. They see checkpoints in
//! increasing size; when they fall behind, they skip to the newest (a newer
//! checkpoint covers everything an older one does). A step may see the same
//! checkpoint again — after a restart, or when a step is added — so steps
//! are idempotent. A step's error is logged and counted
//! ([`crate::stats::LogStats::publish_errors`]); the step runs again for
//! the next checkpoint.

use std::sync::{Arc, Condvar, Mutex};

use crate::published::Published;

/// Why a step failed (its own words; logged, never sent to clients).
pub type StepError = Box<dyn std::error::Error + Send + Sync>;

/// One step of publishing a checkpoint.
pub trait PublishStep: Send + Sync + 'static {
    /// A short name for logs and metrics, e.g. `witness` or `s3-upload`.
    fn name(&self) -> &str;
    /// Called once the checkpoint of `log` is durable and served.
    ///
    /// # Errors
    /// Anything; logged and counted, and the step runs again for the next
    /// checkpoint.
    fn publish(&self, log: &str, checkpoint: &Published) -> Result<(), StepError>;
}

/// The steps of one log and the checkpoint they have yet to see.
#[derive(Default)]
pub(crate) struct Publisher {
    state: Mutex<Slot>,
    cv: Condvar,
}

#[derive(Default)]
struct Slot {
    steps: Vec<Arc<dyn PublishStep>>,
    /// The newest checkpoint the steps have not run for.
    next: Option<Published>,
    closed: bool,
}

impl Publisher {
    /// Adds a step; it first runs for `current` (with the other steps).
    pub(crate) fn add(&self, step: Arc<dyn PublishStep>, current: Published) {
        let mut s = self.state.lock().expect("publisher lock");
        s.steps.push(step);
        s.next = Some(current);
        drop(s);
        self.cv.notify_all();
    }

    /// A new checkpoint was published: the steps run for it next (in place
    /// of an older one they have not reached).
    pub(crate) fn offer(&self, published: &Published) {
        let mut s = self.state.lock().expect("publisher lock");
        if s.steps.is_empty() {
            return;
        }
        s.next = Some(published.clone());
        drop(s);
        self.cv.notify_all();
    }

    /// No checkpoint will come: [`Publisher::run`] returns once the steps
    /// have run for the last one offered.
    pub(crate) fn close(&self) {
        self.state.lock().expect("publisher lock").closed = true;
        self.cv.notify_all();
    }

    /// The publishing thread of log `name`.
    pub(crate) fn run(&self, name: &str, stats: &crate::stats::LogStats) {
        let mut s = self.state.lock().expect("publisher lock");
        loop {
            let Some(p) = s.next.take() else {
                if s.closed {
                    return;
                }
                s = self.cv.wait(s).expect("publisher lock");
                continue;
            };
            let steps = s.steps.clone();
            drop(s);
            for step in &steps {
                if let Err(e) = step.publish(name, &p) {
                    stats
                        .publish_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(log = name, step = step.name(), size = p.size, error = %e,
                        "a checkpoint publishing step failed; it runs again for the next checkpoint");
                }
            }
            s = self.state.lock().expect("publisher lock");
        }
    }
}
