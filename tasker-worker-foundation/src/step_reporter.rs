//! Reporting outcomes in batches. Each batch is ONE transaction: write the outcomes whose claim token still
//! holds, move those steps to `enqueued_for_orchestration`, delete their step messages and send one result
//! message each. Outcomes from a lost claim are dropped (the step belongs to another worker now).

use crate::handler::StepError;
use crate::in_flight::{InFlight, InFlightStep};
use crate::Result;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tasker_shared::jsonb;
use tasker_shared::messaging::{delete_batch, send_batch, Notifier, ResultMessage, RESULTS_QUEUE};
use tokio::sync::mpsc;
use uuid::Uuid;

/// A finished handler run waiting to be reported.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The lease it ran under.
    pub lease: InFlightStep,
    /// Its task.
    pub task_uuid: Uuid,
    /// The handler's result or error.
    pub outcome: Result<Value, StepError>,
}

/// What a report did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// Outcomes written.
    pub accepted: usize,
    /// Outcomes dropped because the claim no longer held.
    pub rejected: usize,
}

/// Report `batch` in one transaction. `durable`: wait for the WAL flush at commit.
pub async fn report_batch(pool: &PgPool, batch: &[Completion], durable: bool) -> Result<ReportSummary> {
    if batch.is_empty() {
        return Ok(ReportSummary::default());
    }
    let mut uuids = Vec::with_capacity(batch.len());
    let mut tokens = Vec::with_capacity(batch.len());
    let mut results = Vec::with_capacity(batch.len());
    let mut errors = Vec::with_capacity(batch.len());
    for c in batch {
        uuids.push(c.lease.step_uuid);
        tokens.push(c.lease.claim_token);
        match &c.outcome {
            // jsonb cannot store NUL characters: such a result fails its step alone, not the whole batch.
            Ok(v) if jsonb::contains_nul(v) => {
                results.push(None);
                let e =
                    StepError::permanent("the result contains NUL characters (\\u0000), which PostgreSQL cannot store")
                        .with_class("InvalidResult");
                errors.push(Some(e.to_json()));
            }
            Ok(v) => {
                results.push(Some(v.clone()));
                errors.push(None);
            }
            Err(e) => {
                results.push(None);
                errors.push(Some(jsonb::replace_nul(e.to_json())));
            }
        }
    }
    let mut tx = tasker_shared::db::begin_step_transaction(pool, durable).await?;
    let accepted: Vec<(Uuid, Uuid)> = sqlx::query_as(include_str!("sql/report_steps.sql"))
        .bind(&uuids)
        .bind(&tokens)
        .bind(&results)
        .bind(&errors)
        .fetch_all(&mut *tx)
        .await?;
    let accepted_tasks: HashMap<Uuid, Uuid> = accepted.into_iter().collect();
    let mut by_queue: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut messages = Vec::with_capacity(accepted_tasks.len());
    for c in batch {
        if let Some(task_uuid) = accepted_tasks.get(&c.lease.step_uuid) {
            by_queue.entry(c.lease.queue.as_str()).or_default().push(c.lease.msg_id);
            messages.push(ResultMessage { task_uuid: *task_uuid, step_uuid: c.lease.step_uuid });
        } else {
            tracing::warn!(step_uuid = %c.lease.step_uuid, "claim lost before the outcome was reported; dropping it");
        }
    }
    for (queue, ids) in &by_queue {
        delete_batch(&mut tx, queue, ids).await?;
    }
    send_batch(&mut tx, RESULTS_QUEUE, &messages).await?;
    tx.commit().await?;
    let summary = ReportSummary { accepted: messages.len(), rejected: batch.len() - messages.len() };
    metrics::counter!("tasker_steps_reported_total").increment(summary.accepted as u64);
    metrics::counter!("tasker_late_results_rejected_total").increment(summary.rejected as u64);
    Ok(summary)
}

/// Drain completions and report them, batching whatever is waiting (up to `batch_size`) without waiting to
/// fill a batch. Returns when every sender is gone and the queue is drained. A failing report is retried with
/// backoff for up to `give_up_after`; after that its steps are left to lease expiry (another worker re-runs
/// them), never lost.
pub async fn run_reporter(
    pool: PgPool,
    mut rx: mpsc::Receiver<Completion>,
    in_flight: InFlight,
    batch_size: usize,
    give_up_after: Duration,
    durable: bool,
    notifier: Notifier,
) {
    let mut batch = Vec::with_capacity(batch_size);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < batch_size {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            match report_batch(&pool, &batch, durable).await {
                Ok(summary) => {
                    if summary.accepted > 0 {
                        notifier.queue(RESULTS_QUEUE);
                    }
                    break;
                }
                Err(e) if started.elapsed() < give_up_after => {
                    tracing::warn!(error = %e, steps = batch.len(), "report failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(error = %e, steps = batch.len(), "report failed; leaving steps to lease expiry");
                    break;
                }
            }
        }
        for c in batch.drain(..) {
            in_flight.remove(&c.lease.step_uuid);
        }
    }
}
