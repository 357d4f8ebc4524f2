//! The orchestrator is SIGKILLed while it processes results (real `tasker-server` and `tasker-worker`
//! processes): whatever batch it had open rolls back and its messages become visible again; a new server
//! applies every result exactly once and all tasks complete.
//!
//! Needs the binaries: `cargo build --workspace --all-targets` first.

mod common;

use common::pow;
use common::process::{
    assert_exactly_once, create_task, database_url, describe, scalar, start_server, start_worker, wait_all_terminal,
    wait_for,
};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrations = false)]
async fn orchestrator_sigkilled_mid_work_a_new_one_applies_every_result_once(pool: PgPool) {
    let url = database_url(&pool).await;
    let mut a = start_server("server-a", &url, &[]).await;
    let kinds = [
        ("linear_workflow", "mathematical_sequence", json!({})),
        ("diamond_workflow", "diamond_pattern", json!({})),
        ("tree_workflow", "hierarchical_tree", json!({})),
        ("test_scenarios", "sleepy_diamond", json!({"sleep_ms": 100})),
    ];
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let (ns, name, extra) = &kinds[i % kinds.len()];
        let n = 2 + 2 * (i as u64 % 5);
        let mut context = extra.clone();
        context["even_number"] = json!(n);
        tasks.push((create_task(a.port, ns, name, context).await, *name, n));
    }
    // Only now the worker: the whole load is queued, so the kill lands with most of it still open.
    // Every outcome goes through the orchestrator (a worker would otherwise settle its successes itself).
    let _worker = start_worker("worker", &url, &[("TASKER__WORKER__SETTLE_COMPLETIONS", "false")]).await;
    // Kill it once it is visibly applying results, with most of the work still open.
    wait_for(
        &pool,
        "SELECT count(*) FROM tasker.step_transitions WHERE from_state = 'enqueued_for_orchestration'",
        60,
        |applied| applied >= 20,
    )
    .await;
    a.kill();
    let open = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state NOT IN ('complete', 'error')").await;
    assert!(open > 0, "every task finished before the kill; the test proves nothing\n{}", describe(&pool).await);
    // Meanwhile the worker keeps reporting: results pile up with nobody to apply them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = scalar(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await;
    eprintln!("killed server-a with {open} tasks open; {waiting} results waiting");

    let _b = start_server("server-b", &url, &[]).await;
    wait_all_terminal(&pool, 120).await;
    let complete = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await;
    assert_eq!(complete, 100, "{}", describe(&pool).await);
    for (task, name, n) in &tasks {
        let last = match *name {
            "mathematical_sequence" => ("linear_step_4", 16),
            "hierarchical_tree" => ("tree_final_convergence", 64),
            _ => ("diamond_end", 16),
        };
        let got: Option<String> = sqlx::query_scalar(
            "SELECT results->>'value' FROM tasker.workflow_steps WHERE task_uuid = $1 AND name = $2",
        )
        .bind(task)
        .bind(last.0)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(got, Some(pow(*n, last.1)), "{name} {task}");
    }
    // No worker died, so no step ran twice either.
    let reruns = scalar(&pool, "SELECT count(*) FROM tasker.workflow_steps WHERE attempts <> 1").await;
    assert_eq!(reruns, 0);
    assert_exactly_once(&pool).await;
}
