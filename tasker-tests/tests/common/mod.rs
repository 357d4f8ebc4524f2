//! A test cluster: orchestrators and workers running in-process on the test's own database (from
//! `#[sqlx::test]`), driven through the real router. Each component gets its own small pool so that the
//! components compete for the database the way separate processes do.

#![allow(dead_code)]

pub mod audit;
pub mod corpus;
pub mod process;
pub mod sse;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tasker_orchestration::OrchestrationServer;
use tasker_shared::config::TaskerConfig;
use tasker_worker_foundation::{StepHandler, WorkerBuilder};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The configuration tests run with: the repository's templates, short leases and backoffs, fast polls.
pub fn test_config() -> TaskerConfig {
    let mut c = TaskerConfig::default();
    c.templates.path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/templates");
    c.worker.lease_seconds = 5;
    c.worker.poll_interval_ms = 200;
    c.worker.shutdown_grace_ms = 2_000;
    c.orchestration.poll_interval_ms = 200;
    c.execution.default_backoff_base_ms = 50;
    c.execution.default_backoff_max_ms = 500;
    c
}

/// A pool of its own on the test database.
pub async fn component_pool(pool: &PgPool, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("connect component pool")
}

pub struct TestCluster {
    pub pool: PgPool,
    pub router: axum::Router,
    /// Each worker's health router (`/health/ready`, …), though the workers serve no HTTP themselves.
    pub worker_routers: Vec<axum::Router>,
    shutdown: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

impl TestCluster {
    /// `orchestrators` result processors (the first also serves the router) and `workers` Rust workers.
    pub async fn start(pool: PgPool, orchestrators: usize, workers: usize) -> Self {
        Self::start_with(pool, orchestrators, workers, test_config()).await
    }

    pub async fn start_with(pool: PgPool, orchestrators: usize, workers: usize, config: TaskerConfig) -> Self {
        Self::start_with_handlers(pool, orchestrators, workers, config, Vec::new()).await
    }

    /// Like [`TestCluster::start_with`], the workers also serving `handlers` (the test's own).
    pub async fn start_with_handlers(
        pool: PgPool,
        orchestrators: usize,
        workers: usize,
        config: TaskerConfig,
        handlers: Vec<(&'static str, Arc<dyn StepHandler>)>,
    ) -> Self {
        // Logs go to the test's captured output, shown when it fails.
        tasker_shared::observability::init_tracing();
        let shutdown = CancellationToken::new();
        let mut handles = Vec::new();
        let mut router = None;
        let mut worker_routers = Vec::new();
        for _ in 0..orchestrators {
            let server = OrchestrationServer::new(component_pool(&pool, 6).await, config.clone())
                .await
                .expect("orchestration server starts");
            router.get_or_insert_with(|| server.router());
            let processor = server.result_processor();
            let stop = shutdown.clone();
            handles.push(tokio::spawn(async move {
                processor.run(stop).await.expect("result processor runs");
            }));
        }
        for _ in 0..workers {
            let mut builder = tasker_worker_rust::register_catalog(WorkerBuilder::new(config.clone()));
            for (name, handler) in &handlers {
                builder = builder.register_arc(*name, handler.clone());
            }
            let worker =
                builder.pool(component_pool(&pool, 6).await).serve_http(false).build().await.expect("worker builds");
            worker_routers.push(worker.router());
            let stop = shutdown.clone();
            handles.push(tokio::spawn(async move {
                worker.run(stop).await.expect("worker runs");
            }));
        }
        Self { pool, router: router.expect("at least one orchestrator"), worker_routers, shutdown, handles }
    }

    /// A cluster handle around a router whose components the caller runs itself.
    pub fn around(pool: PgPool, router: axum::Router) -> Self {
        Self { pool, router, worker_routers: Vec::new(), shutdown: CancellationToken::new(), handles: Vec::new() }
    }

    pub async fn request(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request("POST", path, Some(&body.to_string())).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request("GET", path, None).await
    }

    /// Create a task and expect 201.
    pub async fn create(&self, namespace: &str, name: &str, context: Value) -> String {
        let (status, body) =
            self.post("/v1/tasks", serde_json::json!({"namespace": namespace, "name": name, "context": context})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["task_uuid"].as_str().unwrap().to_string()
    }

    /// Poll until the task is terminal; panic after `seconds`.
    pub async fn wait_terminal(&self, task_uuid: &str, seconds: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let (status, task) = self.get(&format!("/v1/tasks/{task_uuid}")).await;
            assert_eq!(status, StatusCode::OK, "{task}");
            if matches!(task["state"].as_str(), Some("complete" | "error" | "cancelled" | "resolved_manually")) {
                return task;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {task_uuid} not terminal in {seconds}s: {task}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until every task in the database is terminal.
    pub async fn wait_all_terminal(&self, seconds: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM tasker.tasks WHERE state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            if open == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{open} tasks still open after {seconds}s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for h in self.handles {
            h.await.expect("component stops cleanly");
        }
    }
}

/// A request without a body on any router; the status and the JSON body (`Null` when not JSON).
pub async fn request_on(router: &axum::Router, method: &str, path: &str) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A step of a task view by name.
/// Wait (up to 10 s) until a session of this test's database waits for a lock: a test that holds a lock and starts
/// a call that must wait for it checks that the call got that far before letting go (a fixed sleep would pass
/// without the call having started on a slow machine).
pub async fn wait_for_lock_waiter(pool: &PgPool) {
    for _ in 0..1_000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no session started waiting for the lock");
}

pub fn step<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name}"))
}

/// The exact integer value a math step produced.
pub fn value(task: &Value, name: &str) -> String {
    step(task, name)["result"]["value"].as_str().unwrap_or_else(|| panic!("step {name} has no value")).to_string()
}

/// n^k as a decimal string, exactly.
pub fn pow(n: u64, k: u32) -> String {
    let mut digits = vec![1u32];
    for _ in 0..k {
        let mut carry = 0u64;
        for d in digits.iter_mut() {
            let x = *d as u64 * n + carry;
            *d = (x % 10) as u32;
            carry = x / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u32);
            carry /= 10;
        }
    }
    digits.iter().rev().map(|d| char::from_digit(*d, 10).unwrap()).collect()
}
