//! The steps this worker holds right now: heartbeats extend their leases (and cancel the handlers of steps
//! that are no longer theirs), shutdown releases them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A held step: the message that carries its lease and the claim token that proves ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightStep {
    /// Queue of the message.
    pub queue: String,
    /// pgmq message id.
    pub msg_id: i64,
    /// The step.
    pub step_uuid: Uuid,
    /// The token the claim returned.
    pub claim_token: Uuid,
}

/// The set of held steps, shared by the claim loops, the reporter, the heartbeat and shutdown.
#[derive(Clone, Default)]
pub struct InFlight {
    steps: Arc<Mutex<HashMap<Uuid, (InFlightStep, CancellationToken)>>>,
}

impl InFlight {
    /// Remember a claimed step and the token that tells its handler to stop.
    pub fn insert(&self, step: InFlightStep, cancelled: CancellationToken) {
        self.steps.lock().expect("in-flight set poisoned").insert(step.step_uuid, (step, cancelled));
    }

    /// Cancel the handlers of `steps` (held no more: cancelled task, lost claim). Returns how many were held.
    pub fn cancel(&self, steps: &[Uuid]) -> usize {
        let held = self.steps.lock().expect("in-flight set poisoned");
        steps.iter().filter_map(|s| held.get(s)).map(|(_, token)| token.cancel()).count()
    }

    /// Forget a step (reported or released).
    pub fn remove(&self, step_uuid: &Uuid) {
        self.steps.lock().expect("in-flight set poisoned").remove(step_uuid);
    }

    /// A snapshot of every held step.
    pub fn snapshot(&self) -> Vec<InFlightStep> {
        self.steps.lock().expect("in-flight set poisoned").values().map(|(step, _)| step.clone()).collect()
    }

    /// How many steps are held.
    pub fn len(&self) -> usize {
        self.steps.lock().expect("in-flight set poisoned").len()
    }

    /// How many steps the set has room for without allocating (it keeps the room of its busiest moment,
    /// which the worker's concurrency limit bounds).
    pub fn capacity(&self) -> usize {
        self.steps.lock().expect("in-flight set poisoned").capacity()
    }

    /// Whether no step is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
