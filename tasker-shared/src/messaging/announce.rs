//! Announcing new messages from INSIDE the transaction that sends them: `pg_notify` is transactional, so
//! PostgreSQL delivers the notification at commit, never for work that rolled back, and costs no round trip of
//! its own. The hot statements (task creation, report, settle) call `pg_notify` in their own SQL; the rare
//! transactions (a lease failed on its last attempt, a release at shutdown) call [`announce`].
//!
//! A notifying commit holds a cluster-wide lock through its WAL flush, so notifying transactions commit one at a
//! time. Tasker's notifying transactions are batches (one per report batch, result batch or creation batch), a
//! few hundred per second under a burst, so the lock is free most of the time (measured in
//! `docs/performance.md`, item 14; under a steady load the batches are small, and what that costs is measured
//! there too). A listener that misses a notification (a reconnect) is covered by the fallback poll in hybrid
//! mode.

use super::notify_channel;
use crate::Result;
use sqlx::PgConnection;

/// Notify the channel of each of `queues`, delivered when the caller's transaction commits.
pub async fn announce(conn: &mut PgConnection, queues: &[&str]) -> Result<()> {
    if queues.is_empty() {
        return Ok(());
    }
    let channels: Vec<String> = queues.iter().map(|q| notify_channel(q)).collect();
    sqlx::query("SELECT count(pg_notify(c, '')) FROM unnest($1::text[]) AS c").bind(&channels).execute(conn).await?;
    Ok(())
}
