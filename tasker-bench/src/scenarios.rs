//! The measured scenarios: throughput, latency (sequential and under load), idle cost and shutdown.

use crate::cluster::Cluster;
use crate::cpu::CpuTimes;
use crate::statements::{self, StatementProfile};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Throughput of a burst of tasks.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Throughput {
    pub tasks: usize,
    pub clients: usize,
    pub steps: usize,
    pub seconds: f64,
    pub tasks_per_sec: f64,
    pub steps_per_sec: f64,
    pub submit_per_sec: f64,
    pub commits_per_step: f64,
    /// WAL written during the run per step (the whole server's; the bench runs alone).
    pub wal_bytes_per_step: f64,
    /// The burst's WAL, `start..end` LSNs, for `pg_waldump --stats` (the server's WAL, from before the burst
    /// to after its statistics settled; the bench runs alone).
    pub wal_range: String,
    /// CPU time per step, microseconds, from the first submission to the last finalization: the whole
    /// machine's, and this process's (server + worker + API clients); the rest is PostgreSQL's.
    pub machine_cpu_us_per_step: f64,
    pub bench_cpu_us_per_step: f64,
    /// Per-statement costs, when the server has `pg_stat_statements` loaded.
    pub statements: Option<StatementProfile>,
}

/// A latency distribution in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn distribution(mut ms: Vec<f64>) -> Latency {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    Latency { samples: ms.len(), p50_ms: at(0.5), p95_ms: at(0.95), p99_ms: at(0.99), max_ms: at(1.0) }
}

/// How long until every backend has reported its statistics (PostgreSQL's idle flush interval is 10 s).
const STATS_SETTLE: Duration = Duration::from_millis(10_500);

/// Submit `tasks` tasks (half linear, half diamond) from `clients` concurrent clients as fast as the API takes them,
/// and time until every one is finalized.
pub async fn throughput(cluster: &Cluster, tasks: usize, clients: usize) -> anyhow::Result<Throughput> {
    let before = cluster.client.finalized.count();
    // A backend reports its counters at most once a second while busy and within 10 s once idle
    // (PostgreSQL 15), so the commit count is read only after everything before has been reported.
    tokio::time::sleep(STATS_SETTLE).await;
    let commits_before = cluster.commits().await?;
    let wal_before = cluster.wal_bytes().await?;
    let lsn_before = cluster.wal_lsn().await?;
    let profiled = statements::available(&cluster.pool).await;
    if profiled {
        statements::reset(&cluster.pool).await?;
    }
    let cpu_before = CpuTimes::now();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut submitters = Vec::new();
    for _ in 0..clients {
        let (next, c) = (next.clone(), cluster.client.clone());
        submitters.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= tasks {
                    break;
                }
                c.submit(if i % 2 == 0 { "linear_noop" } else { "diamond_noop" }).await?;
            }
            anyhow::Ok(())
        }));
    }
    for c in submitters {
        c.await??;
    }
    let submitted = started.elapsed().as_secs_f64();
    let last = cluster.client.finalized.wait_count(before + tasks).await;
    let seconds = last.duration_since(started).as_secs_f64();
    let cpu = CpuTimes::now().since(&cpu_before);
    tokio::time::sleep(STATS_SETTLE).await;
    let wal = cluster.wal_bytes().await? - wal_before;
    let wal_range = format!("{lsn_before}..{}", cluster.wal_lsn().await?);
    eprintln!("   burst WAL {wal_range} (pg_waldump --stats=record -s START -e END; keep WAL with wal_keep_size)");
    let commits = cluster.commits().await? - commits_before;
    let steps = tasks * 4;
    let statements = if profiled { Some(statements::profile(&cluster.pool, steps).await?) } else { None };
    Ok(Throughput {
        tasks,
        clients,
        steps,
        seconds,
        tasks_per_sec: tasks as f64 / seconds,
        steps_per_sec: steps as f64 / seconds,
        submit_per_sec: tasks as f64 / submitted,
        commits_per_step: commits as f64 / steps as f64,
        wal_bytes_per_step: wal / steps as f64,
        wal_range,
        machine_cpu_us_per_step: cpu.machine.as_secs_f64() * 1e6 / steps as f64,
        bench_cpu_us_per_step: cpu.process.as_secs_f64() * 1e6 / steps as f64,
        statements,
    })
}

/// One task at a time: submit → finalized.
pub async fn sequential_latency(cluster: &Cluster, name: &str, samples: usize) -> anyhow::Result<Latency> {
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let id = cluster.client.submit(name).await?;
        let done = cluster.client.finalized.wait_for(id).await;
        ms.push(done.duration_since(started).as_secs_f64() * 1000.0);
    }
    Ok(distribution(ms))
}

/// What a steady offered load costs the machine.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LoadCost {
    /// Busy share of all cores (100 = every core busy), PostgreSQL and the bench process together.
    pub machine_busy_percent: f64,
    /// The machine's CPU time per step, microseconds (compare with the throughput run's, whose batches are large).
    pub machine_cpu_us_per_step: f64,
}

/// Offer linear tasks at `rate` per second for `duration`; latency of each, and what the load cost.
pub async fn latency_under_load(
    cluster: &Cluster,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<(Latency, LoadCost)> {
    let cpu_before = CpuTimes::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut waits = Vec::new();
    while started.elapsed() < duration {
        ticker.tick().await;
        let c = cluster.client.clone();
        waits.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let id = c.submit("linear_noop").await?;
            let done = c.finalized.wait_for(id).await;
            anyhow::Ok(done.duration_since(t0).as_secs_f64() * 1000.0)
        }));
    }
    let mut ms = Vec::with_capacity(waits.len());
    for w in waits {
        ms.push(w.await??);
    }
    let cpu = CpuTimes::now().since(&cpu_before).machine.as_secs_f64();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let cost = LoadCost {
        machine_busy_percent: 100.0 * cpu / (started.elapsed().as_secs_f64() * cores),
        machine_cpu_us_per_step: cpu * 1e6 / (ms.len() * 4) as f64,
    };
    Ok((distribution(ms), cost))
}

/// CPU used by this process (server + worker, idle) as a percentage of one core.
pub async fn idle_cpu_percent(duration: Duration) -> f64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = CpuTimes::now();
    let t0 = Instant::now();
    tokio::time::sleep(duration).await;
    CpuTimes::now().since(&cpu0).process.as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
}

/// Start 20 steps that each run 200 ms, then shut everything down while they are in flight (SIGTERM's path:
/// stop claiming, let them finish within the grace period); time until every component exited.
pub async fn shutdown_ms(cluster: Cluster) -> anyhow::Result<f64> {
    for _ in 0..20 {
        cluster.client.submit_with("sleepy_noop", serde_json::json!({"sleep_ms": 200})).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let running: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker.workflow_steps WHERE state = 'in_progress'")
            .fetch_one(&cluster.pool)
            .await?;
        if running >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    cluster.shutdown.cancel();
    for h in cluster.handles {
        let _ = h.await;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// VACUUM (ANALYZE) Tasker's and pgmq's tables, so that the next measurement does not share the machine with
/// autovacuum cleaning up after the burst.
pub async fn vacuum(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables WHERE schemaname IN ('tasker', 'pgmq')",
    )
    .fetch_all(pool)
    .await?;
    for table in tables {
        sqlx::query(&format!("VACUUM (ANALYZE) {table}")).execute(pool).await?;
    }
    Ok(())
}
