//! Database set-up: connection pools with Tasker's session settings, and `prepare`, which installs pgmq and
//! applies the `tasker` migrations (both idempotent, both safe to run from several processes at once).

use crate::config::DatabaseConfig;
use crate::error::{Result, TaskerError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Advisory lock key serialising concurrent `prepare` calls (ASCII "tasker").
const PREPARE_LOCK: i64 = 0x7461_736b_6572;

/// Open a pool configured from `cfg` (size, acquire timeout, statement timeout).
pub async fn connect(cfg: &DatabaseConfig) -> Result<PgPool> {
    let mut options = PgConnectOptions::from_str(&cfg.url)?;
    if cfg.statement_timeout_ms > 0 {
        options = options.options([("statement_timeout", cfg.statement_timeout_ms.to_string())]);
    }
    if cfg.idle_in_transaction_timeout_ms > 0 {
        options =
            options.options([("idle_in_transaction_session_timeout", cfg.idle_in_transaction_timeout_ms.to_string())]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Install pgmq (plain SQL, embedded in the `pgmq` crate) and run the migrations. Idempotent.
pub async fn prepare(pool: &PgPool) -> Result<()> {
    let mut lock = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(PREPARE_LOCK).execute(&mut *lock).await?;
    let outcome = async {
        pgmq::install::install_sql_from_embedded(pool).await.map_err(|e| TaskerError::Pgmq(e.to_string()))?;
        crate::MIGRATOR.run(pool).await?;
        Ok::<_, TaskerError>(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(PREPARE_LOCK).execute(&mut *lock).await?;
    outcome
}

/// Begin a step-progress transaction (claim, report, result batch). With `durable == false` it commits
/// without waiting for the WAL flush (see `DatabaseConfig::synchronous_step_commits`).
///
/// Sequential scans are also switched off for the transaction. Every statement on these paths is designed to
/// be index-driven, but a session caches a generic plan after a few executions, and one planned while the
/// tables were still tiny (a fresh database, the first tasks) picks sequential scans and keeps them while the
/// tables grow: measured here, a readiness statement went from under a millisecond to 30-55 s per batch during
/// a 4,000-task burst. With sequential scans priced out, the cached plans stay index plans at any size.
pub async fn begin_step_transaction(
    pool: &PgPool,
    durable: bool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('enable_seqscan', 'off', true), set_config('synchronous_commit', $1, true)")
        .bind(if durable { "on" } else { "off" })
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// `SELECT 1` within `timeout`: the readiness probe of both binaries.
pub async fn ping(pool: &PgPool, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}
