//! Placing committed transactions in the stream. Any number of servers may run it: an advisory lock lets one
//! place at a time, and whoever waited places what the other's snapshot missed.

use crate::error::Result;
use sqlx::PgPool;

/// The advisory lock key of the sequencer (`'tasker_events'` hashed by hand, fixed forever).
pub const SEQUENCER_LOCK: i64 = 0x7461_736b_6576_7473;

/// At most this many transactions per statement (a backlog is placed in several).
const TRANSACTIONS_PER_STATEMENT: i64 = 5_000;

/// The NOTIFY channel announcing newly placed events (payload: the last event id), which every server's
/// event hub listens on.
pub const EVENTS_CHANNEL: &str = "tasker_events";

/// Place every committed transaction not placed yet; returns how many were placed. When it placed anything it
/// notifies [`EVENTS_CHANNEL`] after the commit, in a statement of its own: a notifying commit holds PostgreSQL's
/// notification lock, which every notifying commit of the step path waits for, and this commit flushes WAL.
pub async fn place_events(pool: &PgPool) -> Result<u64> {
    let mut total = 0u64;
    let mut last = None;
    loop {
        let mut tx = pool.begin().await?;
        // Taken before the placing statement, so that statement's snapshot sees every earlier placement.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(SEQUENCER_LOCK).execute(&mut *tx).await?;
        let (horizon, in_progress): (String, String) =
            sqlx::query_as("SELECT horizon::text, in_progress::text FROM tasker.event_cursor")
                .fetch_one(&mut *tx)
                .await?;
        let (placed, last_id): (i64, Option<i64>) = sqlx::query_as(include_str!("../sql/sequence_events.sql"))
            .bind(TRANSACTIONS_PER_STATEMENT)
            .bind(horizon)
            .bind(in_progress)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        total += placed as u64;
        last = last_id.or(last);
        if placed < TRANSACTIONS_PER_STATEMENT {
            break;
        }
    }
    if let Some(last_id) = last {
        sqlx::query("SELECT pg_notify($1, $2)").bind(EVENTS_CHANNEL).bind(last_id.to_string()).execute(pool).await?;
    }
    Ok(total)
}
