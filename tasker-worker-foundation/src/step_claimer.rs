//! Reading and claiming in ONE statement (`sql/claim_steps.sql`): read a batch of step messages (hiding the
//! claimed ones for the lease), claim the claimable steps, and delete the messages of steps that are not
//! claimable (done, cancelled, or a duplicate). A statement is atomic: if it fails, the messages stay visible
//! and nothing was claimed. Steps whose lease expired on their last attempt are failed by a second,
//! rare transaction (`sql/fail_exhausted_leases.sql`).

use crate::handler::StepContext;
use crate::in_flight::InFlightStep;
use crate::Result;
use sqlx::{FromRow, PgPool};
use std::time::Duration;
use tasker_shared::messaging::{
    announce, delete_batch, drop_malformed, is_malformed_body, queue_table, send_batch, ResultMessage, RESULTS_QUEUE,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A row of `claim_steps.sql`: the `read` count, a `claimed` step, or an `expired` one.
#[derive(FromRow)]
struct ClaimRow {
    kind: String,
    msg_id: i64,
    step_uuid: Option<Uuid>,
    task_uuid: Option<Uuid>,
    name: Option<String>,
    handler: Option<String>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    timeout_seconds: Option<i32>,
    config: Option<serde_json::Value>,
    claim_token: Option<Uuid>,
    context: Option<serde_json::Value>,
    dependency_results: Option<sqlx::types::Json<serde_json::Map<String, serde_json::Value>>>,
    upstream_results: Option<sqlx::types::Json<serde_json::Map<String, serde_json::Value>>>,
    backoff_base_ms: Option<i32>,
    backoff_max_ms: Option<i32>,
    namespace: Option<String>,
    checkpoint: Option<serde_json::Value>,
    batch: Option<serde_json::Value>,
    next_visible_ms: Option<f64>,
}

impl ClaimRow {
    fn into_claimed(self, queue: &str) -> Option<ClaimedStep> {
        let step_uuid = self.step_uuid?;
        Some(ClaimedStep {
            namespace: self.namespace.unwrap_or_default(),
            backoff_ms: (
                self.backoff_base_ms.unwrap_or_default().max(0) as u64,
                self.backoff_max_ms.unwrap_or_default().max(0) as u64,
            ),
            lease: InFlightStep {
                queue: queue.to_string(),
                msg_id: self.msg_id,
                step_uuid,
                claim_token: self.claim_token?,
            },
            context: StepContext {
                task_uuid: self.task_uuid?,
                step_uuid,
                step_name: self.name?,
                handler: self.handler?,
                attempt: self.attempts?,
                max_attempts: self.max_attempts?,
                task_context: self.context?,
                dependency_results: self.dependency_results.map(|j| j.0).unwrap_or_default(),
                upstream_results: self.upstream_results.map(|j| j.0).unwrap_or_default(),
                step_config: self.config.unwrap_or_default(),
                timeout: Duration::from_secs(self.timeout_seconds?.max(1) as u64),
                cancelled: CancellationToken::new(),
                checkpoint: self.checkpoint,
                checkpointer: None,
                batch_item: self.batch,
            },
        })
    }
}

/// A step this worker now holds, with everything its handler needs.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    /// The handler's view.
    pub context: StepContext,
    /// The lease: queue, message and claim token.
    pub lease: InFlightStep,
    /// The step's backoff base and cap in ms (to say when a failed attempt will be retried).
    pub backoff_ms: (u64, u64),
    /// The task's namespace (a label of the step metrics).
    pub namespace: String,
}

/// The outcome of one read-and-claim.
#[derive(Debug, Default)]
pub struct ClaimBatch {
    /// Messages read (claimed or not).
    pub messages: usize,
    /// Steps claimed.
    pub claimed: Vec<ClaimedStep>,
    /// Claimable steps put back for want of a rate limit token.
    pub held: usize,
    /// How long until the queue's next hidden message (a delayed retry or an expiring lease) becomes visible,
    /// if it has one: no notification fires at that moment, so an idle claim loop sleeps no longer than this.
    pub next_visible_in: Option<Duration>,
}

/// Read up to `qty` messages from `queue` and claim their steps for `worker_id` under a `lease_seconds` lease.
/// The worker claims on a pool that commits asynchronously (`tasker_shared::db::relaxed_commit_pool`, which
/// says why that is safe); whether a claim waits for the WAL flush is the pool's setting.
pub async fn claim_batch(
    pool: &PgPool,
    queue: &str,
    worker_id: &str,
    lease_seconds: i32,
    qty: i32,
) -> Result<ClaimBatch> {
    let sql = include_str!("sql/claim_steps.sql").replace("{queue_table}", &queue_table(queue));
    let claim = || sqlx::query_as(&sql).bind(qty).bind(worker_id).bind(lease_seconds as f64).fetch_all(pool);
    let rows: Vec<ClaimRow> = match claim().await {
        Err(err) if is_malformed_body(&err) => {
            if drop_malformed(pool, queue, &["step_uuid"]).await? == 0 {
                return Err(err.into());
            }
            claim().await?
        }
        rows => rows?,
    };
    let mut batch = ClaimBatch::default();
    let mut expired = Vec::new();
    for row in rows {
        match row.kind.as_str() {
            "read" => {
                batch.messages = row.msg_id as usize;
                batch.next_visible_in = row.next_visible_ms.map(|ms| Duration::from_millis(ms.max(0.0) as u64 + 1));
            }
            "claimed" => match row.into_claimed(queue) {
                Some(step) => batch.claimed.push(step),
                // Cannot happen (every column is NOT NULL); if it did, the lease would expire and the step re-run.
                None => tracing::error!(%queue, "a claimed row lacks a column; leaving the step to lease expiry"),
            },
            "held" => batch.held = row.msg_id as usize,
            _ => expired.extend(row.step_uuid.map(|s| (s, row.msg_id))),
        }
    }
    // The claims above are committed: a failure here must not lose them (their handlers would never run, and
    // each would burn an attempt at lease expiry). The expired messages stay visible for the next claim.
    if !expired.is_empty() {
        if let Err(e) = fail_exhausted_leases(pool, queue, &expired).await {
            tracing::warn!(error = %e, %queue, steps = expired.len(), "failing exhausted leases failed; the next claim retries");
        }
    }
    metrics::counter!("tasker_steps_claimed_total").increment(batch.claimed.len() as u64);
    metrics::counter!("tasker_claim_conflicts_total")
        .increment(batch.messages.saturating_sub(batch.claimed.len() + batch.held) as u64);
    if batch.held > 0 {
        metrics::counter!("tasker_rate_limited_waits_total", "queue" => queue.to_string()).increment(batch.held as u64);
    }
    Ok(batch)
}

/// `expired`: (step, message id) pairs a claim returned as `expired`. A dead worker's step on its last attempt is failed (as a permanent `LeaseExpired` error, reported for
/// orchestration to apply), not re-run; its message is deleted. This runs after the claim committed, so a step
/// may have moved on meanwhile (its worker's heartbeat renewed the lease, a shutdown released it, another
/// claimer failed it): such a step is not failed here, and its message, which may carry its live lease or its
/// next delivery, is left alone.
pub async fn fail_exhausted_leases(pool: &PgPool, queue: &str, expired: &[(Uuid, i64)]) -> Result<()> {
    let steps: Vec<Uuid> = expired.iter().map(|(s, _)| *s).collect();
    let mut tx = pool.begin().await?;
    let failed: Vec<(Uuid, Uuid)> =
        sqlx::query_as(include_str!("sql/fail_exhausted_leases.sql")).bind(&steps).fetch_all(&mut *tx).await?;
    let results: Vec<ResultMessage> = failed
        .iter()
        .map(|(step_uuid, task_uuid)| ResultMessage { task_uuid: *task_uuid, step_uuid: *step_uuid })
        .collect();
    send_batch(&mut tx, RESULTS_QUEUE, &results).await?;
    if !results.is_empty() {
        announce(&mut tx, &[RESULTS_QUEUE]).await?;
    }
    let msg_ids: Vec<i64> =
        expired.iter().filter(|(s, _)| failed.iter().any(|(f, _)| f == s)).map(|(_, m)| *m).collect();
    delete_batch(&mut tx, queue, &msg_ids).await?;
    tx.commit().await?;
    Ok(())
}
