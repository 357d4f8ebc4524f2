//! Queue operations on pgmq queues. They take a connection so callers run them inside their own
//! transaction, next to the state change the message announces.
//!
//! Queues are created by pgmq itself (`pgmq.create`), and messages live in pgmq's tables
//! (`pgmq.q_<queue>`: `msg_id`, `read_ct`, `enqueued_at`, `last_read_at`, `vt`, `message`, `headers`) with
//! pgmq's semantics: a read hides a message until `vt`; a delete acknowledges it. The hot operations are
//! issued as plain statements on those tables rather than through pgmq's SQL functions: the functions build
//! their SQL with `EXECUTE format()` and are planned again on every call (measured here at 0.3–0.6 ms per
//! call, about half of a step's database time), while plain statements are prepared once per connection.
//! Reading happens inside the claim and result-batch statements themselves (the worker's `claim_steps.sql`,
//! the orchestrator's `take_result_batch.sql`), which name a queue's table with [`queue_table`].

use crate::error::Result;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

/// The table holding `queue`'s messages, for statements that write a queue alongside other tables. Queue names
/// are validated identifiers (namespaces are checked by template validation, and pgmq rejects anything longer
/// than 47 characters at creation).
pub fn queue_table(queue: &str) -> String {
    debug_assert!(queue.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    format!("pgmq.q_{queue}")
}

/// Index `queues` in name order (0, 1, …), for statements that write several queues through one CTE each: a
/// given set of queues always yields the same statement text, hence the same prepared statement.
pub fn index_queues<'a>(queues: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, i32> {
    let mut indexed: BTreeMap<&str, i32> = queues.into_iter().map(|q| (q, 0)).collect();
    for (ix, slot) in indexed.values_mut().enumerate() {
        *slot = ix as i32;
    }
    indexed
}

/// One message-sending CTE per namespace in `namespaces` (`, sent_<i> AS (INSERT …)`), for a statement that routes
/// the rows of its CTE `rows` (`task_uuid`, `step_uuid`, `queue`, `visible_at`) to their step queues: the i-th CTE
/// sends the rows whose `queue` is the i-th element of the statement's text array parameter `$<param>`.
pub fn send_ctes(namespaces: &[String], rows: &str, param: u32) -> String {
    namespaces
        .iter()
        .enumerate()
        .map(|(i, namespace)| {
            format!(
                ", sent_{i} AS (INSERT INTO {} (vt, message) SELECT visible_at, \
                 jsonb_build_object('task_uuid', task_uuid, 'step_uuid', step_uuid) FROM {rows} \
                 WHERE queue = (${param}::text[])[{}])",
                queue_table(&super::worker_queue(namespace)),
                i + 1
            )
        })
        .collect()
}

/// One message-deleting CTE per queue of `queues` (name → index, [`index_queues`]: `, acked_<ix> AS (DELETE …)`),
/// for a statement that acknowledges the messages of the rows of its CTE `rows` (`msg_id`, `queue_ix`).
pub fn delete_ctes<'a>(queues: impl IntoIterator<Item = (&'a str, i32)>, rows: &str) -> String {
    queues
        .into_iter()
        .map(|(queue, ix)| {
            format!(
                ", acked_{ix} AS (DELETE FROM {} m USING {rows} r WHERE r.queue_ix = {ix} AND m.msg_id = r.msg_id)",
                queue_table(queue)
            )
        })
        .collect()
}

/// Create `queue` if it does not exist (pgmq serialises concurrent creators with an advisory lock).
/// An existing queue is left alone: `pgmq.create` would re-run `CREATE INDEX IF NOT EXISTS`, whose lock waits
/// for every open transaction on the queue and stalls all its traffic meanwhile.
pub async fn ensure_queue(pool: &PgPool, queue: &str) -> Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pgmq.meta WHERE queue_name = $1)")
        .bind(queue)
        .fetch_one(pool)
        .await?;
    if !exists {
        sqlx::query("SELECT pgmq.create($1)").bind(queue).execute(pool).await?;
    }
    Ok(())
}

/// Send `messages` to `queue`, visible now. Announce them in the same transaction with [`super::announce`].
pub async fn send_batch<T: Serialize>(conn: &mut PgConnection, queue: &str, messages: &[T]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let bodies = messages.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?;
    sqlx::query(&format!(
        "INSERT INTO {} (vt, message) SELECT clock_timestamp(), unnest($1::jsonb[])",
        queue_table(queue)
    ))
    .bind(&bodies)
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete messages (acknowledge them).
pub async fn delete_batch(conn: &mut PgConnection, queue: &str, msg_ids: &[i64]) -> Result<()> {
    if !msg_ids.is_empty() {
        sqlx::query(&format!("DELETE FROM {} WHERE msg_id = ANY($1)", queue_table(queue)))
            .bind(msg_ids)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Keep messages hidden for another `seconds` from now (a lease heartbeat).
pub async fn extend_visibility(conn: &mut PgConnection, queue: &str, msg_ids: &[i64], seconds: i32) -> Result<()> {
    if !msg_ids.is_empty() {
        sqlx::query(&format!(
            "UPDATE {} SET vt = clock_timestamp() + make_interval(secs => $2) WHERE msg_id = ANY($1)",
            queue_table(queue)
        ))
        .bind(msg_ids)
        .bind(seconds as f64)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Make messages visible again at once (release a lease early, e.g. on shutdown).
pub async fn release_now(conn: &mut PgConnection, queue: &str, msg_ids: &[i64]) -> Result<()> {
    if !msg_ids.is_empty() {
        sqlx::query(&format!("UPDATE {} SET vt = clock_timestamp() WHERE msg_id = ANY($1)", queue_table(queue)))
            .bind(msg_ids)
            .execute(conn)
            .await?;
    }
    Ok(())
}
