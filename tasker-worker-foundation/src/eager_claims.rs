//! Eager claims (`worker.eager_claims`, on by default with `worker.settle_completions`). When a worker settles a
//! success, the steps it enqueues into a queue this worker serves (the next step of a chain, the branches of a
//! fork) are claimed in the same transaction, as far as the worker has free slots, and run as soon as it
//! commits. Otherwise each of them costs a notification, a wake-up of the claim loop and a claim round trip of
//! its own. The settle sends no notification for such queues; whatever the worker does not claim (no free
//! slot, held by a rate limit, not visible yet) is announced before the commit, so other workers and this
//! worker's claim loop see it as they would have.
//!
//! The claim is the ordinary claim statement (`sql/claim_steps.sql`), reading the transaction's own messages by
//! id: nobody else can see them before the commit, and if the transaction rolls back, the claims go with the
//! steps' enqueueing. A step claimed here is held under a lease and counted in flight from its start, exactly
//! like one the claim loop took. Eager claims take only fresh work: they start when the worker has a free slot,
//! which it has only when its claim loops found nothing waiting in its queues.

use crate::step_claimer::{claim_sent, ClaimedStep};
use crate::Result;
use sqlx::PgConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use tasker_shared::messaging::{announce, worker_queue};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Starts claimed steps (each holds one permit, given back when it ends).
pub(crate) type StartSteps = Arc<dyn Fn(Vec<ClaimedStep>) + Send + Sync>;

/// What a worker needs to claim the steps its own settles enqueue.
#[derive(Clone)]
pub(crate) struct EagerClaims {
    /// The queues the worker reads now (pgmq names).
    pub served: crate::worker::ServedQueues,
    /// The worker's free slots.
    pub permits: Arc<Semaphore>,
    pub worker_id: String,
    pub lease_seconds: i32,
    /// Most steps claimed from one queue at once (`worker.batch_size`).
    pub batch_size: usize,
    /// The worker is stopping: claim nothing more.
    pub stop: CancellationToken,
    pub start: StartSteps,
}

impl EagerClaims {
    /// The worker queues of `task_queues` (the queues a settle may send to, by task queue name) that this worker
    /// serves and may claim from now; the settle does not notify them.
    pub(crate) fn quiet_queues(&self, task_queues: &[String]) -> Vec<String> {
        if self.stop.is_cancelled() || self.permits.available_permits() == 0 {
            return Vec::new();
        }
        let served = self.served.read().unwrap_or_else(|e| e.into_inner());
        task_queues.iter().map(|q| worker_queue(q)).filter(|q| served.contains(q)).collect()
    }

    /// Claim on `conn` the messages of `sent` (worker queue, msg_id: what the settle enqueued) that went to a
    /// `quiet` queue, as far as free permits allow, and announce every quiet queue left with a message the
    /// worker did not claim. The claimed steps hold their permits: [`Self::start`] them after the commit, or
    /// [`Self::abandon`] them if it fails.
    pub(crate) async fn claim(
        &self,
        conn: &mut PgConnection,
        quiet: &[String],
        sent: &[(String, i64)],
    ) -> Result<Vec<ClaimedStep>> {
        let mut by_queue: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (queue, msg_id) in sent.iter().filter(|(q, _)| quiet.contains(q)) {
            by_queue.entry(queue.as_str()).or_default().push(*msg_id);
        }
        let mut claimed: Vec<ClaimedStep> = Vec::new();
        let mut unclaimed: Vec<&str> = Vec::new();
        for (queue, msg_ids) in by_queue {
            let reserved = self.reserve(msg_ids.len().min(self.batch_size));
            if reserved == 0 {
                unclaimed.push(queue);
                continue;
            }
            match claim_sent(conn, queue, &self.worker_id, self.lease_seconds, &msg_ids[..reserved]).await {
                Ok(batch) => {
                    self.permits.add_permits(reserved - batch.claimed.len());
                    if batch.claimed.len() < msg_ids.len() {
                        unclaimed.push(queue);
                    }
                    claimed.extend(batch.claimed);
                }
                Err(e) => {
                    self.permits.add_permits(reserved);
                    self.abandon(claimed);
                    return Err(e);
                }
            }
        }
        if let Err(e) = announce(conn, &unclaimed).await {
            self.abandon(claimed);
            return Err(e.into());
        }
        metrics::counter!("tasker_steps_claimed_eagerly_total").increment(claimed.len() as u64);
        Ok(claimed)
    }

    /// Start steps claimed in a transaction that committed.
    pub(crate) fn start(&self, steps: Vec<ClaimedStep>) {
        if !steps.is_empty() {
            (self.start)(steps);
        }
    }

    /// Give back the permits of steps claimed in a transaction that did not commit (the claims rolled back).
    pub(crate) fn abandon(&self, steps: Vec<ClaimedStep>) {
        self.permits.add_permits(steps.len());
    }

    /// Take up to `want` free permits without waiting; returns how many.
    fn reserve(&self, want: usize) -> usize {
        let mut reserved = 0;
        while reserved < want {
            match self.permits.try_acquire() {
                Ok(p) => {
                    p.forget();
                    reserved += 1;
                }
                Err(_) => break,
            }
        }
        reserved
    }
}
