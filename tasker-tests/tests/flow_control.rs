//! Flow control (issue 15 §5-§6) with real `tasker-server` and `tasker-worker` processes: a concurrency key with
//! `max_running: 2` is never exceeded with two servers and two workers (checked on the audit trail), other keys are
//! not held up, a cancelled task frees its slot; a rate limit of 20 per second holds within 10% over 10 s with two
//! workers, and a step waiting for a token counts no attempt.
//!
//! Needs the binaries: `cargo build --workspace --all-targets` first.

mod common;

use common::process::{get_text, http, scalar, start_server, start_worker, wait_for};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

async fn create(port: u16, name: &str, context: Value) -> Value {
    let body = json!({"namespace": "test_scenarios", "name": name, "context": context});
    let (status, task) = http(port, "POST", "/v1/tasks", Some(&body)).await;
    assert_eq!(status, 201, "{task}");
    task
}

/// Create tasks of `name` with `contexts` concurrently, alternating between `ports`.
async fn create_many(ports: &[u16], name: &'static str, contexts: Vec<Value>) -> Vec<Value> {
    let handles: Vec<_> = contexts
        .into_iter()
        .enumerate()
        .map(|(i, context)| tokio::spawn(create(ports[i % ports.len()], name, context)))
        .collect();
    let mut tasks = Vec::new();
    for handle in handles {
        tasks.push(handle.await.expect("create"));
    }
    tasks
}

fn uuid_of(task: &Value) -> Uuid {
    task["task_uuid"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no task_uuid in {task}"))
}

/// The most tasks of `customer` that held a slot at once, replaying the audit trail in the order it was written
/// (a slot is held from the transition into `steps_in_process` to the one out of it).
async fn most_running_at_once(pool: &PgPool, customer: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(max(running), 0)::bigint FROM (
             SELECT sum(CASE WHEN tr.to_state = 'steps_in_process' THEN 1 ELSE -1 END) OVER (ORDER BY tr.id)
                 AS running
             FROM tasker.task_transitions tr
             JOIN tasker.tasks t ON t.task_uuid = tr.task_uuid
             WHERE t.context->>'customer' = $1
               AND (tr.to_state = 'steps_in_process' OR tr.from_state = 'steps_in_process')) r",
    )
    .bind(customer)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_concurrency_key_is_never_exceeded_with_two_servers_and_two_workers(pool: PgPool) {
    let url = common::process::database_url(&pool).await;
    let a = start_server("server-a", &url, &[]).await;
    let b = start_server("server-b", &url, &[]).await;
    let _w1 = start_worker("worker-1", &url, &[]).await;
    let _w2 = start_worker("worker-2", &url, &[]).await;

    // Ten tasks of one customer through both servers at once: two start, eight wait.
    let contexts = vec![json!({"even_number": 2, "sleep_ms": 400, "customer": "busy"}); 10];
    let busy: Vec<Uuid> =
        create_many(&[a.port, b.port], "limited_per_customer", contexts).await.iter().map(uuid_of).collect();
    // Another customer is not held up by the first one's queue.
    let other = create(a.port, "limited_per_customer", json!({"even_number": 4, "customer": "other"})).await;
    assert_eq!(other["state"], "steps_in_process", "{other}");

    wait_for(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'", 60, |n| n == 11).await;
    assert_eq!(most_running_at_once(&pool, "busy").await, 2, "the limit was used, and never exceeded");
    let starts =
        scalar(&pool, "SELECT count(*) FROM tasker.task_transitions WHERE to_state = 'steps_in_process'").await;
    assert_eq!(starts, 11, "each task started once");
    let (status, page) = http(a.port, "GET", &format!("/v1/tasks/{}", busy[9]), None).await;
    assert_eq!((status, page["state"].as_str()), (200, Some("complete")), "{page}");
}

#[sqlx::test(migrations = false)]
async fn queued_tasks_outlive_a_killed_server_and_start_once_within_the_limit(pool: PgPool) {
    let url = common::process::database_url(&pool).await;
    let mut a = start_server("server-a", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let contexts = vec![json!({"even_number": 2, "sleep_ms": 300, "customer": "k"}); 8];
    create_many(&[a.port], "limited_per_customer", contexts).await;
    a.kill();
    let queued = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'queued'").await;
    assert!(queued > 0, "the server died with tasks waiting");
    let _b = start_server("server-b", &url, &[]).await;
    wait_for(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'", 60, |n| n == 8).await;
    assert!(most_running_at_once(&pool, "k").await <= 2);
    let starts =
        scalar(&pool, "SELECT count(*) FROM tasker.task_transitions WHERE to_state = 'steps_in_process'").await;
    assert_eq!(starts, 8, "each task started once");
}

#[sqlx::test(migrations = false)]
async fn a_cancelled_task_frees_its_slot_and_a_queued_one_never_runs(pool: PgPool) {
    let url = common::process::database_url(&pool).await;
    let server = start_server("server", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let context = json!({"even_number": 2, "sleep_ms": 20000, "customer": "c"});
    let first = uuid_of(&create(server.port, "limited_per_customer", context.clone()).await);
    let second = uuid_of(&create(server.port, "limited_per_customer", context.clone()).await);
    let third = create(server.port, "limited_per_customer", context.clone()).await;
    assert_eq!(third["state"], "queued", "{third}");
    assert!(third["steps"].as_array().unwrap().iter().all(|s| s["state"] == "pending"), "{third}");
    let third = uuid_of(&third);
    let fourth = uuid_of(&create(server.port, "limited_per_customer", context).await);

    let (status, view) = http(server.port, "POST", &format!("/v1/tasks/{third}/cancel"), Some(&json!({}))).await;
    assert_eq!((status, view["state"].as_str()), (200, Some("cancelled")), "{view}");
    let (status, _) = http(server.port, "POST", &format!("/v1/tasks/{first}/cancel"), Some(&json!({}))).await;
    assert_eq!(status, 200);
    // The freed slot goes to the next waiter in line (the fourth: the third was cancelled).
    wait_for(
        &pool,
        &format!("SELECT count(*) FROM tasker.tasks WHERE task_uuid = '{fourth}' AND state = 'steps_in_process'"),
        10,
        |n| n == 1,
    )
    .await;
    let running = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'steps_in_process'").await;
    assert_eq!(running, 2, "{second} and {fourth} hold the two slots");
    let metrics = get_text(server.port, "/metrics").await;
    assert!(
        metrics.lines().any(|l| l == "tasker_queued_tasks{namespace=\"test_scenarios\"} 0"),
        "no queued tasks left, and /metrics says so:\n{metrics}"
    );
    let ran = scalar(
        &pool,
        &format!(
            "SELECT count(*) FROM tasker.step_transitions WHERE task_uuid = '{third}' AND to_state = 'in_progress'"
        ),
    )
    .await;
    assert_eq!(ran, 0, "a task cancelled while queued never runs");
}

#[sqlx::test(migrations = false)]
async fn a_rate_limit_holds_within_ten_percent_over_ten_seconds_with_two_workers(pool: PgPool) {
    let url = common::process::database_url(&pool).await;
    let server = start_server("server", &url, &[]).await;
    let _w1 = start_worker("worker-1", &url, &[]).await;
    let _w2 = start_worker("worker-2", &url, &[]).await;
    // 20 per second: 300 steps take 15 s, so the first 10 s are spent with a backlog.
    for chunk in 0..10 {
        let contexts = (0..30).map(|i| json!({"even_number": 2 * (chunk * 30 + i + 1)})).collect();
        create_many(&[server.port], "rate_limited", contexts).await;
    }
    wait_for(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'complete'", 60, |n| n == 300).await;
    let in_window: i64 = sqlx::query_scalar(
        "WITH claims AS (SELECT created_at FROM tasker.step_transitions WHERE to_state = 'in_progress')
         SELECT count(*) FROM claims
         WHERE created_at >= (SELECT min(created_at) FROM claims)
           AND created_at < (SELECT min(created_at) FROM claims) + interval '10 seconds'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    eprintln!("{in_window} claims in the first 10 s at 20 per second (burst 5)");
    assert!((180..=220).contains(&in_window), "{in_window} claims in the first 10 s at 20 per second");
    let retried = scalar(&pool, "SELECT count(*) FROM tasker.workflow_steps WHERE attempts <> 1").await;
    assert_eq!(retried, 0, "waiting for a token counts no attempt");
    let waits = scalar(&pool, "SELECT waits FROM tasker.rate_limits WHERE key = 'test_scenarios_api'").await;
    assert!(waits > 0, "the backlog waited for tokens");
    let metrics = get_text(server.port, "/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("tasker_rate_limit_waits{key=\"test_scenarios_api\"}"))
        .unwrap_or_else(|| panic!("no rate limit waits in /metrics:\n{metrics}"));
    assert_eq!(line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()), Some(waits as f64), "{line}");
}
