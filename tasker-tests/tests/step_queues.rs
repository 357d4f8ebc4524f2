//! Steps routed to queues of their own (a template step's `queue:`): each runs on a worker that serves its queue
//! and never on another; a worker serves only the queues whose every routed step it can run, and an explicit
//! queue it cannot fully run refuses the start; operator actions (cancel, retry, resolve) send and delete the
//! messages on the steps' own queues.

mod common;

use axum::http::StatusCode;
use common::{request_on, step, test_config, TestCluster};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tasker_shared::config::TaskerConfig;
use tasker_shared::messaging::{queue_table, worker_queue};
use tasker_worker_foundation::{handler_fn, StepError, StepHandler, WorkerBuilder, WorkerError};
use tokio_util::sync::CancellationToken;

/// `light → heavy (queue routing_heavy) → after`, in its own template directory.
const TEMPLATE: &str = "namespace: routing_test\nname: split\nversion: 1.0.0\nsteps:\n\
  - {name: light, handler: routing_test.light}\n\
  - {name: heavy, handler: routing_test.heavy, queue: routing_heavy, depends_on: [light]}\n\
  - {name: after, handler: routing_test.light, depends_on: [heavy]}\n";

/// The test configuration over a template directory of its own holding only [`TEMPLATE`].
fn config_with_template() -> TaskerConfig {
    let dir: PathBuf = std::env::temp_dir().join(format!("tasker-step-queues-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("split.yaml"), TEMPLATE).unwrap();
    let mut config = test_config();
    config.templates.path = dir;
    config
}

/// A handler that answers which worker ran it.
fn labelled(label: &'static str) -> Arc<dyn StepHandler> {
    Arc::new(handler_fn(move |_ctx| async move { Ok(json!({"ran_on": label})) }))
}

/// A `heavy` handler that fails permanently while `fail` is set.
fn failing_heavy(fail: Arc<AtomicBool>) -> Arc<dyn StepHandler> {
    Arc::new(handler_fn(move |_ctx| {
        let failing = fail.load(Ordering::SeqCst);
        async move {
            if failing {
                Err(StepError::permanent("heavy step failed").with_class("Heavy"))
            } else {
                Ok(json!({"ran_on": "heavy pool"}))
            }
        }
    }))
}

/// Build a worker with `handlers` (queues derived from the templates unless `queues` is given).
async fn build_worker(
    pool: &PgPool,
    config: &TaskerConfig,
    id: &str,
    handlers: Vec<(&str, Arc<dyn StepHandler>)>,
    queues: Option<&[&str]>,
) -> Result<tasker_worker_foundation::Worker, WorkerError> {
    let mut config = config.clone();
    config.worker.worker_id = Some(id.to_string());
    let mut builder = WorkerBuilder::new(config).pool(common::component_pool(pool, 4).await).serve_http(false);
    for (name, handler) in handlers {
        builder = builder.register_arc(name, handler);
    }
    if let Some(queues) = queues {
        builder = builder.queues(queues.iter().copied());
    }
    builder.build().await
}

async fn served_queues(worker: &tasker_worker_foundation::Worker) -> Vec<String> {
    let (status, ready) = request_on(&worker.router(), "GET", "/health/ready").await;
    assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    ready["checks"]["consumers"]["queues"].as_array().unwrap().iter().map(|q| q.as_str().unwrap().to_string()).collect()
}

async fn messages_on(pool: &PgPool, queue: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {}", queue_table(&worker_queue(queue))))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn each_step_runs_on_a_worker_of_its_own_queue(pool: PgPool) {
    let config = config_with_template();
    let c = TestCluster::start_with(pool.clone(), 1, 0, config.clone()).await;
    let general = build_worker(&pool, &config, "general", vec![("routing_test.light", labelled("general"))], None)
        .await
        .expect("a worker with the light handler serves the namespace queue");
    let heavy = build_worker(&pool, &config, "heavy-pool", vec![("routing_test.heavy", labelled("heavy pool"))], None)
        .await
        .expect("a worker with the heavy handler serves its queue");
    assert_eq!(general.queues(), ["worker_routing_test_queue"], "the heavy queue has a handler it lacks");
    assert_eq!(heavy.queues(), ["worker_routing_heavy_queue"]);
    assert_eq!(served_queues(&heavy).await, ["worker_routing_heavy_queue"]);

    // A queue name that cannot be a pgmq queue is rejected at registration, naming the field.
    let bad = json!({"namespace": "routing_test", "name": "bad", "version": "1",
                     "steps": [{"name": "a", "handler": "routing_test.light", "queue": "Heavy-Pool"}]});
    let (status, body) = c.post("/v1/templates", bad).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("steps[0].queue")),
        "{body}"
    );

    let stop = CancellationToken::new();
    let general_router = general.router();
    let runs = [tokio::spawn(general.run(stop.clone())), tokio::spawn(heavy.run(stop.clone()))];
    let mut tasks = Vec::new();
    for _ in 0..5 {
        tasks.push(c.create("routing_test", "split", json!({})).await);
    }
    for uuid in &tasks {
        let task = c.wait_terminal(uuid, 30).await;
        assert_eq!(task["state"], "complete", "{task}");
        let on = |name: &str| (step(&task, name)["queue"].clone(), step(&task, name)["result"]["ran_on"].clone());
        assert_eq!(on("light"), (json!("routing_test"), json!("general")));
        assert_eq!(on("heavy"), (json!("routing_heavy"), json!("heavy pool")));
        assert_eq!(on("after"), (json!("routing_test"), json!("general")));
    }
    // The claims agree: no step was ever claimed by a worker of another queue.
    let claims: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, claimed_by, count(*) FROM tasker.workflow_steps GROUP BY name, claimed_by ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        claims,
        [
            ("after".into(), "general".into(), 5),
            ("heavy".into(), "heavy-pool".into(), 5),
            ("light".into(), "general".into(), 5)
        ]
    );
    common::audit::assert_exactly_once(&pool).await;
    // Step metrics are labelled by namespace and handler (both workers live in this process: one recorder).
    let metrics = metrics_text_of(&general_router).await;
    let series = |name: &str, labels: &[&str]| -> Option<String> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|p| l.contains(p)))
            .map(str::to_string)
    };
    let light = ["namespace=\"routing_test\"", "handler=\"routing_test.light\"", "outcome=\"success\""];
    assert!(series("tasker_step_outcomes_total", &light).is_some_and(|l| l.ends_with(" 10")), "{metrics}");
    let heavy = ["namespace=\"routing_test\"", "handler=\"routing_test.heavy\"", "outcome=\"success\""];
    assert!(series("tasker_step_outcomes_total", &heavy).is_some_and(|l| l.ends_with(" 5")), "{metrics}");
    assert!(series("tasker_step_duration_seconds_count", &light[..2]).is_some_and(|l| l.ends_with(" 10")), "{metrics}");
    assert!(metrics.lines().any(|l| l == "tasker_worker_steps_in_flight{worker_id=\"general\"} 0"), "{metrics}");
    stop.cancel();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_explicit_queue_without_every_handler_refuses_to_start(pool: PgPool) {
    let config = config_with_template();
    tasker_shared::db::prepare(&pool).await.unwrap();
    let err = build_worker(&pool, &config, "w", vec![("routing_test.light", labelled("w"))], Some(&["routing_heavy"]))
        .await
        .err()
        .expect("the heavy handler is missing");
    let message = err.to_string();
    for part in ["routing_heavy", "routing_test/split@1.0.0", "steps[1].handler", "routing_test.heavy"] {
        assert!(message.contains(part), "{message} names {part}");
    }
    // The same worker may serve the namespace queue explicitly: every step routed there has its handler.
    let ok = build_worker(&pool, &config, "w", vec![("routing_test.light", labelled("w"))], Some(&["routing_test"]))
        .await
        .expect("the namespace queue is fully handled");
    assert_eq!(ok.queues(), ["worker_routing_test_queue"]);
    // With no handler for any queue there is nothing to serve.
    let none = build_worker(&pool, &config, "w", vec![("elsewhere.x", labelled("w"))], None).await;
    assert!(matches!(none, Err(WorkerError::NothingToServe { .. })));
}

#[sqlx::test(migrations = false)]
async fn operator_actions_use_the_steps_own_queues(pool: PgPool) {
    let config = config_with_template();
    let c = TestCluster::start_with(pool.clone(), 1, 0, config.clone()).await;
    let stop = CancellationToken::new();
    let general =
        build_worker(&pool, &config, "general", vec![("routing_test.light", labelled("general"))], None).await.unwrap();
    let general = tokio::spawn(general.run(stop.clone()));

    // Cancel: with no worker on the heavy queue, the heavy step's message waits there; cancelling deletes it.
    let waiting = c.create("routing_test", "split", json!({})).await;
    common::audit::wait_for(
        &pool,
        &format!("SELECT count(*) FROM tasker.workflow_steps WHERE task_uuid = '{waiting}' AND name = 'heavy' AND state = 'enqueued'"),
        20,
        |n| n == 1,
    )
    .await;
    assert_eq!(messages_on(&pool, "routing_heavy").await, 1);
    let (status, body) = c.post(&format!("/v1/tasks/{waiting}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(messages_on(&pool, "routing_heavy").await, 0, "the cancelled step's message is gone from its queue");

    // Retry and resolve: the heavy pool fails its step permanently while `fail` is set.
    let fail = Arc::new(AtomicBool::new(true));
    let heavy =
        build_worker(&pool, &config, "heavy-pool", vec![("routing_test.heavy", failing_heavy(fail.clone()))], None)
            .await
            .unwrap();
    let heavy = tokio::spawn(heavy.run(stop.clone()));
    let retried = c.create("routing_test", "split", json!({})).await;
    let resolved = c.create("routing_test", "split", json!({})).await;
    for uuid in [&retried, &resolved] {
        assert_eq!(c.wait_terminal(uuid, 30).await["state"], "error");
    }
    fail.store(false, Ordering::SeqCst);
    let (status, body) = c.post(&format!("/v1/tasks/{retried}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let task = c.wait_terminal(&retried, 30).await;
    assert_eq!(task["state"], "complete", "the retried step went back to the heavy queue: {task}");
    assert_eq!(step(&task, "heavy")["result"], json!({"ran_on": "heavy pool"}));

    let task: Value = c.get(&format!("/v1/tasks/{resolved}")).await.1;
    let heavy_uuid = step(&task, "heavy")["step_uuid"].as_str().unwrap().to_string();
    let (status, body) = c
        .post(&format!("/v1/tasks/{resolved}/steps/{heavy_uuid}/resolve"), json!({"result": {"ran_on": "operator"}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let task = c.wait_terminal(&resolved, 30).await;
    assert_eq!(task["state"], "complete", "`after` was enqueued on the namespace queue: {task}");
    assert_eq!(step(&task, "after")["result"], json!({"ran_on": "general"}));
    // (Operator actions rewrite attempts and resolve steps, so the audit's exactly-once rules do not apply here.)
    let twice = common::audit::scalar(
        &pool,
        "SELECT count(*) FROM (SELECT step_uuid FROM tasker.step_transitions WHERE to_state = 'complete'
         GROUP BY 1 HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(twice, 0, "a step completed twice");
    let left: Vec<(String, i64)> =
        common::audit::queue_depths(&pool).await.into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(left.is_empty(), "queues not drained: {left:?}");

    stop.cancel();
    for run in [general, heavy] {
        run.await.unwrap().unwrap();
    }
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn workers_list_themselves_and_a_queue_nobody_serves_is_named(pool: PgPool) {
    let config = config_with_template();
    let c = TestCluster::start_with(pool.clone(), 1, 0, config.clone()).await;
    let stop_general = CancellationToken::new();
    let general =
        build_worker(&pool, &config, "general", vec![("routing_test.light", labelled("general"))], None).await.unwrap();
    let general = tokio::spawn(general.run(stop_general.clone()));
    let task = c.create("routing_test", "split", json!({})).await;
    common::audit::wait_for(&pool, "SELECT count(*) FROM tasker.workers", 10, |n| n == 1).await;
    common::audit::wait_for(
        &pool,
        &format!("SELECT count(*) FROM tasker.workflow_steps WHERE task_uuid = '{task}' AND name = 'heavy' AND state = 'enqueued'"),
        20,
        |n| n == 1,
    )
    .await;

    let (status, listed) = c.get("/v1/workers").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let workers = listed["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{listed}");
    assert_eq!(
        (&workers[0]["worker_id"], &workers[0]["language"], &workers[0]["queues"], &workers[0]["concurrency"]),
        (&json!("general"), &json!("rust"), &json!(["routing_test"]), &json!(config.worker.max_concurrency))
    );
    for field in ["host", "started_at", "last_seen_at"] {
        assert!(workers[0][field].is_string(), "{field}: {listed}");
    }

    // The heavy step waits on a queue no live worker serves: readiness and metrics say so (the server stays ready).
    let (status, ready) = c.get("/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["checks"]["queues"], json!({"status": "unserved", "unserved": ["routing_heavy"]}));
    let metrics = metrics_text(&c).await;
    for line in [
        "tasker_queue_unserved{queue=\"routing_heavy\"} 1",
        "tasker_queue_depth{queue=\"routing_heavy\"} 1",
        "tasker_queue_consumers{queue=\"routing_heavy\"} 0",
        "tasker_queue_consumers{queue=\"routing_test\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in\n{metrics}");
    }

    // A worker with the heavy handler starts: the step runs and nothing is unserved any more.
    let stop_heavy = CancellationToken::new();
    let heavy = build_worker(&pool, &config, "heavy-pool", vec![("routing_test.heavy", labelled("heavy pool"))], None)
        .await
        .unwrap();
    let heavy = tokio::spawn(heavy.run(stop_heavy.clone()));
    assert_eq!(c.wait_terminal(&task, 30).await["state"], "complete");
    let (_, ready) = c.get("/health/ready").await;
    assert_eq!(ready["checks"]["queues"], json!({"status": "up", "unserved": []}));
    let ids = |listed: &Value| -> Vec<String> {
        listed["workers"].as_array().unwrap().iter().map(|w| w["worker_id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&c.get("/v1/workers").await.1), ["general", "heavy-pool"]);
    assert!(metrics_text(&c).await.lines().any(|l| l == "tasker_queue_unserved{queue=\"routing_heavy\"} 0"));

    // A worker that stops removes itself; one that stops beating is no longer live.
    stop_general.cancel();
    general.await.unwrap().unwrap();
    assert_eq!(ids(&c.get("/v1/workers").await.1), ["heavy-pool"]);
    sqlx::query("UPDATE tasker.workers SET last_seen_at = now() - interval '1 minute'").execute(&pool).await.unwrap();
    assert_eq!(ids(&c.get("/v1/workers").await.1), Vec::<String>::new());
    stop_heavy.cancel();
    heavy.await.unwrap().unwrap();
    c.stop().await;
}

async fn metrics_text(c: &TestCluster) -> String {
    metrics_text_of(&c.router).await
}

async fn metrics_text_of(router: &axum::Router) -> String {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[sqlx::test(migrations = false)]
async fn queues_added_while_running_share_the_workers_one_listening_connection(pool: PgPool) {
    let config = config_with_template();
    let c = TestCluster::start_with(pool.clone(), 1, 0, config.clone()).await;
    let stop = CancellationToken::new();
    let worker =
        build_worker(&pool, &config, "general", vec![("routing_test.light", labelled("general"))], None).await.unwrap();
    let router = worker.router();
    let run = tokio::spawn(worker.run(stop.clone()));
    // More queues than the worker's pool has connections (10): one listener each used to exhaust it.
    let added: Vec<String> = (0..12).map(|i| format!("routing_extra_{i}")).collect();
    for namespace in &added {
        let template = json!({"namespace": namespace, "name": "one", "version": "1",
                              "steps": [{"name": "a", "handler": "routing_test.light"}]});
        let (status, body) = c.post("/v1/templates", template).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, ready) = request_on(&router, "GET", "/health/ready").await;
        let queues = ready["checks"]["consumers"]["queues"].as_array().map(Vec::len).unwrap_or(0);
        if status == StatusCode::OK && queues == added.len() + 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker did not take up the new queues: {ready}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    common::audit::wait_for(
        &pool,
        "SELECT count(DISTINCT pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN %' AND query LIKE '%tasker\\_worker\\_%'",
        10,
        |n| n == 1,
    )
    .await;
    let task = c.create("routing_extra_11", "one", json!({})).await;
    assert_eq!(c.wait_terminal(&task, 30).await["state"], "complete");
    let (status, ready) = request_on(&router, "GET", "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "the worker's pool still answers: {ready}");
    stop.cancel();
    run.await.unwrap().unwrap();
    c.stop().await;
}
