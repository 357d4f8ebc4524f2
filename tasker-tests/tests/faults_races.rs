//! Races at scale, in-process: 3 orchestrators and 3 workers on one database, mixed linear, diamond and tree
//! tasks. Every task completes; every step is enqueued once, claimed once, reported once, applied once and
//! completes once; every queue drains; PostgreSQL saw no deadlock.
//! About 20-40 s on a 2-core machine (5,332 steps).

mod common;

use common::process::{assert_exactly_once, scalar};
use common::{pow, value, TestCluster};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

async fn three_by_three(pool: PgPool, tasks: usize) {
    let started = std::time::Instant::now();
    let c = TestCluster::start(pool, 3, 3).await;
    let kinds = [
        ("linear_workflow", "mathematical_sequence", "linear_step_4", 16, 4),
        ("diamond_workflow", "diamond_pattern", "diamond_end", 16, 4),
        ("tree_workflow", "hierarchical_tree", "tree_final_convergence", 64, 8),
    ];
    let mut created = Vec::with_capacity(tasks);
    let mut steps = 0i64;
    for i in 0..tasks {
        let (ns, name, last, power, n_steps) = kinds[i % kinds.len()];
        let n = 2 + 2 * (i as u64 % 5);
        created.push((c.create(ns, name, json!({"even_number": n})).await, last, n, power));
        steps += n_steps;
    }
    c.wait_all_terminal(600).await;
    let elapsed = started.elapsed();

    let complete = scalar(&c.pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await;
    assert_eq!(complete, tasks as i64);
    assert_eq!(scalar(&c.pool, "SELECT count(*) FROM tasker.workflow_steps").await, steps);
    // Nothing ran twice: no worker died, so every step took exactly one attempt.
    assert_eq!(scalar(&c.pool, "SELECT count(*) FROM tasker.workflow_steps WHERE attempts <> 1").await, 0);
    assert_eq!(
        scalar(&c.pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'enqueued'").await,
        steps,
        "a step was enqueued twice"
    );
    assert_exactly_once(&c.pool).await;
    for (id, last, n, power) in created.iter().step_by(37) {
        let task = c.wait_terminal(id, 1).await;
        assert_eq!(value(&task, last), pow(*n, *power));
    }
    let db = c.pool.clone();
    c.stop().await;
    // Deadlocks are counted per database; let the closed connections' statistics reach it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let deadlocks = scalar(&db, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").await;
    assert_eq!(deadlocks, 0, "PostgreSQL detected deadlocks");
    eprintln!("{tasks} tasks, {steps} steps, 3x3: all terminal after {elapsed:?}");
}

#[sqlx::test(migrations = false)]
async fn three_orchestrators_three_workers_1000_mixed_tasks(pool: PgPool) {
    three_by_three(pool, 1_000).await;
}
