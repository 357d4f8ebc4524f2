//! `tasker events`: every task's events as they happen (one JSON document per line with `--output json`).

use crate::error::CliResult;
use crate::output::{cell, print_line, OutputMode};
use crate::Context;
use serde_json::Value;

/// Follow `/v1/events` until interrupted.
pub async fn follow_all(context: &Context, namespace: Option<String>, after: Option<i64>) -> CliResult {
    let mut query = Vec::new();
    query.extend(namespace.map(|ns| ("namespace", ns)));
    query.extend(after.map(|a| ("after", a.to_string())));
    let output = context.output;
    context
        .client
        .follow("/v1/events", &query, |event| match output {
            OutputMode::Json => print_line(&event.data.to_string()),
            OutputMode::Table => print_line(&line(&event.kind, &event.data)),
        })
        .await
        .map_err(Into::into)
}

/// One event as a line: id, time, task, step, transition, reason.
fn line(kind: &str, e: &Value) -> String {
    let subject = if kind == "step" { format!("step {}", cell(&e["step_name"])) } else { "task".to_string() };
    let reason = e["reason"].as_str().map(|r| format!("  ({r})")).unwrap_or_default();
    format!(
        "{:>8}  {}  {}  {}  {}: {} -> {}{reason}",
        cell(&e["id"]),
        cell(&e["at"]),
        cell(&e["namespace"]),
        cell(&e["task_uuid"]),
        subject,
        e["from_state"].as_str().unwrap_or("-"),
        cell(&e["to_state"])
    )
}
