//! `GET /v1/dlq` and the `tasker_dead_letter_tasks` gauge: failed tasks, newest failure first, paged; an entry
//! leaves when its task is cancelled, retried or resolved.

mod common;

use axum::http::StatusCode;
use common::TestCluster;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn dead_letters_list_failed_tasks_newest_first_until_an_operator_acts(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let mut failed = Vec::new();
    for _ in 0..3 {
        let id = c.create("error_workflow", "permanent_error", json!({})).await;
        c.wait_terminal(&id, 30).await;
        failed.push(id);
    }
    let done = c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    c.wait_terminal(&done, 30).await;

    let (status, page) = c.get("/v1/dlq").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["entries"].as_array().unwrap().iter().map(|e| e["task_uuid"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = failed.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first);
    let entry = &page["entries"][0];
    assert_eq!(
        (entry["namespace"].as_str(), entry["name"].as_str()),
        (Some("error_workflow"), Some("permanent_error"))
    );
    assert!(entry["failed_at"].is_string());
    let steps = entry["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!((steps[0]["name"].as_str(), steps[0]["attempts"].as_i64()), (Some("permanent_failure_step"), Some(1)));
    assert_eq!(steps[0]["error"]["error_class"], "PermanentFailure");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);

    // Pages of two: the cursor carries on where the first page stopped.
    let (_, first) = c.get("/v1/dlq?limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    let (_, second) = c.get(&format!("/v1/dlq?limit=2&cursor={cursor}")).await;
    let paged: Vec<&str> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["entries"].as_array().unwrap())
        .map(|e| e["task_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(paged, newest_first);
    assert_eq!(second["next_cursor"], serde_json::Value::Null);

    let (_, other) = c.get("/v1/dlq?namespace=linear_workflow").await;
    assert_eq!(other["entries"], json!([]));
    let (status, body) = c.get("/v1/dlq?cursor=garbage").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("cursor")));

    let gauge = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("tasker_dead_letter_tasks{namespace=\"error_workflow\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(gauge(&metrics_text(&c).await), Some(3.0));

    // Cancelling one takes it off the list and the gauge.
    let (status, _) = c.post(&format!("/v1/tasks/{}/cancel", failed[0]), json!({"reason": "given up"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = c.get("/v1/dlq?namespace=error_workflow").await;
    assert_eq!(after["entries"].as_array().unwrap().len(), 2);
    assert_eq!(gauge(&metrics_text(&c).await), Some(2.0));
    c.stop().await;
}

async fn metrics_text(c: &TestCluster) -> String {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
    let res = c.router.clone().oneshot(req).await.unwrap();
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}
