//! A small HTTP client for the processes the bench starts (`--soak`, `--processes`): create tasks, wait for `/health/ready`.

use anyhow::Context;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;
use tokio::process::Child;

/// One server's address and a pooled connection set to it. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    pub fn new(port: u16) -> Self {
        Self { base: format!("http://127.0.0.1:{port}"), client: Client::builder(TokioExecutor::new()).build_http() }
    }

    async fn call(&self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<(u16, Bytes)> {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let res = self.client.request(req).await?;
        let status = res.status().as_u16();
        Ok((status, res.into_body().collect().await?.to_bytes()))
    }

    /// `POST /v1/tasks` for `namespace/name` with an empty context; expects 201. Returns the task's uuid.
    pub async fn create_task(&self, namespace: &str, name: &str) -> anyhow::Result<uuid::Uuid> {
        let body = serde_json::json!({"namespace": namespace, "name": name, "context": {}}).to_string();
        let (status, bytes) = self.call("POST", "/v1/tasks", Some(body)).await?;
        anyhow::ensure!(status == 201, "POST /v1/tasks answered {status}: {}", String::from_utf8_lossy(&bytes));
        let task: serde_json::Value = serde_json::from_slice(&bytes)?;
        task["task_uuid"].as_str().and_then(|s| s.parse().ok()).context("POST /v1/tasks answered without a task_uuid")
    }

    /// Submit `tasks` tasks (half `linear_noop`, half `diamond_noop`) in `namespace` from `clients` concurrent
    /// clients; returns once every one was created.
    pub async fn submit_burst(&self, namespace: &'static str, tasks: usize, clients: usize) -> anyhow::Result<()> {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut submitters = Vec::new();
        for _ in 0..clients {
            let (next, api) = (next.clone(), self.clone());
            submitters.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= tasks {
                        return anyhow::Ok(());
                    }
                    api.create_task(namespace, if i % 2 == 0 { "linear_noop" } else { "diamond_noop" }).await?;
                }
            }));
        }
        for s in submitters {
            s.await??;
        }
        Ok(())
    }

    /// Wait up to a minute for `/health/ready` to answer 200; fail at once, with the log's tail, if `process`
    /// exits first.
    pub async fn wait_ready(&self, process: &mut Child, label: &str, log: &Path) -> anyhow::Result<()> {
        for _ in 0..600 {
            if let Some(status) = process.try_wait()? {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                anyhow::bail!(
                    "{label} exited with {status}; last lines of {}:\n{}",
                    log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            if matches!(self.call("GET", "/health/ready", None).await, Ok((200, _))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!("{label} not ready after 60 s")).context(format!("see {}", log.display()))
    }
}
