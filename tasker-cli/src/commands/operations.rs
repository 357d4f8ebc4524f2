//! `tasker step resolve` and `tasker dlq list`.

use super::segment;
use super::task::describe;
use crate::cli::{DlqCommand, StepCommand};
use crate::error::{CliError, CliResult};
use crate::input::json_arg;
use crate::output::{cell, print_json, print_text, table, OutputMode};
use crate::Context;
use serde_json::json;

/// Run a `step` command.
pub async fn step(context: &Context, command: StepCommand) -> CliResult {
    let StepCommand::Resolve { task_uuid, step, result, reason } = command;
    let result = json_arg("--result", &result)?;
    let task_path = format!("/v1/tasks/{}", segment(&task_uuid));
    let step_uuid = if looks_like_uuid(&step) {
        step
    } else {
        let task = context.client.get(&task_path).await?;
        task["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == step.as_str())
            .map(|s| cell(&s["step_uuid"]))
            .ok_or_else(|| CliError::NotFound(format!("task {task_uuid} has no step named `{step}`")))?
    };
    let mut body = json!({"result": result});
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    let task = context.client.post(&format!("{task_path}/steps/{}/resolve", segment(&step_uuid)), body).await?;
    match context.output {
        OutputMode::Json => print_json(&task),
        OutputMode::Table => print_text(&describe(&task)),
    }
    Ok(())
}

fn looks_like_uuid(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Run a `dlq` command.
pub async fn dlq(context: &Context, command: DlqCommand) -> CliResult {
    let DlqCommand::List { namespace, limit } = command;
    let mut query = vec![("limit", limit.to_string())];
    query.extend(namespace.map(|n| ("namespace", n)));
    let page = context.client.get_query("/v1/dlq", &query).await?;
    match context.output {
        OutputMode::Json => print_json(&page),
        OutputMode::Table => {
            let mut rows = Vec::new();
            for entry in page["entries"].as_array().into_iter().flatten() {
                for step in entry["steps"].as_array().into_iter().flatten() {
                    rows.push(vec![
                        cell(&entry["task_uuid"]),
                        format!("{}/{}", cell(&entry["namespace"]), cell(&entry["name"])),
                        cell(&entry["failed_at"]),
                        cell(&step["name"]),
                        cell(&step["attempts"]),
                        step["error"]["message"].as_str().map(String::from).unwrap_or_else(|| cell(&step["error"])),
                    ]);
                }
            }
            print_text(&table(&["TASK", "TEMPLATE", "FAILED AT", "STEP", "ATTEMPTS", "ERROR"], &rows));
        }
    }
    Ok(())
}
