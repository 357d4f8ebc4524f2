//! `tasker stats` (the analytics endpoint) and `tasker health`.

use crate::error::CliResult;
use crate::input::duration;
use crate::output::{cell, print_json, print_text, table, OutputMode};
use crate::Context;

/// `tasker stats [--since DURATION] [--namespace NS]`.
pub async fn stats(context: &Context, since: &str, namespace: Option<String>) -> CliResult {
    let window = chrono::Duration::from_std(duration(since)?).unwrap_or(chrono::Duration::MAX);
    let from = chrono::Utc::now().checked_sub_signed(window).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let mut query = vec![("since", from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))];
    query.extend(namespace.map(|n| ("namespace", n)));
    let stats = context.client.get_query("/v1/analytics", &query).await?;
    if context.output == OutputMode::Json {
        print_json(&stats);
        return Ok(());
    }
    let t = &stats["tasks"];
    let minutes = stats["per_minute"].as_array().map(Vec::len).unwrap_or(0).max(1);
    let completed: f64 =
        stats["per_minute"].as_array().into_iter().flatten().filter_map(|m| m["completed"].as_f64()).sum();
    print_text(&format!(
        "since {}: {} created, {} complete, {} error, {} cancelled, {} running; {:.1} completed per active minute\n",
        cell(&stats["since"]),
        cell(&t["created"]),
        cell(&t["complete"]),
        cell(&t["error"]),
        cell(&t["cancelled"]),
        cell(&t["running"]),
        completed / minutes as f64
    ));
    let templates: Vec<Vec<String>> = stats["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            vec![
                format!("{}/{} {}", cell(&s["namespace"]), cell(&s["name"]), cell(&s["version"])),
                cell(&s["completed"]),
                cell(&s["failed"]),
                cell(&s["p50_ms"]),
                cell(&s["p95_ms"]),
            ]
        })
        .collect();
    print_text(&format!("{}\n", table(&["TEMPLATE", "COMPLETED", "FAILED", "P50 MS", "P95 MS"], &templates)));
    let steps: Vec<Vec<String>> = stats["slowest_steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            vec![
                format!("{}/{}", cell(&s["namespace"]), cell(&s["name"])),
                cell(&s["step"]),
                cell(&s["count"]),
                cell(&s["p50_ms"]),
                cell(&s["p95_ms"]),
                cell(&s["retries"]),
            ]
        })
        .collect();
    print_text(&table(&["TEMPLATE", "SLOWEST STEPS", "RUNS", "P50 MS", "P95 MS", "RETRIES"], &steps));
    Ok(())
}

/// `tasker health`: the server's readiness (exit 3 when it is not ready).
pub async fn health(context: &Context) -> CliResult {
    let ready = context.client.get("/health/ready").await?;
    match context.output {
        OutputMode::Json => print_json(&ready),
        OutputMode::Table => {
            let rows: Vec<Vec<String>> = ready["checks"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, check)| vec![name.clone(), cell(&check["status"])])
                .collect();
            print_text(&format!("{}\n{}", cell(&ready["status"]), table(&["CHECK", "STATUS"], &rows)));
        }
    }
    Ok(())
}
