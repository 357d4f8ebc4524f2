//! Per-statement costs of a measured window, from `pg_stat_statements`, when the server has it loaded
//! (`shared_preload_libraries`). Without it the bench reports nothing here rather than guessing.

use serde::Serialize;
use sqlx::PgPool;

/// One statement's share of a window.
#[derive(Debug, Clone, Serialize)]
pub struct StatementCost {
    /// Calls in the window.
    pub calls: i64,
    /// Executor time in the window, milliseconds.
    pub total_ms: f64,
    /// Rows returned or affected.
    pub rows: i64,
    /// The normalized statement text, shortened.
    pub query: String,
}

/// What the window cost PostgreSQL, per step.
#[derive(Debug, Default, Clone, Serialize)]
pub struct StatementProfile {
    /// Statements executed per step (every call, including BEGIN/COMMIT/SET).
    pub statements_per_step: f64,
    /// Executor milliseconds per step, summed over statements.
    pub exec_ms_per_step: f64,
    /// The costliest statements, by total time.
    pub top: Vec<StatementCost>,
}

/// Whether `pg_stat_statements` can be used on this database (creating the extension if the library is loaded).
pub async fn available(pool: &PgPool) -> bool {
    let loaded: bool =
        sqlx::query_scalar("SELECT current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'")
            .fetch_one(pool)
            .await
            .unwrap_or(false);
    loaded && sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(pool).await.is_ok()
}

/// Forget everything counted so far (all databases: the reset function takes no database filter we can rely on).
pub async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_stat_statements_reset()").execute(pool).await?;
    Ok(())
}

/// The profile of this database's statements since the last [`reset`], spread over `steps`.
pub async fn profile(pool: &PgPool, steps: usize) -> anyhow::Result<StatementProfile> {
    let rows: Vec<(i64, f64, i64, String)> = sqlx::query_as(
        "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY total_exec_time DESC",
    )
    .fetch_all(pool)
    .await?;
    let steps = steps.max(1) as f64;
    let calls: i64 = rows.iter().map(|r| r.0).sum();
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let top = rows
        .into_iter()
        .take(10)
        .map(|(calls, total_ms, rows, query)| StatementCost {
            calls,
            total_ms,
            rows,
            query: query.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(110).collect(),
        })
        .collect();
    Ok(StatementProfile { statements_per_step: calls as f64 / steps, exec_ms_per_step: total / steps, top })
}
