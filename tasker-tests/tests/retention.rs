//! Retention: old finished tasks are deleted with their steps and audit rows, in batches, by one server at a
//! time; running tasks and tasks younger than the limits stay. Tested with seconds; shipped with days.

mod common;

use common::{test_config, TestCluster};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use tasker_orchestration::retention::sweep;
use tasker_orchestration::OrchestrationServer;
use tasker_shared::config::{HumanDuration, RetentionConfig};

fn retention(keep: &str, keep_failed: Option<&str>, batch_size: u32) -> RetentionConfig {
    RetentionConfig {
        keep_terminal_tasks: HumanDuration::parse(keep).unwrap(),
        keep_failed_tasks: keep_failed.map(|k| HumanDuration::parse(k).unwrap()),
        batch_size,
        ..Default::default()
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn old_finished_tasks_go_with_their_steps_and_audit_rows_and_the_rest_stays(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 1).await;
    let mut finished = Vec::new();
    for _ in 0..3 {
        finished.push(c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await);
    }
    let failed = c.create("error_workflow", "permanent_error", json!({})).await;
    for id in finished.iter().chain([&failed]) {
        c.wait_terminal(id, 30).await;
    }
    let running = c.create("test_scenarios", "sleepy_single", json!({"even_number": 2, "sleep_ms": 4000})).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    tasker_orchestration::events::sequencer::place_events(&pool).await.unwrap();
    let placements_before = count(&pool, "SELECT count(*) FROM tasker.event_placements").await;
    let first = sweep(&pool, &retention("1s", Some("1h"), 2)).await.unwrap();
    assert_eq!((first.deleted, first.batches, first.skipped), (3, 2, false), "3 tasks in batches of 2");
    let left: Vec<String> = sqlx::query_scalar("SELECT task_uuid::text FROM tasker.tasks ORDER BY task_uuid")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, [failed.clone(), running.clone()], "the failed task is kept longer, the running one stays");
    let orphans = count(
        &pool,
        "SELECT (SELECT count(*) FROM tasker.workflow_steps WHERE task_uuid NOT IN (SELECT task_uuid FROM tasker.tasks))
              + (SELECT count(*) FROM tasker.step_transitions WHERE task_uuid NOT IN (SELECT task_uuid FROM tasker.tasks))
              + (SELECT count(*) FROM tasker.task_transitions WHERE task_uuid NOT IN (SELECT task_uuid FROM tasker.tasks))",
    )
    .await;
    assert_eq!(orphans, 0, "steps and audit rows went with their tasks");
    // The event stream's placements of transactions with no audit row left went too; every remaining row keeps its.
    let placements_after = count(&pool, "SELECT count(*) FROM tasker.event_placements").await;
    assert!(first.placements > 0 && placements_after == placements_before - first.placements as i64, "{first:?}");
    let (unneeded, unmarked) = (
        count(
            &pool,
            "SELECT count(*) FROM tasker.event_placements e WHERE e.placed_at < now() - interval '1 second'
               AND NOT EXISTS (SELECT 1 FROM tasker.step_transitions st WHERE st.tx = e.tx)
               AND NOT EXISTS (SELECT 1 FROM tasker.task_transitions tt WHERE tt.tx = e.tx)",
        )
        .await,
        count(
            &pool,
            "SELECT count(*) FROM (SELECT tx FROM tasker.step_transitions UNION ALL SELECT tx FROM tasker.task_transitions) r
             WHERE NOT EXISTS (SELECT 1 FROM tasker.event_placements e WHERE e.tx = r.tx)",
        )
        .await,
    );
    assert_eq!((unneeded, unmarked), (0, 0));

    let second = sweep(&pool, &retention("1s", Some("1s"), 100)).await.unwrap();
    assert_eq!(second.deleted, 1, "now the failed task is old enough too");
    c.wait_terminal(&running, 30).await;
    let young = sweep(&pool, &retention("1h", None, 100)).await.unwrap();
    assert_eq!(young.deleted, 0, "a task that just finished is young");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn two_servers_sweeping_at_once_delete_each_task_once(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 1).await;
    for i in 0..120u64 {
        c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2 + 2 * (i % 3)})).await;
    }
    c.wait_all_terminal(60).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let config = retention("1s", None, 10);
    let (a, b) = tokio::join!(sweep(&pool, &config), sweep(&pool, &config));
    let (a, b) = (a.unwrap(), b.unwrap());
    // Whoever lost the lock skipped; a sweep that found the lock taken mid-way stopped early. Run again until done.
    let mut deleted = a.deleted + b.deleted;
    while count(&pool, "SELECT count(*) FROM tasker.tasks").await > 0 {
        deleted += sweep(&pool, &config).await.unwrap().deleted;
    }
    assert_eq!(deleted, 120, "each task deleted exactly once: {a:?} {b:?}");
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.workflow_steps").await, 0);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_template_path_that_does_not_exist_stops_the_server_naming_it(pool: PgPool) {
    let mut config = test_config();
    config.templates.path = "/nonexistent/templates".into();
    let err = OrchestrationServer::new(pool, config).await.err().expect("start-up fails").to_string();
    assert!(err.contains("/nonexistent/templates") && err.contains("templates.path"), "{err}");
}

#[sqlx::test(migrations = false)]
async fn old_fire_records_and_processed_events_go_and_waiting_events_and_running_tasks_records_stay(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 0).await;
    sqlx::raw_sql(
        "INSERT INTO tasker.schedules (schedule_id, namespace, name, cron, next_fire_at)
         VALUES ('0190a6e0-0000-7000-8000-0000000000aa', 'linear_workflow', 'mathematical_sequence', '0 3 * * *', NULL);
         INSERT INTO tasker.schedule_fires (schedule_id, fire_time, skipped, reason, recorded_at)
         VALUES ('0190a6e0-0000-7000-8000-0000000000aa', now() - interval '2 hours', true, 'old', now() - interval '2 hours'),
                ('0190a6e0-0000-7000-8000-0000000000aa', now(), true, 'new', now());
         INSERT INTO tasker.emitted_events (name, key, emitted_at, processed_at)
         VALUES ('e', 'old-processed', now() - interval '2 hours', now() - interval '2 hours'),
                ('e', 'old-waiting', now() - interval '2 hours', NULL),
                ('e', 'new-processed', now(), now());",
    )
    .execute(&pool)
    .await
    .unwrap();
    // An old fire whose task still runs: `overlap: skip` finds the running task through its record.
    // (No worker runs in this cluster: the task stays `steps_in_process`.)
    let running = c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    sqlx::query(
        "INSERT INTO tasker.schedule_fires (schedule_id, fire_time, task_uuid, recorded_at)
         VALUES ('0190a6e0-0000-7000-8000-0000000000aa', now() - interval '3 hours', $1::uuid, now() - interval '3 hours')",
    )
    .bind(&running)
    .execute(&pool)
    .await
    .unwrap();
    let swept = sweep(&pool, &retention("1h", None, 100)).await.unwrap();
    assert_eq!((swept.fires, swept.events), (1, 1));
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.schedule_fires WHERE reason = 'new'").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.schedule_fires WHERE task_uuid IS NOT NULL").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.schedule_fires").await, 2);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT key FROM tasker.emitted_events ORDER BY key").fetch_all(&pool).await.unwrap();
    assert_eq!(left, vec!["new-processed".to_string(), "old-waiting".to_string()]);
    c.stop().await;
}
