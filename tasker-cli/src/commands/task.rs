//! `tasker task …`: create (optionally waiting), get, list, watch, cancel, retry.

use super::{segment, split_key};
use crate::cli::{CreateArgs, TaskCommand};
use crate::error::{CliError, CliResult};
use crate::input::{document_file, duration, json_arg, time};
use crate::output::{cell, print_json, print_text, table, OutputMode};
use crate::progress::{Display, Progress};
use crate::Context;
use serde_json::{json, Value};
use std::io::IsTerminal;

/// Run a `task` command.
pub async fn run(context: &Context, command: TaskCommand) -> CliResult {
    match command {
        TaskCommand::Create(args) => create(context, args).await,
        TaskCommand::Get { task_uuid } => {
            let task = context.client.get(&format!("/v1/tasks/{}", segment(&task_uuid))).await?;
            match context.output {
                OutputMode::Json => print_json(&task),
                OutputMode::Table => print_text(&describe(&task)),
            }
            Ok(())
        }
        TaskCommand::List { namespace, state, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(namespace.map(|n| ("namespace", n)));
            query.extend(state.map(|s| ("state", s)));
            let page = context.client.get_query("/v1/tasks", &query).await?;
            match context.output {
                OutputMode::Json => print_json(&page),
                OutputMode::Table => {
                    let rows: Vec<Vec<String>> = page["tasks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            vec![
                                cell(&t["task_uuid"]),
                                format!("{}/{}", cell(&t["namespace"]), cell(&t["name"])),
                                cell(&t["state"]),
                                cell(&t["created_at"]),
                            ]
                        })
                        .collect();
                    print_text(&table(&["TASK", "TEMPLATE", "STATE", "CREATED"], &rows));
                }
            }
            Ok(())
        }
        TaskCommand::Watch { task_uuid, timeout } => follow(context, &task_uuid, timeout.as_deref()).await,
        TaskCommand::Cancel { task_uuid, reason } => act(context, &task_uuid, "cancel", reason).await,
        TaskCommand::Retry { task_uuid, reason } => act(context, &task_uuid, "retry", reason).await,
    }
}

async fn create(context: &Context, args: CreateArgs) -> CliResult {
    split_key(&args.template, 2)?;
    let (namespace, name) = args.template.split_once('/').expect("split_key checked the shape");
    let task_context = match (&args.context, &args.context_file) {
        (Some(text), _) => json_arg("--context", text)?,
        (None, Some(path)) => document_file(path)?,
        (None, None) => json!({}),
    };
    let mut body = json!({"namespace": namespace, "name": name, "context": task_context});
    if let Some(v) = &args.version {
        body["version"] = json!(v);
    }
    if let Some(k) = &args.idempotency_key {
        body["idempotency_key"] = json!(k);
    }
    if let Some(p) = args.priority {
        body["priority"] = json!(p);
    }
    if let Some(at) = &args.run_at {
        body["run_at"] = json!(time(at, chrono::Utc::now())?.to_rfc3339());
    }
    // A bad --timeout is refused before the task exists, not after.
    if let Some(t) = &args.timeout {
        duration(t)?;
    }
    let task = context.client.post("/v1/tasks", body).await?;
    let task_uuid = cell(&task["task_uuid"]);
    if args.wait {
        return follow(context, &task_uuid, args.timeout.as_deref()).await;
    }
    match context.output {
        OutputMode::Json => print_json(&task),
        OutputMode::Table => print_text(&format!("created task {task_uuid} ({})", cell(&task["state"]))),
    }
    Ok(())
}

/// A task's states that end it: its stream's last event.
const TASK_FINAL: [&str; 4] = ["complete", "error", "cancelled", "resolved_manually"];

/// How many times a task's stream that ended early is followed again (about a minute in all).
const STREAM_RECONNECTS: u32 = 30;

/// Follow a task until it ends (or `timeout`), then print it as `task get` does (json) or as a summary table.
/// Exit 1 when it ended in `error` or `cancelled`.
async fn follow(context: &Context, task_uuid: &str, timeout: Option<&str>) -> CliResult {
    let limit = timeout.map(duration).transpose()?;
    let path = format!("/v1/tasks/{}", segment(task_uuid));
    let task = context.client.get(&path).await?;
    let display = match context.output {
        OutputMode::Json => Display::Quiet,
        OutputMode::Table if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() => Display::Live,
        OutputMode::Table => Display::Lines,
    };
    let mut progress = Progress::new(&task, display);
    let events_path = format!("{path}/events");
    let events = async {
        // A stream can end before the task does (its server stopping, or losing its database): follow again from
        // the last event seen, on whichever server answers, until the task's final event.
        let (mut after, mut reconnects) = (None::<i64>, 0u32);
        loop {
            let query: Vec<(&str, String)> = after.map(|a| vec![("after", a.to_string())]).unwrap_or_default();
            let mut ended = false;
            context
                .client
                .follow(&events_path, &query, |event| {
                    progress.apply(&event);
                    after = event.data["id"].as_i64().or(after);
                    reconnects = 0;
                    ended = event.kind == "task" && TASK_FINAL.contains(&event.data["to_state"].as_str().unwrap_or(""));
                    !ended
                })
                .await?;
            if ended {
                return Ok::<(), tasker_client::ClientError>(());
            }
            reconnects += 1;
            if reconnects > STREAM_RECONNECTS {
                return Err(tasker_client::ClientError::Unreachable(format!(
                    "the event stream of task {task_uuid} kept ending before the task did"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250 * u64::from(reconnects.min(8)))).await;
        }
    };
    let outcome: CliResult = match limit {
        // The live display is finished below whatever happened, so no bar is left on the screen.
        Some(limit) => match tokio::time::timeout(limit, events).await {
            Ok(followed) => followed.map_err(Into::into),
            Err(_) => Err(CliError::Unavailable(format!(
                "task {task_uuid} did not end within {}",
                timeout.unwrap_or_default()
            ))),
        },
        None => events.await.map_err(Into::into),
    };
    progress.finish();
    outcome?;
    let task = context.client.get(&path).await?;
    match context.output {
        OutputMode::Json => print_json(&task),
        OutputMode::Table => print_text(&progress.summary(&task)),
    }
    let state = cell(&task["state"]);
    if state == "error" || state == "cancelled" {
        let detail: String = task["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["state"] == "error")
            .map(|s| format!(": step {}: {}", cell(&s["name"]), s["error"]["message"].as_str().unwrap_or("failed")))
            .collect();
        return Err(CliError::TaskFailed { task: task_uuid.to_string(), state, detail });
    }
    Ok(())
}

async fn act(context: &Context, task_uuid: &str, action: &str, reason: Option<String>) -> CliResult {
    let body = reason.map(|r| json!({"reason": r})).unwrap_or_else(|| json!({}));
    let task = context.client.post(&format!("/v1/tasks/{}/{action}", segment(task_uuid)), body).await?;
    match context.output {
        OutputMode::Json => print_json(&task),
        OutputMode::Table => print_text(&describe(&task)),
    }
    Ok(())
}

/// A task for people: its header and a table of its steps.
pub fn describe(task: &Value) -> String {
    let rows: Vec<Vec<String>> = task["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            // A result when there is one (a resolved step keeps the error it failed with, too).
            let outcome = if s["result"].is_null() { cell(&s["error"]) } else { cell(&s["result"]) };
            vec![
                cell(&s["name"]),
                cell(&s["state"]),
                format!("{}/{}", cell(&s["attempts"]), cell(&s["max_attempts"])),
                outcome,
                cell(&s["reason"]),
            ]
        })
        .collect();
    format!(
        "task      {}\ntemplate  {}/{} {}\nstate     {}\ncreated   {}\ncompleted {}\n\n{}",
        cell(&task["task_uuid"]),
        cell(&task["namespace"]),
        cell(&task["name"]),
        cell(&task["version"]),
        cell(&task["state"]),
        cell(&task["created_at"]),
        cell(&task["completed_at"]),
        table(&["STEP", "STATE", "ATTEMPTS", "RESULT / ERROR", "REASON"], &rows)
    )
}
