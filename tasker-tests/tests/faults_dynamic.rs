//! Dynamic steps under faults (real `tasker-server` and `tasker-worker` processes): the steps a decision or a
//! batchable step creates are created exactly once whatever duplicate result messages, racing orchestrators or
//! killed orchestrators happen, and a batch worker killed mid-batch resumes from its checkpoint.
//!
//! Needs the binaries: `cargo build --workspace --all-targets` first.

mod common;

use common::process::{
    assert_exactly_once, create_task, database_url, describe, scalar, start_server, start_worker,
    stop_between_transactions, wait_all_terminal, wait_for,
};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Row i of csv_inventory is worth (i % 7 + 1) × (100 + 37 i mod 900) cents.
fn inventory_value(rows: i64) -> String {
    let cents: i64 = (0..rows).map(|i| (i % 7 + 1) * (100 + (37 * i) % 900)).sum();
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Every csv task has exactly `workers` batch instances, each complete once, and the exact aggregate; every
/// approval task has exactly its chosen branches.
async fn assert_fan_outs(pool: &PgPool, csv: &[Uuid], rows: i64, workers: i64, approvals: &[(Uuid, i64)]) {
    for task in csv {
        let instances: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM tasker.workflow_steps WHERE task_uuid = $1 AND name LIKE 'process\\_batch\\_%'",
        )
        .bind(task)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(instances, workers, "task {task}");
        let aggregate: Value =
            sqlx::query_scalar("SELECT results FROM tasker.workflow_steps WHERE task_uuid = $1 AND name = 'aggregate'")
                .bind(task)
                .fetch_one(pool)
                .await
                .unwrap();
        let expected = json!({"total_processed": rows, "workers": workers, "inventory_value": inventory_value(rows)});
        assert_eq!(aggregate, expected, "task {task}");
    }
    for (task, amount) in approvals {
        let mut names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM tasker.workflow_steps WHERE task_uuid = $1 AND name LIKE '%\\_approv%' OR task_uuid = $1 AND name = 'finance_review'",
        )
        .bind(task)
        .fetch_all(pool)
        .await
        .unwrap();
        names.sort();
        let expected: &[&str] = match amount {
            a if *a < 1_000 => &["auto_approve", "finalize_approval"],
            a if *a < 5_000 => &["finalize_approval", "manager_approval"],
            _ => &["finalize_approval", "finance_review", "manager_approval"],
        };
        assert_eq!(names, expected, "amount {amount}");
    }
}

/// `n` csv_inventory tasks of `rows` rows in batches of `batch_size`, and `n` approval_routing tasks cycling through
/// the three routes; the csv tasks, and the approvals with their amounts.
async fn create_fan_outs(port: u16, n: i64, rows: i64, batch_size: i64) -> (Vec<Uuid>, Vec<(Uuid, i64)>) {
    let mut csv = Vec::new();
    let mut approvals = Vec::new();
    for i in 0..n {
        let context = json!({"rows": rows, "batch_size": batch_size});
        csv.push(create_task(port, "batch_processing", "csv_inventory", context).await);
        let amount = [500, 2_500, 7_500][i as usize % 3];
        let context = json!({"amount": amount, "requester": "ann"});
        approvals.push((create_task(port, "conditional_approval", "approval_routing", context).await, amount));
    }
    (csv, approvals)
}

#[sqlx::test(migrations = false)]
async fn duplicated_outcomes_and_racing_orchestrators_create_each_dynamic_step_once(pool: PgPool) {
    let url = database_url(&pool).await;
    let a = start_server("server-a", &url, &[]).await;
    let (csv, approvals) = create_fan_outs(a.port, 20, 30, 3).await;
    // No orchestrator applies anything while the worker reports every batchable step (and the approvals' roots).
    stop_between_transactions(&a, &pool).await;
    let _worker = start_worker("worker", &url, &[]).await;
    wait_for(
        &pool,
        "SELECT count(*) FROM tasker.workflow_steps WHERE kind = 'batchable' AND state = 'enqueued_for_orchestration'",
        60,
        |n| n == 20,
    )
    .await;
    // Every result message four times over.
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO pgmq.q_orchestration_step_results (vt, message)
             SELECT clock_timestamp(), message FROM pgmq.q_orchestration_step_results",
        )
        .execute(&pool)
        .await
        .unwrap();
    }
    let copies = scalar(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await;
    assert!(copies >= 80, "{copies} result messages: each batchable outcome four times over");
    // Two orchestrators race for them (and for every later result).
    let _b = start_server("server-b", &url, &[]).await;
    a.signal("CONT");
    wait_all_terminal(&pool, 120).await;
    let complete = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await;
    assert_eq!(complete, 40, "{}", describe(&pool).await);
    assert_fan_outs(&pool, &csv, 30, 10, &approvals).await;
    assert_exactly_once(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn an_orchestrator_killed_mid_fan_out_leaves_nothing_half_created(pool: PgPool) {
    let url = database_url(&pool).await;
    let mut a = start_server("server-a", &url, &[]).await;
    let (csv, approvals) = create_fan_outs(a.port, 30, 40, 2).await;
    let _worker = start_worker("worker", &url, &[]).await;
    // Kill it once fan-outs are visibly being applied, with most of the work still open.
    wait_for(&pool, "SELECT count(*) FROM tasker.workflow_steps WHERE name LIKE 'process\\_batch\\_%'", 60, |n| {
        n >= 40
    })
    .await;
    a.kill();
    let open = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state NOT IN ('complete', 'error')").await;
    assert!(open > 0, "every task finished before the kill; the test proves nothing\n{}", describe(&pool).await);
    // A fan-out is all or nothing: no task has some of its 20 instances.
    let partial = scalar(
        &pool,
        "SELECT count(*) FROM (SELECT task_uuid FROM tasker.workflow_steps WHERE name LIKE 'process\\_batch\\_%'
         GROUP BY 1 HAVING count(*) <> 20) p",
    )
    .await;
    assert_eq!(partial, 0, "a fan-out was half created");

    let _b = start_server("server-b", &url, &[]).await;
    wait_all_terminal(&pool, 120).await;
    let complete = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'").await;
    assert_eq!(complete, 60, "{}", describe(&pool).await);
    assert_fan_outs(&pool, &csv, 40, 20, &approvals).await;
    assert_exactly_once(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_batch_worker_sigkilled_mid_batch_resumes_from_its_checkpoint(pool: PgPool) {
    let url = database_url(&pool).await;
    let lease = [("TASKER__WORKER__LEASE_SECONDS", "2")];
    let server = start_server("server", &url, &[]).await;
    let mut first = start_worker("worker-a", &url, &lease).await;
    let task =
        create_task(server.port, "test_scenarios", "slow_checkpoint", json!({"items": 40, "every": 5, "item_ms": 100}))
            .await;
    let saved = wait_for(
        &pool,
        "SELECT COALESCE(max((checkpoint->>'next')::bigint), 0) FROM tasker.workflow_steps WHERE name = 'process_items_001'",
        60,
        |next| next >= 10,
    )
    .await;
    first.kill();
    let _second = start_worker("worker-b", &url, &lease).await;
    wait_all_terminal(&pool, 60).await;
    let (state, attempts, result): (String, i32, Value) = sqlx::query_as(
        "SELECT state, attempts, results FROM tasker.workflow_steps
         WHERE task_uuid = $1 AND name = 'process_items_001'",
    )
    .bind(task)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(state, "complete", "{}", describe(&pool).await);
    assert_eq!(attempts, 2);
    let resumed_from = result["resumed_from"].as_i64().unwrap();
    assert!(resumed_from >= saved && resumed_from < 40, "resumed from {resumed_from}, checkpoint was {saved}");
    assert_eq!(result["processed"], 40);
}
