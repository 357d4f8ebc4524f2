//! Reading and claiming, in ONE transaction: read a batch of step messages (hiding them for the lease),
//! claim the claimable steps, and delete the messages of steps that are not claimable (done, cancelled, or
//! a duplicate). If the transaction fails, the messages stay visible and nothing was claimed.

use crate::handler::StepContext;
use crate::in_flight::InFlightStep;
use crate::Result;
use sqlx::{FromRow, PgPool};
use std::collections::HashMap;
use std::time::Duration;
use tasker_shared::messaging::{delete_batch, read_batch, send_batch, ResultMessage, StepMessage, RESULTS_QUEUE};
use uuid::Uuid;

#[derive(FromRow)]
struct ClaimedRow {
    step_uuid: Uuid,
    task_uuid: Uuid,
    name: String,
    handler: String,
    attempts: i32,
    max_attempts: i32,
    timeout_seconds: i32,
    config: serde_json::Value,
    claim_token: Uuid,
    context: serde_json::Value,
    dependency_results: sqlx::types::Json<serde_json::Map<String, serde_json::Value>>,
}

/// A step this worker now holds, with everything its handler needs.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    /// The handler's view.
    pub context: StepContext,
    /// The lease: queue, message and claim token.
    pub lease: InFlightStep,
}

/// The outcome of one read-and-claim.
#[derive(Debug, Default)]
pub struct ClaimBatch {
    /// Messages read (claimed or not).
    pub messages: usize,
    /// Steps claimed.
    pub claimed: Vec<ClaimedStep>,
    /// Result messages sent for steps failed on an expired last attempt (to announce after commit).
    pub results_sent: usize,
}

/// Read up to `qty` messages from `queue` and claim their steps for `worker_id` under a `lease_seconds` lease.
/// `durable`: wait for the WAL flush at commit (see `DatabaseConfig::synchronous_step_commits`).
pub async fn claim_batch(
    pool: &PgPool,
    queue: &str,
    worker_id: &str,
    lease_seconds: i32,
    qty: i32,
    durable: bool,
) -> Result<ClaimBatch> {
    let mut tx = tasker_shared::db::begin_step_transaction(pool, durable).await?;
    let messages = read_batch::<StepMessage>(&mut tx, queue, lease_seconds, qty).await?;
    if messages.is_empty() {
        tx.commit().await?;
        return Ok(ClaimBatch::default());
    }
    // One message per step; any further message for the same step is a duplicate.
    let mut msg_of_step: HashMap<Uuid, i64> = HashMap::new();
    let mut discard = Vec::new();
    for m in &messages {
        match m.body {
            Some(body) if !msg_of_step.contains_key(&body.step_uuid) => {
                msg_of_step.insert(body.step_uuid, m.msg_id);
            }
            _ => discard.push(m.msg_id),
        }
    }
    let step_uuids: Vec<Uuid> = msg_of_step.keys().copied().collect();
    let rows: Vec<ClaimedRow> = sqlx::query_as(include_str!("sql/claim_steps.sql"))
        .bind(&step_uuids)
        .bind(worker_id)
        .bind(lease_seconds as f64)
        .fetch_all(&mut *tx)
        .await?;
    let claimed: Vec<ClaimedStep> = rows
        .into_iter()
        .map(|r| {
            let msg_id = msg_of_step.remove(&r.step_uuid).expect("claimed step came from a message");
            ClaimedStep {
                lease: InFlightStep {
                    queue: queue.to_string(),
                    msg_id,
                    step_uuid: r.step_uuid,
                    claim_token: r.claim_token,
                },
                context: StepContext {
                    task_uuid: r.task_uuid,
                    step_uuid: r.step_uuid,
                    step_name: r.name,
                    handler: r.handler,
                    attempt: r.attempts,
                    max_attempts: r.max_attempts,
                    task_context: r.context,
                    dependency_results: r.dependency_results.0,
                    step_config: r.config,
                    timeout: Duration::from_secs(r.timeout_seconds.max(1) as u64),
                },
            }
        })
        .collect();
    let mut results_sent = 0;
    if !msg_of_step.is_empty() {
        // A dead worker's step on its last attempt is failed, not re-run.
        let unclaimed: Vec<Uuid> = msg_of_step.keys().copied().collect();
        let exhausted: Vec<(Uuid, Uuid)> =
            sqlx::query_as(include_str!("sql/fail_exhausted_leases.sql")).bind(&unclaimed).fetch_all(&mut *tx).await?;
        let results: Vec<ResultMessage> = exhausted
            .iter()
            .map(|(step_uuid, task_uuid)| ResultMessage { task_uuid: *task_uuid, step_uuid: *step_uuid })
            .collect();
        send_batch(&mut tx, RESULTS_QUEUE, &results).await?;
        results_sent = results.len();
    }
    // Whatever was not claimed is not claimable: already done, cancelled, failed just above, or held under a
    // live lease (then this message is a duplicate of the one that lease holds).
    discard.extend(msg_of_step.values());
    delete_batch(&mut tx, queue, &discard).await?;
    tx.commit().await?;
    metrics::counter!("tasker_steps_claimed_total").increment(claimed.len() as u64);
    metrics::counter!("tasker_claim_conflicts_total").increment(discard.len() as u64);
    Ok(ClaimBatch { messages: messages.len(), claimed, results_sent })
}
