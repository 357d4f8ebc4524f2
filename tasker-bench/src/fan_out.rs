//! The fan-out scenario: one task whose batchable step asks for `batches` no-op batch workers, joined by a
//! convergence step (`bench/fan_out_noop`). Measured from the database's own clocks: how fast the instances come
//! into being and run, against the static throughput of the same run.

use crate::cluster::Cluster;
use serde::Serialize;
use std::time::Instant;

/// One fan-out, the median of its rounds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FanOut {
    pub batches: usize,
    pub rounds: usize,
    /// Submission to finalization of the whole task, ms.
    pub task_ms: f64,
    /// From the batchable step's outcome being applied (which creates every instance in its transaction) to the
    /// first instance being claimed, ms: an upper bound of the creation (it includes the claim's wake-up).
    pub creation_ms: f64,
    /// `batches` / `creation_ms`.
    pub instances_created_per_sec: f64,
    /// From the batchable step's completion to the convergence step's completion, ms.
    pub fan_out_to_convergence_ms: f64,
    /// `batches` / `fan_out_to_convergence_ms`: batch instances run per second.
    pub instances_run_per_sec: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Run `rounds` fan-outs of `batches` one after the other.
pub async fn measure(cluster: &Cluster, batches: usize, rounds: usize) -> anyhow::Result<FanOut> {
    let (mut task_ms, mut creation_ms, mut converge_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let id = cluster.client.submit_with("fan_out_noop", serde_json::json!({"batches": batches})).await?;
        let done = cluster.client.finalized.wait_for(id).await;
        task_ms.push(done.duration_since(started).as_secs_f64() * 1000.0);
        let (created, converged): (f64, f64) = sqlx::query_as(
            "SELECT EXTRACT(EPOCH FROM (SELECT min(t.created_at) FROM tasker.step_transitions t
                                        JOIN tasker.workflow_steps s ON s.step_uuid = t.step_uuid
                                        WHERE s.task_uuid = $1 AND s.kind = 'batch_worker' AND t.to_state = 'in_progress')
                                   - split.completed_at)::float8 * 1000,
                    EXTRACT(EPOCH FROM (SELECT completed_at FROM tasker.workflow_steps WHERE task_uuid = $1 AND name = 'join')
                                   - split.completed_at)::float8 * 1000
             FROM tasker.workflow_steps split WHERE split.task_uuid = $1 AND split.name = 'split'",
        )
        .bind(id)
        .fetch_one(&cluster.pool)
        .await?;
        creation_ms.push(created);
        converge_ms.push(converged);
    }
    let (creation, converge) = (median(creation_ms), median(converge_ms));
    let per_sec = |ms: f64| if ms > 0.0 { batches as f64 / (ms / 1000.0) } else { 0.0 };
    Ok(FanOut {
        batches,
        rounds,
        task_ms: median(task_ms),
        creation_ms: creation,
        instances_created_per_sec: per_sec(creation),
        fan_out_to_convergence_ms: converge,
        instances_run_per_sec: per_sec(converge),
    })
}
