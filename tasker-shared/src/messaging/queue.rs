//! Thin wrappers over pgmq's SQL functions. They take a connection so callers run them inside their own
//! transaction, next to the state change the message announces.

use super::notify_channel;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

/// A message read from a queue.
#[derive(Debug, Clone)]
pub struct QueuedMessage<T> {
    /// pgmq message id (stable across re-deliveries).
    pub msg_id: i64,
    /// How many times it has been read, this read included.
    pub read_ct: i32,
    /// The decoded body; `None` when the body does not decode (such messages are deleted by callers).
    pub body: Option<T>,
}

/// Create `queue` if it does not exist (pgmq serialises concurrent creators with an advisory lock).
pub async fn ensure_queue(pool: &PgPool, queue: &str) -> Result<()> {
    sqlx::query("SELECT pgmq.create($1)")
        .bind(queue)
        .execute(pool)
        .await?;
    Ok(())
}

/// Send `messages` to `queue` now and notify its listeners at commit.
pub async fn send_batch<T: Serialize>(
    conn: &mut PgConnection,
    queue: &str,
    messages: &[T],
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let bodies = messages
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("SELECT pgmq.send_batch($1, $2::jsonb[]) ")
        .bind(queue)
        .bind(&bodies)
        .execute(&mut *conn)
        .await?;
    notify(conn, queue).await
}

/// Send one message that becomes visible at `visible_at` (used for retry backoff).
pub async fn send_delayed<T: Serialize>(
    conn: &mut PgConnection,
    queue: &str,
    message: &T,
    visible_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("SELECT pgmq.send($1, $2, $3::timestamptz)")
        .bind(queue)
        .bind(serde_json::to_value(message)?)
        .bind(visible_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn notify(conn: &mut PgConnection, queue: &str) -> Result<()> {
    // PostgreSQL folds identical notifications of one transaction into one.
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(notify_channel(queue))
        .execute(conn)
        .await?;
    Ok(())
}

/// Read up to `qty` visible messages, hiding them for `vt_seconds` (the lease).
pub async fn read_batch<T: DeserializeOwned>(
    conn: &mut PgConnection,
    queue: &str,
    vt_seconds: i32,
    qty: i32,
) -> Result<Vec<QueuedMessage<T>>> {
    let rows: Vec<(i64, i32, serde_json::Value)> =
        sqlx::query_as("SELECT msg_id, read_ct, message FROM pgmq.read($1, $2, $3)")
            .bind(queue)
            .bind(vt_seconds)
            .bind(qty)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(msg_id, read_ct, message)| QueuedMessage {
            msg_id,
            read_ct,
            body: serde_json::from_value(message).ok(),
        })
        .collect())
}

/// How long until the next hidden message of `queue` becomes visible (a delayed retry or an expiring
/// lease), if any. Lets a loop sleep exactly until then, since no notification announces it.
pub async fn next_visible_in(pool: &PgPool, queue: &str) -> Result<Option<std::time::Duration>> {
    // Queue names are validated identifiers (see `template::validate`), so formatting the table name is safe.
    let ms: Option<f64> = sqlx::query_scalar(&format!(
        "SELECT (EXTRACT(EPOCH FROM (min(vt) - clock_timestamp())) * 1000)::float8 FROM pgmq.q_{queue} WHERE vt > clock_timestamp()"
    ))
    .fetch_one(pool)
    .await?;
    Ok(ms.map(|ms| std::time::Duration::from_millis(ms.max(0.0) as u64 + 1)))
}

/// Delete messages (acknowledge them).
pub async fn delete_batch(conn: &mut PgConnection, queue: &str, msg_ids: &[i64]) -> Result<()> {
    if !msg_ids.is_empty() {
        sqlx::query("SELECT pgmq.delete($1, $2::bigint[])")
            .bind(queue)
            .bind(msg_ids)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Keep messages hidden for another `seconds` from now (a lease heartbeat).
pub async fn extend_visibility(
    conn: &mut PgConnection,
    queue: &str,
    msg_ids: &[i64],
    seconds: i32,
) -> Result<()> {
    if !msg_ids.is_empty() {
        sqlx::query(
            "SELECT pgmq.set_vt($1, $2::bigint[], clock_timestamp() + make_interval(secs => $3))",
        )
        .bind(queue)
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
        sqlx::query("SELECT pgmq.set_vt($1, $2::bigint[], clock_timestamp())")
            .bind(queue)
            .bind(msg_ids)
            .execute(&mut *conn)
            .await?;
        notify(conn, queue).await?;
    }
    Ok(())
}
