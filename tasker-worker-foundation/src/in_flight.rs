//! The steps this worker holds right now: heartbeats extend their leases (and cancel the handlers of steps
//! that are no longer theirs), shutdown releases them.
//!
//! A step is held under one claim token at a time, and every change names the claim it is about: the same
//! worker can claim a step again (a retry, or its own lease lapsing while a handler stalls), and what the
//! earlier claim's handler, report or heartbeat does afterwards must not touch the later claim.

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
    /// Remember a claimed step and the token that tells its handler to stop. An earlier claim of the same step
    /// still remembered here is lost by now (the new claim replaced its token), so its handler is cancelled.
    pub fn insert(&self, step: InFlightStep, cancelled: CancellationToken) {
        let replaced = self.steps.lock().expect("in-flight set poisoned").insert(step.step_uuid, (step, cancelled));
        if let Some((_, earlier)) = replaced {
            earlier.cancel();
        }
    }

    /// Cancel the handlers of `claims` (step and claim token; held no more: cancelled task, lost claim). A step
    /// held under another token now is left alone. Returns how many were cancelled.
    pub fn cancel(&self, claims: &[(Uuid, Uuid)]) -> usize {
        let held = self.steps.lock().expect("in-flight set poisoned");
        claims
            .iter()
            .filter_map(|(step, claim)| held.get(step).filter(|(s, _)| s.claim_token == *claim))
            .map(|(_, token)| token.cancel())
            .count()
    }

    /// Forget a claim (reported or released); a later claim of the same step stays.
    pub fn remove(&self, step: &InFlightStep) {
        let mut held = self.steps.lock().expect("in-flight set poisoned");
        if held.get(&step.step_uuid).is_some_and(|(s, _)| s.claim_token == step.claim_token) {
            held.remove(&step.step_uuid);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(step_uuid: Uuid) -> InFlightStep {
        InFlightStep { queue: "q".into(), msg_id: 1, step_uuid, claim_token: Uuid::new_v4() }
    }

    #[test]
    fn a_later_claim_of_the_same_step_replaces_the_earlier_one_and_cancels_its_handler() {
        let set = InFlight::default();
        let step = Uuid::new_v4();
        let (first, second) = (claim(step), claim(step));
        let (first_cancel, second_cancel) = (CancellationToken::new(), CancellationToken::new());
        set.insert(first.clone(), first_cancel.clone());
        set.insert(second.clone(), second_cancel.clone());
        assert!(first_cancel.is_cancelled() && !second_cancel.is_cancelled());
        assert_eq!(set.snapshot(), vec![second.clone()]);

        // What the earlier claim's heartbeat and report do afterwards leaves the later claim alone.
        assert_eq!(set.cancel(&[(step, first.claim_token)]), 0);
        set.remove(&first);
        assert!(!second_cancel.is_cancelled());
        assert_eq!(set.len(), 1);

        assert_eq!(set.cancel(&[(step, second.claim_token)]), 1);
        assert!(second_cancel.is_cancelled());
        set.remove(&second);
        assert!(set.is_empty());
    }
}
