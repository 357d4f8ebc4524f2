//! Reporting outcomes in batches. Each batch is ONE statement: write the outcomes whose claim token still
//! holds, move those steps to `enqueued_for_orchestration`, delete their step messages and send one result
//! message each. Outcomes from a lost claim are dropped (the step belongs to another worker now).

use crate::handler::StepError;
use crate::in_flight::{InFlight, InFlightStep};
use crate::step_completer::{finish_batch, Settling};
use crate::Result;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use tasker_shared::jsonb;
use tasker_shared::messaging::{delete_ctes, index_queues, notify_channel, queue_table, RESULTS_QUEUE};
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

/// Report `batch` in one statement, on a pool (autocommit) or in the caller's transaction. Whether its commit
/// waits for the WAL flush is the connection's setting: the worker reports on a pool that does not
/// (`tasker_shared::db::relaxed_commit_pool`).
pub async fn report_batch<'c, E: sqlx::PgExecutor<'c>>(db: E, batch: &[Completion]) -> Result<ReportSummary> {
    if batch.is_empty() {
        return Ok(ReportSummary::default());
    }
    let queues = index_queues(batch.iter().map(|c| c.lease.queue.as_str()));
    let mut uuids = Vec::with_capacity(batch.len());
    let mut tokens = Vec::with_capacity(batch.len());
    let mut results = Vec::with_capacity(batch.len());
    let mut errors = Vec::with_capacity(batch.len());
    let mut msg_ids = Vec::with_capacity(batch.len());
    let mut queue_ix = Vec::with_capacity(batch.len());
    for c in batch {
        uuids.push(c.lease.step_uuid);
        tokens.push(c.lease.claim_token);
        msg_ids.push(c.lease.msg_id);
        queue_ix.push(queues[c.lease.queue.as_str()]);
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
    let accepted: Vec<(Uuid, Uuid)> = sqlx::query_as(&report_sql(&queues))
        .bind(&uuids)
        .bind(&tokens)
        .bind(&results)
        .bind(&errors)
        .bind(&msg_ids)
        .bind(&queue_ix)
        .fetch_all(db)
        .await?;
    if accepted.len() < batch.len() {
        log_lost_claims(batch.iter().filter(|c| !accepted.iter().any(|(s, _)| *s == c.lease.step_uuid)));
    }
    let summary = ReportSummary { accepted: accepted.len(), rejected: batch.len() - accepted.len() };
    metrics::counter!("tasker_steps_reported_total").increment(summary.accepted as u64);
    metrics::counter!("tasker_late_results_rejected_total").increment(summary.rejected as u64);
    Ok(summary)
}

/// Log each of `lost`, outcomes whose claim no longer held when they were reported or settled (nothing applied).
pub(crate) fn log_lost_claims<'a>(lost: impl Iterator<Item = &'a Completion>) {
    for c in lost {
        tracing::warn!(step_uuid = %c.lease.step_uuid, "claim lost before the outcome was reported; dropping it");
    }
}

/// The report statement for a batch whose messages came from `queues` (name → index): one message-deleting
/// CTE per queue, so the whole report stays one statement.
fn report_sql(queues: &BTreeMap<&str, i32>) -> String {
    let deletes = delete_ctes(queues.iter().map(|(q, ix)| (*q, *ix)), "moved");
    include_str!("sql/report_steps.sql")
        .replace("{results_table}", &queue_table(RESULTS_QUEUE))
        .replace("{results_channel}", &notify_channel(RESULTS_QUEUE))
        .replace("{deletes}", &deletes)
}

/// Whether `e` says the database could not be reached or asked to try again (a connection lost or refused, a
/// pool timeout, a server shutting down or short of resources, a serialization failure or deadlock), rather than
/// that it refused the statement.
pub fn is_transient(e: &crate::WorkerError) -> bool {
    match e {
        crate::WorkerError::Database(sqlx::Error::Database(db)) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || c.starts_with("40")),
        crate::WorkerError::Database(
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_),
        ) => true,
        _ => false,
    }
}

/// Drain completions and finish them (`step_completer::finish_batch`: settle or report), batching whatever is waiting (up to `batch_size`) without waiting to
/// fill a batch. Returns when every sender is gone and the queue is drained. A failing report is retried with
/// backoff for up to `give_up_after`; after that its steps are left to lease expiry (another worker re-runs
/// them), never lost. A database that cannot be reached ([`is_transient`]) is waited for as long as the worker
/// runs: the claim tokens decide afterwards, so a finished outcome whose claim still holds is not thrown away (a
/// success on a last attempt would become a `LeaseExpired` failure).
pub async fn run_reporter(
    pool: PgPool,
    settling: Settling,
    mut rx: mpsc::Receiver<Completion>,
    in_flight: InFlight,
    batch_size: usize,
    give_up_after: Duration,
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
            match finish_batch(&pool, &batch, &settling).await {
                Ok(_) => break,
                Err(e) if started.elapsed() < give_up_after || (is_transient(&e) && !rx.is_closed()) => {
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
            in_flight.remove(&c.lease);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;
    use crate::WorkerError;

    #[test]
    fn an_unreachable_database_is_transient_and_a_refused_statement_is_not() {
        assert!(is_transient(&WorkerError::Database(sqlx::Error::PoolTimedOut)));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&WorkerError::Database(sqlx::Error::Io(io))));
        assert!(!is_transient(&WorkerError::Database(sqlx::Error::RowNotFound)));
        assert!(!is_transient(&WorkerError::Crashed("panic".into())));
    }
}
