//! Floor references measured in the same run: what PostgreSQL and pgmq alone can do on this machine, with
//! the pool size and concurrency the engine uses. Tasker's figures are reported as ratios to these.

use serde::Serialize;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// The floor figures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Floor {
    /// Concurrent clients used for each figure.
    pub concurrency: usize,
    /// send + read + delete of single messages, per second.
    pub pgmq_single_cycles_per_sec: f64,
    /// Messages per second through send_batch(100) + read(100) + delete(100 ids).
    pub pgmq_batched_cycles_per_sec: f64,
    /// One-row insert transactions committed per second.
    pub commit_rate_per_sec: f64,
}

async fn for_duration<F, Fut>(pool: &PgPool, clients: usize, duration: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn(PgPool, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (pool, op) = (pool.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < duration {
                done += op(pool.clone(), client).await?;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

impl Floor {
    /// The mean of two measurements (the floor taken right before and right after the throughput run, so that
    /// the machine's drift during the run affects both sides of the ratio alike).
    pub fn mean(a: &Floor, b: &Floor) -> Floor {
        Floor {
            concurrency: a.concurrency,
            pgmq_single_cycles_per_sec: (a.pgmq_single_cycles_per_sec + b.pgmq_single_cycles_per_sec) / 2.0,
            pgmq_batched_cycles_per_sec: (a.pgmq_batched_cycles_per_sec + b.pgmq_batched_cycles_per_sec) / 2.0,
            commit_rate_per_sec: (a.commit_rate_per_sec + b.commit_rate_per_sec) / 2.0,
        }
    }
}

/// Measure every floor figure with `clients` concurrent clients for `duration` each, on fresh queues named
/// `floor_<tag>_<client>`.
pub async fn measure(pool: &PgPool, tag: &str, clients: usize, duration: Duration) -> anyhow::Result<Floor> {
    let tag = tag.to_string();
    let queue = move |c: usize| format!("floor_{tag}_{c}");
    for c in 0..clients {
        sqlx::query("SELECT pgmq.create($1)").bind(queue(c)).execute(pool).await?;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS floor_commits (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
        .execute(pool)
        .await?;

    let q = queue.clone();
    let single = for_duration(pool, clients, duration, move |pool, c| {
        let q = q(c);
        async move {
            sqlx::query("SELECT pgmq.send($1, '{\"x\":1}'::jsonb)").bind(&q).execute(&pool).await?;
            let id: i64 =
                sqlx::query_scalar("SELECT msg_id FROM pgmq.read($1, 30, 1)").bind(&q).fetch_one(&pool).await?;
            sqlx::query("SELECT pgmq.delete($1, $2)").bind(&q).bind(id).execute(&pool).await?;
            Ok(1)
        }
    })
    .await?;

    let q = queue.clone();
    let batched = for_duration(pool, clients, duration, move |pool, c| {
        let q = q(c);
        async move {
            let msgs: Vec<serde_json::Value> = (0..100).map(|i| serde_json::json!({"x": i})).collect();
            sqlx::query("SELECT pgmq.send_batch($1, $2::jsonb[])").bind(&q).bind(&msgs).execute(&pool).await?;
            let ids: Vec<i64> =
                sqlx::query_scalar("SELECT msg_id FROM pgmq.read($1, 30, 100)").bind(&q).fetch_all(&pool).await?;
            sqlx::query("SELECT pgmq.delete($1, $2::bigint[])").bind(&q).bind(&ids).execute(&pool).await?;
            Ok(ids.len() as u64)
        }
    })
    .await?;

    let commits = for_duration(pool, clients, duration, |pool, _| async move {
        sqlx::query("INSERT INTO floor_commits DEFAULT VALUES").execute(&pool).await?;
        Ok(1)
    })
    .await?;

    Ok(Floor {
        concurrency: clients,
        pgmq_single_cycles_per_sec: single,
        pgmq_batched_cycles_per_sec: batched,
        commit_rate_per_sec: commits,
    })
}
