//! `GET /v1/analytics`: counts by state, per minute, per template and the slowest steps, read from tasks and
//! the audit trail of the tasks created in the window.

mod common;

use axum::http::StatusCode;
use common::TestCluster;
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn analytics_count_what_happened_in_the_window(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await);
    }
    ids.push(c.create("error_workflow", "permanent_error", json!({})).await);
    ids.push(c.create("retry_workflow", "retry_mechanics", json!({"fail_count": 1})).await);
    for id in &ids {
        c.wait_terminal(id, 30).await;
    }
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, a) = c.get(&format!("/v1/analytics?since={}", since.replace('+', "%2B"))).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["tasks"], json!({"created": 6, "complete": 5, "error": 1, "cancelled": 0, "running": 0}));
    let sum = |field: &str| a["per_minute"].as_array().unwrap().iter().map(|m| m[field].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("created"), sum("completed"), sum("failed")), (6, 5, 1));

    let template = |name: &str| -> Value {
        a["templates"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap_or(Value::Null)
    };
    let linear = template("mathematical_sequence");
    assert_eq!((linear["completed"].as_i64(), linear["failed"].as_i64()), (Some(4), Some(0)));
    assert!(linear["p50_ms"].as_f64().unwrap() > 0.0 && linear["p95_ms"].as_f64() >= linear["p50_ms"].as_f64());
    assert_eq!(template("permanent_error")["failed"], 1);
    assert_eq!(template("permanent_error")["p50_ms"], Value::Null, "no completed task, no duration");

    let steps = a["slowest_steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 10);
    let flaky = steps.iter().find(|s| s["step"] == "flaky_step").expect("the flaky step ran");
    assert_eq!((flaky["count"].as_i64(), flaky["retries"].as_i64()), (Some(1), Some(1)));
    let p95: Vec<f64> = steps.iter().map(|s| s["p95_ms"].as_f64().unwrap()).collect();
    assert!(p95.windows(2).all(|w| w[0] >= w[1]), "slowest first: {p95:?}");

    let (_, only) = c.get(&format!("/v1/analytics?since={}&namespace=error_workflow", since.replace('+', "%2B"))).await;
    assert_eq!(only["tasks"]["created"], 1);
    let (_, later) = c.get("/v1/analytics?since=2999-01-01T00:00:00Z").await;
    assert_eq!((later["tasks"]["created"].as_i64(), later["per_minute"].clone()), (Some(0), json!([])));
    let (_, default) = c.get("/v1/analytics").await;
    assert_eq!(default["tasks"]["created"], 6, "the default window is the last hour");
    let (status, body) = c.get("/v1/analytics?since=yesterday").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("since")));
    c.stop().await;
}
