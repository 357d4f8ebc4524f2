//! `tasker template list | show | register | deactivate`.

use super::split_key;
use crate::cli::TemplateCommand;
use crate::error::{CliError, CliResult};
use crate::input::document;
use crate::output::{cell, print_json, print_text, table, OutputMode};
use crate::Context;
use serde_json::{json, Value};
use tasker_client::Body;
use tasker_client::Method;

/// Run a `template` command.
pub async fn run(context: &Context, command: TemplateCommand) -> CliResult {
    let client = &context.client;
    let output = match command {
        TemplateCommand::List => {
            let list = client.get("/v1/templates").await?;
            let rows = list["templates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let steps = t["steps"].as_array().map(Vec::len).unwrap_or(0);
                    vec![
                        cell(&t["namespace"]),
                        cell(&t["name"]),
                        cell(&t["version"]),
                        steps.to_string(),
                        cell(&t["description"]),
                    ]
                })
                .collect::<Vec<_>>();
            (list, table(&["NAMESPACE", "NAME", "VERSION", "STEPS", "DESCRIPTION"], &rows))
        }
        TemplateCommand::Show { template } => {
            let key = split_key(&template, 2)?;
            let versions = client.get(&format!("/v1/templates/{}/{}", key[0], key[1])).await?;
            let rows = versions["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    let steps: Vec<String> =
                        v["definition"]["steps"].as_array().into_iter().flatten().map(|s| cell(&s["name"])).collect();
                    vec![cell(&v["version"]), cell(&v["active"]), cell(&v["registered_at"]), steps.join(", ")]
                })
                .collect::<Vec<_>>();
            (versions, table(&["VERSION", "ACTIVE", "REGISTERED", "STEPS"], &rows))
        }
        TemplateCommand::Register { files } => {
            let mut registered = Vec::new();
            let mut lines = Vec::new();
            for file in files {
                let text =
                    std::fs::read_to_string(&file).map_err(|e| CliError::Input(format!("cannot read {file}: {e}")))?;
                let body = match serde_json::from_str::<Value>(&text) {
                    Ok(json) => Body::Json(json),
                    Err(_) => {
                        document(&file, &text)?;
                        Body::Yaml(text)
                    }
                };
                let (status, key) = client.send_for_status(Method::POST, "/v1/templates", &[], Some(body)).await?;
                let outcome = if status == 201 { "registered" } else { "unchanged" };
                lines.push(format!(
                    "{outcome}  {}/{} {}  ({file})",
                    cell(&key["namespace"]),
                    cell(&key["name"]),
                    cell(&key["version"])
                ));
                registered.push(json!({"file": file, "outcome": outcome, "template": key}));
            }
            (json!({"registered": registered}), lines.join("\n"))
        }
        TemplateCommand::Deactivate { template } => {
            let key = split_key(&template, 3)?;
            let path = format!("/v1/templates/{}/{}/{}", key[0], key[1], key[2]);
            let answer = client.send(Method::DELETE, &path, &[], None).await?;
            (answer, format!("deactivated {template}: no new tasks on it; running ones finish"))
        }
    };
    match context.output {
        OutputMode::Json => print_json(&output.0),
        OutputMode::Table => print_text(&output.1),
    }
    Ok(())
}
