//! Scheduling (issue 15) with real `tasker-server` and `tasker-worker` processes: delayed tasks start at their
//! `run_at` and never before, across a server restart; cron schedules fire once per fire time with two servers,
//! pause, delete, skip overlapping fires and catch up; events emitted in a committed transaction start their
//! subscribed template's task once, and a rolled-back one starts nothing.
//!
//! Needs the binaries: `cargo build --workspace --all-targets` first.

mod common;

use chrono::{DateTime, Utc};
use common::process::{
    assert_exactly_once, database_url, describe, http, scalar, start_server, start_worker, wait_all_terminal, wait_for,
};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

fn uuid_of(v: &Value, field: &str) -> Uuid {
    v[field].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no {field} in {v}"))
}

#[sqlx::test(migrations = false)]
async fn a_delayed_task_starts_at_run_at_never_before_and_survives_a_server_restart(pool: PgPool) {
    let url = database_url(&pool).await;
    let mut a = start_server("server-a", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let run_at = Utc::now() + chrono::Duration::seconds(8);
    let body = json!({"namespace": "linear_workflow", "name": "mathematical_sequence", "context": {"even_number": 2},
                      "run_at": run_at.to_rfc3339()});
    let (status, task) = http(a.port, "POST", "/v1/tasks", Some(&body)).await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["state"], "scheduled");
    assert!(task["steps"].as_array().unwrap().iter().all(|s| s["state"] == "pending"), "{task}");
    let delayed = uuid_of(&task, "task_uuid");
    let (_, cancelled) = http(a.port, "POST", "/v1/tasks", Some(&body)).await;
    let cancelled = uuid_of(&cancelled, "task_uuid");
    let (status, view) = http(a.port, "POST", &format!("/v1/tasks/{cancelled}/cancel"), Some(&json!({}))).await;
    assert_eq!((status, view["state"].as_str()), (200, Some("cancelled")), "{view}");

    // The server that accepted it dies; another one starts it on time.
    tokio::time::sleep(Duration::from_millis(800)).await;
    a.kill();
    assert!(Utc::now() < run_at, "server-a was killed after run_at: the test would prove nothing");
    let still = scalar(
        &pool,
        &format!("SELECT count(*) FROM tasker.tasks WHERE task_uuid = '{delayed}' AND state = 'scheduled'"),
    )
    .await;
    assert_eq!(still, 1, "nothing started it before its time");
    let b = start_server("server-b", &url, &[]).await;
    wait_for(
        &pool,
        &format!("SELECT count(*) FROM tasker.tasks WHERE task_uuid = '{delayed}' AND state = 'complete'"),
        30,
        |n| n == 1,
    )
    .await;
    let first_claim: DateTime<Utc> = sqlx::query_scalar(
        "SELECT min(t.created_at) FROM tasker.step_transitions t WHERE t.task_uuid = $1 AND t.to_state = 'in_progress'",
    )
    .bind(delayed)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(first_claim >= run_at, "claimed at {first_claim}, before its run_at {run_at}");
    assert!(first_claim < run_at + chrono::Duration::seconds(3), "claimed at {first_claim}, long after {run_at}");
    let starts = scalar(
        &pool,
        &format!(
            "SELECT count(*) FROM tasker.task_transitions WHERE task_uuid = '{delayed}' AND from_state = 'scheduled'"
        ),
    )
    .await;
    assert_eq!(starts, 1);
    let ran = scalar(
        &pool,
        &format!(
            "SELECT count(*) FROM tasker.step_transitions WHERE task_uuid = '{cancelled}' AND to_state = 'in_progress'"
        ),
    )
    .await;
    assert_eq!(ran, 0, "a cancelled scheduled task never runs");

    let now = json!({"namespace": "linear_workflow", "name": "mathematical_sequence", "context": {"even_number": 2},
                     "run_at": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339()});
    let (status, task) = http(b.port, "POST", "/v1/tasks", Some(&now)).await;
    assert_eq!((status, task["state"].as_str()), (201, Some("steps_in_process")), "a past run_at means now");
    for (bad, field) in [(json!("tomorrow"), "run_at"), (json!(7), "run_at")] {
        let mut body = now.clone();
        body["run_at"] = bad;
        let (status, error) = http(b.port, "POST", "/v1/tasks", Some(&body)).await;
        assert_eq!((status, error["error"]["field"].as_str()), (422, Some(field)), "{error}");
    }
    let mut body = now.clone();
    body["priority"] = json!(9);
    let (status, error) = http(b.port, "POST", "/v1/tasks", Some(&body)).await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("priority")), "{error}");
    wait_all_terminal(&pool, 30).await;
    assert_exactly_once(&pool).await;
}

async fn fires(pool: &PgPool, schedule: Uuid) -> Vec<(DateTime<Utc>, Option<Uuid>, bool)> {
    sqlx::query_as(
        "SELECT fire_time, task_uuid, skipped FROM tasker.schedule_fires WHERE schedule_id = $1 ORDER BY fire_time",
    )
    .bind(schedule)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_six_field_cron_fires_once_per_time_with_two_servers_and_pauses_and_deletes(pool: PgPool) {
    let url = database_url(&pool).await;
    let a = start_server("server-a", &url, &[]).await;
    let _b = start_server("server-b", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let body = json!({"namespace": "linear_workflow", "name": "mathematical_sequence", "cron": "*/2 * * * * *",
                      "context": {"even_number": 2}});
    let (status, schedule) = http(a.port, "POST", "/v1/schedules", Some(&body)).await;
    assert_eq!(status, 201, "{schedule}");
    assert!(schedule["next_fire_at"].is_string(), "{schedule}");
    let id = uuid_of(&schedule, "schedule_id");
    wait_for(&pool, &format!("SELECT count(*) FROM tasker.schedule_fires WHERE schedule_id = '{id}'"), 30, |n| n >= 4)
        .await;
    let (status, paused) = http(a.port, "PATCH", &format!("/v1/schedules/{id}"), Some(&json!({"paused": true}))).await;
    assert_eq!((status, paused["paused"].as_bool()), (200, Some(true)), "{paused}");
    let at_pause = fires(&pool, id).await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fired = fires(&pool, id).await;
    assert!(fired.len() <= at_pause + 1, "fires went on after the pause: {} then {}", at_pause, fired.len());
    // Every fire time is an even second, one after the other, each with its own task.
    for pair in fired.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, chrono::Duration::seconds(2), "{fired:?}");
    }
    assert!(fired.iter().all(|(t, task, skipped)| t.timestamp() % 2 == 0 && task.is_some() && !skipped), "{fired:?}");
    let tasks =
        scalar(&pool, &format!("SELECT count(*) FROM tasker.tasks WHERE idempotency_key LIKE 'schedule:{id}:%'")).await;
    assert_eq!(tasks as usize, fired.len(), "one task per fire time");
    let (_, shown) = http(a.port, "GET", &format!("/v1/schedules/{id}"), None).await;
    let listed = shown["fires"].as_array().unwrap();
    assert_eq!(listed.len(), fired.len());
    assert!(listed[0]["fire_time"].as_str() > listed[listed.len() - 1]["fire_time"].as_str(), "newest first");

    for (bad, field) in [
        (json!({"cron": "61 * * * *"}), "cron"),
        (json!({"cron": "* * *"}), "cron"),
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"context": {"even_number": 3}}), "context.even_number"),
        (json!({"priority": 0}), "priority"),
    ] {
        let mut create = body.clone();
        for (k, v) in bad.as_object().unwrap() {
            create[k] = v.clone();
        }
        let (status, error) = http(a.port, "POST", "/v1/schedules", Some(&create)).await;
        assert_eq!((status, error["error"]["field"].as_str()), (422, Some(field)), "{create}: {error}");
    }
    let (status, _) = http(a.port, "DELETE", &format!("/v1/schedules/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = http(a.port, "GET", &format!("/v1/schedules/{id}"), None).await;
    assert_eq!(status, 404);
    wait_all_terminal(&pool, 30).await;
    assert_exactly_once(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn overlapping_fires_are_skipped_and_missed_fires_catch_up_once(pool: PgPool) {
    let url = database_url(&pool).await;
    let grace = [("TASKER__SCHEDULING__CATCH_UP_GRACE", "1500ms")];
    let mut a = start_server("server-a", &url, &grace).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let skip = json!({"namespace": "test_scenarios", "name": "sleepy_single", "cron": "* * * * * *", "overlap": "skip",
                      "context": {"even_number": 2, "sleep_ms": 2500}});
    let (status, schedule) = http(a.port, "POST", "/v1/schedules", Some(&skip)).await;
    assert_eq!(status, 201, "{schedule}");
    let skipping = uuid_of(&schedule, "schedule_id");
    wait_for(
        &pool,
        &format!("SELECT count(*) FROM tasker.schedule_fires WHERE schedule_id = '{skipping}' AND skipped"),
        30,
        |n| n >= 2,
    )
    .await;
    http(a.port, "PATCH", &format!("/v1/schedules/{skipping}"), Some(&json!({"paused": true}))).await;
    let running_twice = scalar(
        &pool,
        "SELECT count(*) FROM tasker.tasks a JOIN tasker.tasks b ON a.task_uuid < b.task_uuid
         WHERE a.initiator = b.initiator AND a.initiator LIKE 'schedule:%'
           AND tstzrange(a.created_at, a.completed_at) && tstzrange(b.created_at, b.completed_at)",
    )
    .await;
    assert_eq!(running_twice, 0, "overlap: skip let two tasks of the schedule run at once");

    // Two schedules every 2 s, one catching up and one not; then no server for 6 s.
    let mut ids = Vec::new();
    for catch_up in ["latest", "none"] {
        let body = json!({"namespace": "linear_workflow", "name": "mathematical_sequence", "cron": "*/2 * * * * *",
                          "catch_up": catch_up, "context": {"even_number": 2}});
        let (_, schedule) = http(a.port, "POST", "/v1/schedules", Some(&body)).await;
        ids.push(uuid_of(&schedule, "schedule_id"));
    }
    wait_for(&pool, &format!("SELECT count(*) FROM tasker.schedule_fires WHERE schedule_id = '{}'", ids[1]), 30, |n| {
        n >= 1
    })
    .await;
    a.kill();
    let down_at = Utc::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let restart_at = Utc::now();
    let b = start_server("server-b", &url, &grace).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    for id in &ids {
        http(b.port, "PATCH", &format!("/v1/schedules/{id}"), Some(&json!({"paused": true}))).await;
    }
    let latest = fires(&pool, ids[0]).await;
    let none = fires(&pool, ids[1]).await;
    let last_before = |f: &[(DateTime<Utc>, Option<Uuid>, bool)]| f.iter().map(|x| x.0).filter(|t| *t < down_at).max();
    let (l0, l1) = (last_before(&latest).expect("fired before the kill"), last_before(&none).expect("fired before"));
    // Fire times in the downtime, well before the new server could have seen them on time: missed.
    let missed = |f: &[(DateTime<Utc>, Option<Uuid>, bool)], after: DateTime<Utc>| {
        f.iter().filter(|(t, _, _)| *t > after && *t < restart_at - chrono::Duration::milliseconds(1500)).count()
    };
    assert_eq!(missed(&none, l1), 0, "catch_up none fires no missed time: {none:?}");
    assert!(missed(&latest, l0) <= 1, "catch_up latest fires at most the most recent missed time: {latest:?}");
    let after =
        |f: &[(DateTime<Utc>, Option<Uuid>, bool)], last: DateTime<Utc>| f.iter().filter(|x| x.0 > last).count();
    assert!(after(&latest, l0) >= 1 && after(&none, l1) >= 1, "both fire again after the restart");
    // Exactly which time each one fires after a downtime: schedule_firing's unit test (plan_fire).
    wait_all_terminal(&pool, 60).await;
    let failed = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE state <> 'complete'").await;
    assert_eq!(failed, 0, "{}", describe(&pool).await);
}

#[sqlx::test(migrations = false)]
async fn an_event_emitted_in_a_committed_transaction_starts_its_task_once_and_a_rolled_back_one_nothing(pool: PgPool) {
    let url = database_url(&pool).await;
    let server = start_server("server", &url, &[]).await;
    let _worker = start_worker("worker", &url, &[]).await;
    let mut tx = pool.begin().await.unwrap();
    let emitted: Uuid = sqlx::query_scalar("SELECT tasker.emit_event('order.created', 'order-1', '{\"order_id\": 1}')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT tasker.emit_event('order.created', 'order-2', '{\"order_id\": 2}')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let again: Uuid = sqlx::query_scalar("SELECT tasker.emit_event('order.created', 'order-1', '{\"order_id\": 1}')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(again, emitted, "the same key is the same event");
    wait_for(
        &pool,
        "SELECT count(*) FROM tasker.tasks WHERE namespace = 'order_events' AND state = 'complete'",
        30,
        |n| n >= 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (count, key, priority): (i64, Option<String>, Option<i32>) = sqlx::query_as(
        "SELECT count(*), max(idempotency_key), max(priority) FROM tasker.tasks WHERE namespace = 'order_events'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((count, key), (1, Some(format!("event:{emitted}"))), "one task, for the committed event only");
    assert_eq!(priority, Some(4), "the template's priority");

    let body = json!({"name": "order.created", "key": "order-3", "payload": {"order_id": 3}});
    let (status, outcome) = http(server.port, "POST", "/v1/events", Some(&body)).await;
    assert_eq!(status, 202, "{outcome}");
    assert_eq!(outcome["tasks"].as_array().map(Vec::len), Some(1), "{outcome}");
    let (status, repeat) = http(server.port, "POST", "/v1/events", Some(&body)).await;
    assert_eq!((status, &repeat), (200, &outcome), "the same key answers the same outcome");
    let other = json!({"name": "order.created", "key": "order-3", "payload": {"order_id": 4}});
    let (status, _) = http(server.port, "POST", "/v1/events", Some(&other)).await;
    assert_eq!(status, 409);
    let refused = json!({"name": "order.created", "key": "order-5", "payload": {"order_id": "five"}});
    let (status, outcome) = http(server.port, "POST", "/v1/events", Some(&refused)).await;
    assert_eq!(status, 202);
    assert_eq!(outcome["tasks"], json!([]));
    assert_eq!(outcome["rejected"][0]["namespace"], "order_events", "{outcome}");
    let nobody = json!({"name": "nobody.listens", "key": "n-1"});
    let (status, outcome) = http(server.port, "POST", "/v1/events", Some(&nobody)).await;
    assert_eq!((status, &outcome["tasks"]), (202, &json!([])));
    let (status, error) = http(server.port, "POST", "/v1/events", Some(&json!({"name": "", "key": "k"}))).await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("name")));
    wait_all_terminal(&pool, 30).await;
    let tasks = scalar(&pool, "SELECT count(*) FROM tasker.tasks WHERE namespace = 'order_events'").await;
    assert_eq!(tasks, 2);
    assert_exactly_once(&pool).await;
}

const DECLARED: &str = "namespace: declared\nname: nightly\nversion: '1'\n\
schedules:\n  - {cron: '0 3 * * *', timezone: Europe/Paris, context: {even_number: 2}}\n\
steps:\n  - {name: only, handler: linear_workflow.square}\n";

#[sqlx::test(migrations = false)]
async fn schedules_declared_in_templates_are_registered_once_across_restarts(pool: PgPool) {
    let url = database_url(&pool).await;
    let dir = std::env::temp_dir().join(format!("tasker-declared-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nightly.yaml"), DECLARED).unwrap();
    let env = [("TASKER_TEMPLATE_PATH", dir.to_str().unwrap())];
    for name in ["server-a", "server-b"] {
        let mut server = start_server(name, &url, &env).await;
        let (_, listed) = http(server.port, "GET", "/v1/schedules", None).await;
        let schedules = listed["schedules"].as_array().unwrap();
        assert_eq!(schedules.len(), 1, "{listed}");
        assert_eq!(schedules[0]["source"], "template");
        assert_eq!(schedules[0]["timezone"], "Europe/Paris");
        let next: DateTime<Utc> = schedules[0]["next_fire_at"].as_str().unwrap().parse().unwrap();
        let paris = next.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(chrono::Timelike::hour(&paris), 3, "03:00 Paris time: {next}");
        server.kill();
    }
}

/// Create `n` single-step tasks of `priority` on a server process.
async fn create_with_priority(port: u16, n: usize, priority: i32) {
    for _ in 0..n {
        let body = json!({"namespace": "test_scenarios", "name": "sleepy_single", "priority": priority,
                          "context": {"even_number": 2, "sleep_ms": 0}});
        let (status, task) = http(port, "POST", "/v1/tasks", Some(&body)).await;
        assert_eq!((status, task["priority"].as_i64()), (201, Some(priority as i64)), "{task}");
    }
}

/// The priorities of the tasks whose steps were claimed, in claim order.
async fn claim_order(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT t.priority FROM tasker.step_transitions st JOIN tasker.tasks t ON t.task_uuid = st.task_uuid
         WHERE st.to_state = 'in_progress' ORDER BY st.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

const ONE_AT_A_TIME: [(&str, &str); 2] =
    [("TASKER__WORKER__BATCH_SIZE", "1"), ("TASKER__WORKER__MAX_CONCURRENCY", "1")];

#[sqlx::test(migrations = false)]
async fn later_high_priority_steps_overtake_a_backlog_of_low_priority_ones(pool: PgPool) {
    let url = database_url(&pool).await;
    let server = start_server("server", &url, &[("TASKER__SCHEDULING__MAX_PRIORITY_WAIT", "20s")]).await;
    create_with_priority(server.port, 30, 1).await;
    create_with_priority(server.port, 5, 5).await;
    let _worker = start_worker("worker", &url, &ONE_AT_A_TIME).await;
    wait_all_terminal(&pool, 60).await;
    let order = claim_order(&pool).await;
    assert_eq!(order.len(), 35);
    assert_eq!(order[..5], [5; 5], "the priority-5 steps went first: {order:?}");
    assert_exactly_once(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_step_that_waited_past_max_priority_wait_is_not_overtaken(pool: PgPool) {
    let url = database_url(&pool).await;
    let server = start_server("server", &url, &[("TASKER__SCHEDULING__MAX_PRIORITY_WAIT", "2s")]).await;
    create_with_priority(server.port, 5, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    create_with_priority(server.port, 5, 5).await;
    let _worker = start_worker("worker", &url, &ONE_AT_A_TIME).await;
    wait_all_terminal(&pool, 60).await;
    let order = claim_order(&pool).await;
    assert_eq!(order, [1, 1, 1, 1, 1, 5, 5, 5, 5, 5], "the old low-priority steps keep their turn");
}
