//! Queue upkeep. Every pgmq message row is inserted, updated when a worker leases it and deleted when it is
//! acknowledged, so a busy queue table is mostly dead row versions, and the scan for the next visible message
//! walks every one of them at the head of the queue until VACUUM removes them. Autovacuum's default trigger
//! (20% of the table changed, checked once a minute) lags far behind a table that turns over its whole content
//! every second, and some servers run with autovacuum off. So, after activity, the server vacuums the queue
//! tables itself, at most every `orchestration.queue_vacuum_interval_ms`. Measured on this project's machine with
//! autovacuum off: the claim statement went from 0.20 to 0.07 ms per step during a burst.
//!
//! Activity is read from the queues' message id sequences (one small query per interval): messages were sent
//! since the last look. Workers that settle their own steps send and delete step messages without the server
//! seeing any result, so counting the result processor's messages (as this did before) let a busy step queue
//! bloat until claims took 30–90 ms. One more round runs after the sends stop, for the deletions that follow them.
//!
//! `VACUUM` takes a lock that does not conflict with sending, reading or deleting messages; `SKIP_LOCKED`
//! makes a server skip a table another server is vacuuming instead of waiting for it.

use sqlx::PgPool;
use std::time::Duration;
use tasker_shared::messaging::RESULTS_QUEUE;
use tokio_util::sync::CancellationToken;

/// Vacuum Tasker's queue tables once: the results queue and the namespaces' step queues. Other pgmq queues in
/// the same database belong to someone else.
pub async fn vacuum_queues(pool: &PgPool) -> sqlx::Result<()> {
    let tables: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT format('pgmq.%I', 'q_' || queue_name) FROM pgmq.meta WHERE {TASKER_QUEUES}"
    ))
    .bind(RESULTS_QUEUE)
    .fetch_all(pool)
    .await?;
    for table in tables {
        sqlx::query(&format!("VACUUM (SKIP_LOCKED) {table}")).execute(pool).await?;
    }
    Ok(())
}

/// Tasker's queue tables: the results queue and the namespaces' step queues. Other pgmq queues in the same
/// database belong to someone else.
const TASKER_QUEUES: &str = "queue_name = $1 OR (queue_name LIKE 'worker\\_%' AND queue_name LIKE '%\\_queue')";

/// The sum of the message id sequences of Tasker's queues: it moves whenever a message is sent. Each sequence is
/// read directly: the `pg_sequences` view reads every sequence of the database before it filters (14.7 ms a
/// call under load in `pg_stat_statements`, 2026-12-04; 1.1 against 0.25 ms on an idle database). A queue
/// dropped meanwhile counts nothing (`to_regclass`) rather than failing the round.
async fn messages_sent(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!(
        "SELECT COALESCE(sum(pg_sequence_last_value(to_regclass(format('pgmq.%I', 'q_' || queue_name || '_msg_id_seq')))), 0)::bigint
         FROM pgmq.meta WHERE {TASKER_QUEUES}"
    ))
    .bind(RESULTS_QUEUE)
    .fetch_one(pool)
    .await
}

/// Every `interval`, if messages were sent since the last round or the one before, vacuum the queue tables;
/// until `shutdown`. `on_activity` is called when messages were sent since the last round (the server kicks its
/// event sequencer with it: steps that workers settled themselves are placed in the event stream soon).
pub async fn run(pool: PgPool, interval: Duration, shutdown: CancellationToken, on_activity: impl Fn()) {
    let mut last: Option<i64> = None;
    let mut moved_before = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let sent = match messages_sent(&pool).await {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(error = %e, "reading queue activity failed; retrying");
                continue;
            }
        };
        let moved = last.is_some_and(|l| l != sent);
        last = Some(sent);
        if moved {
            on_activity();
        }
        let due = moved || moved_before;
        moved_before = moved;
        if !due {
            continue;
        }
        if let Err(e) = vacuum_queues(&pool).await {
            tracing::warn!(error = %e, "queue vacuum failed; retrying after the next activity");
        }
    }
}
