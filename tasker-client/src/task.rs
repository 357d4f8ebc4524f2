//! Tasks: create one, read it, wait for it on its event stream, and read its steps' results and errors.

use crate::error::{ClientError, ClientResult};
use crate::http::Client;
use serde::Serialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// The states a task ends in.
pub const TERMINAL_STATES: [&str; 4] = ["complete", "error", "cancelled", "resolved_manually"];

/// A task as the server last described it (`GET /v1/tasks/{uuid}`): its state, steps, results and errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The server's JSON, whole.
    pub data: Value,
}

impl Task {
    /// The task's id.
    pub fn task_uuid(&self) -> &str {
        self.data["task_uuid"].as_str().unwrap_or_default()
    }

    /// Its state (`steps_in_process`, `complete`, `error`, …).
    pub fn state(&self) -> &str {
        self.data["state"].as_str().unwrap_or_default()
    }

    /// Whether it reached a final state.
    pub fn is_done(&self) -> bool {
        TERMINAL_STATES.contains(&self.state())
    }

    fn step(&self, name: &str) -> Option<&Value> {
        self.data["steps"].as_array()?.iter().find(|s| s["name"] == name)
    }

    /// The result of step `name` (`Value::Null` until it has one); `None` when the task has no such step.
    pub fn result(&self, name: &str) -> Option<&Value> {
        self.step(name).map(|s| &s["result"])
    }

    /// The last error of step `name` (`message`, `retryable`, `error_class`, …), if it has one.
    pub fn error(&self, name: &str) -> Option<&Value> {
        self.step(name).map(|s| &s["error"]).filter(|e| !e.is_null())
    }

    /// Read the task again through `client`.
    pub async fn refresh(&mut self, client: &Client) -> ClientResult<()> {
        *self = client.task(self.task_uuid()).await?;
        Ok(())
    }

    /// Wait until the task is final (see [`Client::wait`]), then hold its final state.
    pub async fn wait(&mut self, client: &Client, timeout: Duration) -> ClientResult<()> {
        *self = client.wait(self.task_uuid(), timeout).await?;
        Ok(())
    }
}

/// What `POST /v1/tasks` takes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewTask {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// The task's input.
    pub context: Value,
    /// A template version; the newest active one when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Creates the task once: the same key and context again returns it (another context is a 409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Any other request fields (`priority`, `correlation_id`, `tags`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NewTask {
    /// A task of `namespace/name` with `context`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, context: Value) -> Self {
        Self { namespace: namespace.into(), name: name.into(), context, ..Default::default() }
    }

    /// With an idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// On a given template version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
}

impl Client {
    /// Create a task (`POST /v1/tasks`).
    pub async fn create(&self, task: &NewTask) -> ClientResult<Task> {
        let body = serde_json::to_value(task).map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok(Task { data: self.post("/v1/tasks", body).await? })
    }

    /// Create a task and wait until it is final ([`ClientError::WaitTimeout`] after `timeout`).
    pub async fn create_and_wait(&self, task: &NewTask, timeout: Duration) -> ClientResult<Task> {
        let created = self.create(task).await?;
        self.wait(created.task_uuid(), timeout).await
    }

    /// The task `task_uuid` (a 404 [`ClientError::Api`] when there is none).
    pub async fn task(&self, task_uuid: &str) -> ClientResult<Task> {
        Ok(Task { data: self.get(&format!("/v1/tasks/{task_uuid}")).await? })
    }

    /// Wait until the task is final, following its event stream (which ends with its final transition), then
    /// read it; [`ClientError::WaitTimeout`] with its latest state after `timeout`.
    pub async fn wait(&self, task_uuid: &str, timeout: Duration) -> ClientResult<Task> {
        let path = format!("/v1/tasks/{task_uuid}/events");
        let followed = tokio::time::timeout(
            timeout,
            self.follow(&path, &[], |event| {
                let final_task_event = event.kind == "task"
                    && event.data["to_state"].as_str().is_some_and(|s| TERMINAL_STATES.contains(&s));
                !final_task_event
            }),
        )
        .await;
        let task = self.task(task_uuid).await?;
        match followed {
            Ok(result) => {
                result?;
                if task.is_done() {
                    Ok(task)
                } else {
                    Err(ClientError::Unreachable(format!("the event stream of task {task_uuid} ended early")))
                }
            }
            Err(_) if task.is_done() => Ok(task),
            Err(_) => Err(ClientError::WaitTimeout { task: Box::new(task), timeout }),
        }
    }

    /// Cancel a task (`POST /v1/tasks/{uuid}/cancel`), with an optional reason.
    pub async fn cancel(&self, task_uuid: &str, reason: Option<&str>) -> ClientResult<Task> {
        let body = reason.map(|r| serde_json::json!({"reason": r})).unwrap_or_else(|| serde_json::json!({}));
        Ok(Task { data: self.post(&format!("/v1/tasks/{task_uuid}/cancel"), body).await? })
    }
}
