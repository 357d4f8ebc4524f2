//! Database set-up: connection pools with Tasker's session settings, and `prepare`, which installs pgmq and
//! applies the `tasker` migrations (both idempotent, both safe to run from several processes at once).

use crate::config::DatabaseConfig;
use crate::error::{Result, TaskerError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Advisory lock key serialising concurrent `prepare` calls (ASCII "tasker").
pub const PREPARE_LOCK: i64 = 0x7461_736b_6572;

/// Open a pool configured from `cfg` (size, acquire timeout, statement timeout).
///
/// Sequential scans are priced out for the session (`enable_seqscan = off`). Every statement on the step
/// paths is designed to be index-driven, but a session caches a generic plan after a few executions, and one
/// planned while the tables were still tiny (a fresh database, the first tasks) picks sequential scans and
/// keeps them while the tables grow: measured here, a readiness statement went from under a millisecond to
/// 30-55 s per batch during a 4,000-task burst. With sequential scans priced out (still possible where no
/// index applies), the cached plans stay index plans at any size. A session setting, not a per-transaction
/// `SET LOCAL`, so that it costs no round trip.
///
/// Prepared statements always use their generic plan (`plan_cache_mode = force_generic_plan`). Left to choose,
/// PostgreSQL planned the settle statement afresh on most executions (586 of 928 in a quick bench run, 1.7 ms
/// each, as long as a small batch takes to execute) because its array parameters make every custom plan look
/// cheaper than the generic one; the generic plans of these index-driven statements execute as fast.
///
/// JIT compilation is off (`jit = off`): a sequential scan that remains (a small queue table, a count over every
/// task) is priced at 10^10 with `enable_seqscan = off`, far above `jit_above_cost`, and PostgreSQL then spent
/// 1.6-2.5 s compiling a 40-queue backlog count that executes in 1 ms (`GET /v1/overview`, `/metrics`).
pub async fn connect(cfg: &DatabaseConfig) -> Result<PgPool> {
    let mut options = PgConnectOptions::from_str(&cfg.url)?.options([
        ("enable_seqscan", "off"),
        ("plan_cache_mode", "force_generic_plan"),
        ("jit", "off"),
    ]);
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

/// A small pool with `pool`'s connection settings, for a component that must not compete with `pool` for its
/// connections (it holds one while using `pool`). Connects lazily.
pub fn side_pool(pool: &PgPool, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// A small pool with `pool`'s connection settings whose sessions commit without waiting for the WAL flush
/// (`synchronous_commit = off`), for statements whose loss in a PostgreSQL crash is harmless because it is
/// redone: a worker's claims, reports and settling of its own successes (`step_completer`). Their effects become
/// durable through the next durable commit (a result batch, a task's end), which flushes the WAL up to itself,
/// everything before it included (WAL is flushed and replayed in order). A claim lost with a crash leaves the step
/// claimable again with its message visible, and the lost claim's report is rejected (its token matches nothing);
/// a report or a settling lost with a crash leaves the step `in_progress` under its lease, and loses whatever
/// followed from it, so the step runs again: at least once, as always, and no result is applied twice. Connects
/// lazily.
pub fn relaxed_commit_pool(pool: &PgPool, max_connections: u32) -> PgPool {
    let options = (*pool.connect_options()).clone().options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options)
}

/// Install pgmq (plain SQL, embedded in the `pgmq` crate) and run the migrations. Idempotent. Warns when the
/// pool lacks the session settings of [`connect`].
///
/// The wait for the lock and the migrations run on one connection without the pool's `statement_timeout`: a pod
/// queued behind another's long migration (an index build) waits for it, and the migration itself is not cut off.
pub async fn prepare(pool: &PgPool) -> Result<()> {
    let mut lock = pool.acquire().await?;
    sqlx::query("SET statement_timeout = 0").execute(&mut *lock).await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(PREPARE_LOCK).execute(&mut *lock).await?;
    let outcome = async {
        pgmq::install::install_sql_from_embedded(pool).await.map_err(|e| TaskerError::Pgmq(e.to_string()))?;
        // During a rolling upgrade a newer server or worker may have migrated this database already. Tasker's
        // migrations only add (tables, columns with defaults, indexes), so an older build keeps working on the
        // newer schema: its own migrations are checked and applied, unknown newer ones are left alone instead of
        // stopping the start-up ("previously applied but is missing").
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator.run_direct(&mut *lock).await?;
        Ok::<_, TaskerError>(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(PREPARE_LOCK).execute(&mut *lock).await?;
    sqlx::query("RESET statement_timeout").execute(&mut *lock).await?;
    let seqscan: String = sqlx::query_scalar("SELECT current_setting('enable_seqscan')").fetch_one(&mut *lock).await?;
    if seqscan == "on" {
        tracing::warn!(
            "this pool's sessions have enable_seqscan = on: build pools with tasker_shared::db::connect, or set \
             enable_seqscan = off on them, or step statements may keep plans made while the tables were tiny"
        );
    }
    outcome
}

/// [`prepare`] when `run_migrations`; otherwise wait (up to a minute) until pgmq is installed and every migration of
/// this build is applied, and fail naming the missing ones: a migration job (`tasker-server migrate`) is expected
/// to run them.
pub async fn prepare_or_check(pool: &PgPool, run_migrations: bool) -> Result<()> {
    if run_migrations {
        return prepare(pool).await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let missing = missing_migrations(pool).await?;
        if missing.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TaskerError::Config {
                key: "database.run_migrations".into(),
                message: format!(
                    "false, and migrations {} are not applied: run `tasker-server migrate` first",
                    missing.join(", ")
                ),
            });
        }
        tracing::warn!(missing = %missing.join(", "), "waiting for the migrations to be applied");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// The migrations of this build not applied to the database (all of them when pgmq or the schema is missing).
async fn missing_migrations(pool: &PgPool) -> Result<Vec<String>> {
    let ready: bool = sqlx::query_scalar(
        "SELECT to_regclass('pgmq.meta') IS NOT NULL AND to_regclass('public._sqlx_migrations') IS NOT NULL",
    )
    .fetch_one(pool)
    .await?;
    let applied: Vec<i64> = if ready {
        sqlx::query_scalar("SELECT version FROM public._sqlx_migrations WHERE success").fetch_all(pool).await?
    } else {
        Vec::new()
    };
    Ok(crate::MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).map(|m| m.version.to_string()).collect())
}

/// Begin a step-progress transaction (a result batch, a lease release). With `durable == false` it commits
/// without waiting for the WAL flush (see `DatabaseConfig::synchronous_step_commits`); the durable default
/// costs no extra round trip.
pub async fn begin_step_transaction(
    pool: &PgPool,
    durable: bool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    if !durable {
        relax_commit(&mut tx).await?;
    }
    Ok(tx)
}

async fn relax_commit(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>) -> Result<()> {
    sqlx::query("SELECT set_config('synchronous_commit', 'off', true)").execute(&mut **tx).await?;
    Ok(())
}

/// `SELECT 1` within `timeout`: the readiness probe of both binaries.
pub async fn ping(pool: &PgPool, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}
