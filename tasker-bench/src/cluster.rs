//! The system under test, in-process: a scratch database, orchestration servers and workers with the
//! `bench.noop` handler, and a listener that records when each task is finalized.

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tasker_orchestration::OrchestrationServer;
use tasker_shared::config::TaskerConfig;
use tasker_shared::messaging::TASK_FINALIZED_CHANNEL;
use tasker_worker_foundation::WorkerBuilder;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uuid::Uuid;

/// A database created for this run and dropped at the end.
pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("tasker_bench_{}", &Uuid::new_v4().simple().to_string()[..10]);
        let mut admin = PgConnection::connect(admin_url).await.context("connecting to the admin database")?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
        Ok(Self { admin_url: admin_url.into(), url: format!("{base}/{name}"), name })
    }

    /// A plain pool (floor references, the bench's own queries).
    pub async fn pool(&self, size: u32) -> anyhow::Result<PgPool> {
        Ok(PgPoolOptions::new().max_connections(size).connect(&self.url).await?)
    }

    /// A pool as the binaries open it (`tasker_shared::db::connect`: Tasker's session settings).
    pub async fn engine_pool(&self, config: &TaskerConfig) -> anyhow::Result<PgPool> {
        Ok(tasker_shared::db::connect(&config.database).await?)
    }

    pub async fn drop_now(&self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ =
                sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin).await;
        }
    }
}

/// Finish times of finalized tasks, fed by LISTEN on the finalization channel.
#[derive(Clone, Default)]
pub struct Finalized {
    done: Arc<Mutex<HashMap<Uuid, Instant>>>,
    changed: Arc<Notify>,
}

impl Finalized {
    pub async fn listen(pool: &PgPool, stop: CancellationToken) -> anyhow::Result<Self> {
        let me = Self::default();
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(TASK_FINALIZED_CHANNEL).await?;
        let this = me.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    n = listener.recv() => if let Ok(n) = n {
                        if let Ok(id) = n.payload().parse() {
                            this.done.lock().unwrap().insert(id, Instant::now());
                            this.changed.notify_waiters();
                        }
                    }
                }
            }
        });
        Ok(me)
    }

    pub fn count(&self) -> usize {
        self.done.lock().unwrap().len()
    }

    /// When `id` was finalized, waiting for it.
    pub async fn wait_for(&self, id: Uuid) -> Instant {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(at) = self.done.lock().unwrap().get(&id) {
                return *at;
            }
            changed.await;
        }
    }

    /// Wait until at least `n` tasks are finalized; returns when the last one was.
    pub async fn wait_count(&self, n: usize) -> Instant {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let done = self.done.lock().unwrap();
                if done.len() >= n {
                    return done.values().max().copied().unwrap_or_else(Instant::now);
                }
            }
            changed.await;
        }
    }
}

/// What a benchmark client needs: the API and the finalization feed. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    router: axum::Router,
    pub finalized: Finalized,
}

pub struct Cluster {
    pub pool: PgPool,
    pub client: Client,
    pub shutdown: CancellationToken,
    pub handles: Vec<JoinHandle<()>>,
}

pub fn bench_config(url: &str, durable: bool) -> TaskerConfig {
    let mut c = TaskerConfig::default();
    c.database.url = url.to_string();
    c.database.synchronous_step_commits = durable;
    c.templates.path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/templates/examples");
    // The in-process workers honour the variable the worker processes read, so one setting A/Bs both modes.
    if let Ok(v) = std::env::var("TASKER__WORKER__SETTLE_COMPLETIONS") {
        c.worker.settle_completions = v.trim() != "false";
    }
    c
}

impl Cluster {
    pub async fn start(db: &ScratchDatabase, servers: usize, workers: usize, durable: bool) -> anyhow::Result<Self> {
        let config = bench_config(&db.url, durable);
        let shutdown = CancellationToken::new();
        let mut handles = Vec::new();
        let mut router = None;
        for _ in 0..servers {
            let server = OrchestrationServer::new(db.engine_pool(&config).await?, config.clone()).await?;
            router.get_or_insert_with(|| server.router());
            let processor = server.result_processor();
            let stop = shutdown.clone();
            handles.push(tokio::spawn(async move {
                let _ = processor.run(stop).await;
            }));
        }
        for _ in 0..workers {
            let worker = tasker_worker_rust::register_catalog(WorkerBuilder::new(config.clone()))
                .pool(db.engine_pool(&config).await?)
                .namespaces(["bench"])
                .serve_http(false)
                .build()
                .await?;
            let stop = shutdown.clone();
            handles.push(tokio::spawn(async move {
                let _ = worker.run(stop).await;
            }));
        }
        let pool = db.pool(4).await?;
        let finalized = Finalized::listen(&pool, shutdown.clone()).await?;
        let client = Client { router: router.context("need at least one server")?, finalized };
        Ok(Self { pool, client, shutdown, handles })
    }

    /// WAL position of the server, in bytes.
    pub async fn wal_lsn(&self) -> anyhow::Result<String> {
        Ok(sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&self.pool).await?)
    }

    pub async fn wal_bytes(&self) -> anyhow::Result<f64> {
        Ok(sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8").fetch_one(&self.pool).await?)
    }

    /// Transactions committed in the database so far.
    pub async fn commits(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            .fetch_one(&self.pool)
            .await?)
    }
}

impl Client {
    /// Create a `bench/<name>` task through the API; returns its id.
    pub async fn submit(&self, name: &str) -> anyhow::Result<Uuid> {
        self.submit_with(name, serde_json::json!({})).await
    }

    /// Create a `bench/<name>` task with `context`.
    pub async fn submit_with(&self, name: &str, context: serde_json::Value) -> anyhow::Result<Uuid> {
        let body = serde_json::json!({"namespace": "bench", "name": name, "context": context}).to_string();
        let req = Request::post("/v1/tasks").header("content-type", "application/json").body(Body::from(body))?;
        let res = self.router.clone().oneshot(req).await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status.as_u16() == 201,
            "POST /v1/tasks answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        Ok(v["task_uuid"].as_str().context("task_uuid")?.parse()?)
    }
}
