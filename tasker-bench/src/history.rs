//! `--history STEPS`: does throughput hold as the tables fill? The same burst on a fresh database, then again after
//! STEPS completed steps of history were written (`sql/prefill_history.sql`) and vacuumed, in one run.

use crate::cluster::{Cluster, ScratchDatabase};
use crate::scenarios::{self, Throughput};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub history_steps: usize,
    pub prefill_seconds: f64,
    pub fresh: Throughput,
    pub with_history: Throughput,
    /// The same burst once more: the spread between the two shows the machine's drift.
    pub with_history_again: Throughput,
}

/// Tasks per prefill statement (4 steps each): ~0.4 s each here, under sqlx's slow-statement warning.
const CHUNK: usize = 5_000;

pub async fn run(admin_url: &str, history_steps: usize, tasks: usize, clients: usize) -> anyhow::Result<HistoryReport> {
    let db = ScratchDatabase::create(admin_url).await?;
    let outcome = measure(&db, history_steps, tasks, clients).await;
    db.drop_now().await;
    outcome
}

async fn measure(
    db: &ScratchDatabase,
    history_steps: usize,
    tasks: usize,
    clients: usize,
) -> anyhow::Result<HistoryReport> {
    let cluster = Cluster::start(db, 1, 1, true).await?;
    eprintln!("== throughput on a fresh database ({tasks} tasks)");
    let fresh = scenarios::throughput(&cluster, tasks, clients).await?;
    eprintln!("== writing {history_steps} completed steps of history");
    let started = Instant::now();
    let mut left = history_steps / 4;
    while left > 0 {
        let n = left.min(CHUNK);
        sqlx::query(include_str!("sql/prefill_history.sql")).bind(n as i32).execute(&cluster.pool).await?;
        left -= n;
    }
    scenarios::vacuum(&cluster.pool).await?;
    let prefill_seconds = started.elapsed().as_secs_f64();
    eprintln!("== throughput with the history ({tasks} tasks, twice)");
    let with_history = scenarios::throughput(&cluster, tasks, clients).await?;
    let with_history_again = scenarios::throughput(&cluster, tasks, clients).await?;
    cluster.shutdown.cancel();
    for h in cluster.handles {
        let _ = h.await;
    }
    Ok(HistoryReport { history_steps, prefill_seconds, fresh, with_history, with_history_again })
}

impl HistoryReport {
    pub fn print(&self) {
        println!(
            "throughput as the tables fill ({} steps of history written in {:.0} s)",
            self.history_steps, self.prefill_seconds
        );
        println!("{:<28} {:>10} {:>16} {:>14}", "burst", "steps/s", "CPU us/step", "WAL B/step");
        for (label, t) in [
            ("fresh database", &self.fresh),
            ("with the history", &self.with_history),
            ("with the history, again", &self.with_history_again),
        ] {
            println!(
                "{label:<28} {:>10.0} {:>16.0} {:>14.0}",
                t.steps_per_sec, t.machine_cpu_us_per_step, t.wal_bytes_per_step
            );
        }
        let after = (self.with_history.steps_per_sec + self.with_history_again.steps_per_sec) / 2.0;
        println!("{:<28} {:>10.2}", "ratio (mean with / fresh)", after / self.fresh.steps_per_sec.max(1.0));
    }
}
