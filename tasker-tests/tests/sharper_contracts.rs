//! Contracts a new user tripped over (issue 19 §4): a reused idempotency key with another context is a conflict;
//! the input schema checks `format` and reports every violation; a known route asked with another method answers
//! `405` in the error shape with `Allow`.

mod common;

use axum::http::StatusCode;
use common::TestCluster;
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn an_idempotency_key_reused_with_another_context_is_a_conflict(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 0).await;
    let request = |n: u64| {
        json!({"namespace": "linear_workflow", "name": "mathematical_sequence", "context": {"even_number": n},
               "idempotency_key": "order-42"})
    };
    let (status, first) = c.post("/v1/tasks", request(2)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = c.post("/v1/tasks", request(2)).await;
    assert_eq!((status, &again["task_uuid"]), (StatusCode::OK, &first["task_uuid"]), "same key, same context");
    let (status, body) = c.post("/v1/tasks", request(4)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_conflict");
    assert_eq!(body["error"]["field"], "idempotency_key");
    assert!(body["error"]["message"].as_str().unwrap().contains(first["task_uuid"].as_str().unwrap()), "{body}");
    let tasks = common::audit::scalar(&pool, "SELECT count(*) FROM tasker.tasks").await;
    assert_eq!(tasks, 1, "nothing was created by the conflicting request");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn the_input_schema_checks_formats_and_reports_every_violation(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 0).await;
    let template = json!({
        "namespace": "contracts", "name": "signup", "version": "1",
        "input_schema": {"type": "object", "required": ["email", "at", "id", "site", "age"], "properties": {
            "email": {"type": "string", "format": "email"}, "at": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"}, "site": {"type": "string", "format": "uri"},
            "age": {"type": "integer", "minimum": 18}}},
        "steps": [{"name": "a", "handler": "contracts.a"}]
    });
    let (status, body) = c.post("/v1/templates", template).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let create =
        |context: Value| c.post("/v1/tasks", json!({"namespace": "contracts", "name": "signup", "context": context}));

    let (status, body) =
        create(json!({"email": "not an email", "at": "yesterday", "id": "42", "site": "::", "age": 3})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error = &body["error"];
    let errors: Vec<(&str, &str)> = error["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    let mut fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["context.age", "context.at", "context.email", "context.id", "context.site"], "{body}");
    assert_eq!(
        (error["field"].as_str().unwrap(), error["message"].as_str().unwrap()),
        errors[0],
        "the first is also on top"
    );
    assert!(errors.iter().any(|(f, m)| *f == "context.email" && m.contains("email")), "{body}");

    // A missing property is named too, beside the other violations.
    let (status, body) = create(json!({"email": "a@example.com", "at": "2026-12-02T10:00:00Z",
                                        "id": "01939f4e-0000-7000-8000-000000000000", "site": "https://example.com"}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "context.age");
    let (status, body) = create(json!({"email": "a@example.com", "at": "2026-12-02T10:00:00Z",
                                        "id": "01939f4e-0000-7000-8000-000000000000", "site": "https://example.com", "age": 30}))
    .await;
    assert_eq!(status, StatusCode::CREATED, "valid formats pass: {body}");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_method_a_route_does_not_have_answers_405_with_allow(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    for (method, path, allowed) in [
        ("DELETE", "/v1/tasks", vec!["GET", "POST"]),
        ("PATCH", "/v1/tasks/01939f4e-0000-7000-8000-000000000000", vec!["GET"]),
        ("PUT", "/v1/templates", vec!["GET", "POST"]),
        ("POST", "/v1/workers", vec!["GET"]),
    ] {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let req = axum::http::Request::builder().method(method).uri(path).body(axum::body::Body::empty()).unwrap();
        let res = c.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let allow = res.headers().get("allow").map(|a| a.to_str().unwrap().to_string()).unwrap_or_default();
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).filter(|m| *m != "HEAD").collect();
        listed.sort_unstable();
        assert_eq!(listed, allowed, "{method} {path}: Allow = {allow}");
        let body: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    }
    c.stop().await;
}

/// `a → b → c → d`: `b` returns null, `c` reads its grandparent `a` and its parent `b`, `d` reads a step that is
/// not upstream of it.
const CHAIN: &str = "namespace: reads\nname: chain\nversion: '1'\nsteps:\n\
  - {name: a, handler: reads.a}\n\
  - {name: b, handler: reads.null, depends_on: [a]}\n\
  - {name: c, handler: reads.upstream, depends_on: [b]}\n\
  - {name: d, handler: reads.typo, depends_on: [c], retry: {max_attempts: 3}}\n";

#[sqlx::test(migrations = false)]
async fn a_handler_reads_any_upstream_step_and_a_step_that_is_not_upstream_fails_naming_those_that_are(pool: PgPool) {
    use std::sync::Arc;
    use tasker_worker_foundation::{handler_fn, StepHandler};
    let dir = std::env::temp_dir().join(format!("tasker-reads-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
    let mut config = common::test_config();
    config.templates.path = dir;
    let handlers: Vec<(&'static str, Arc<dyn StepHandler>)> = vec![
        ("reads.a", Arc::new(handler_fn(|_ctx| async { Ok(json!({"token": "from a"})) }))),
        ("reads.null", Arc::new(handler_fn(|_ctx| async { Ok(Value::Null) }))),
        (
            "reads.upstream",
            Arc::new(handler_fn(|ctx| async move {
                Ok(json!({"a": ctx.dependency_result("a")?, "b": ctx.dependency_result("b")?,
                          "parents": ctx.dependency_results.keys().collect::<Vec<_>>()}))
            })),
        ),
        ("reads.typo", Arc::new(handler_fn(|ctx| async move { Ok(ctx.dependency_result("validate")?.clone()) }))),
    ];
    let c = TestCluster::start_with_handlers(pool, 1, 1, config, handlers).await;
    let uuid = c.create("reads", "chain", json!({})).await;
    let task = c.wait_terminal(&uuid, 30).await;
    assert_eq!(task["state"], "error", "{task}");
    assert_eq!(
        common::step(&task, "c")["result"],
        json!({"a": {"token": "from a"}, "b": null, "parents": ["b"]}),
        "a grandparent is readable by name; dependency_results stays the direct parents"
    );
    let d = common::step(&task, "d");
    assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("error"), Some(1)), "permanent at once: {d}");
    assert_eq!(d["error"]["error_class"], "UnknownDependency");
    assert_eq!(d["error"]["message"], "step `validate` is not upstream of `d`; the steps upstream are: a, b, c");
    c.stop().await;
}

/// The server's log says which task failed, at which step, after how many attempts and why; the worker's says
/// each step failure and what follows it. Real processes, their logs read back.
#[sqlx::test(migrations = false)]
async fn the_server_logs_failed_tasks_and_the_worker_logs_step_failures(pool: PgPool) {
    use common::process::{create_task, database_url, start_server, start_worker};
    let url = database_url(&pool).await;
    let server = start_server("server", &url, &[]).await;
    let worker = start_worker("worker", &url, &[]).await;
    let task = create_task(server.port, "error_workflow", "permanent_error", json!({})).await;
    common::audit::wait_all_terminal(&pool, 30).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let expected = format!("task_uuid={task}");
    while !server.log().lines().any(|l| l.contains("task failed") && l.contains(&expected)) {
        assert!(tokio::time::Instant::now() < deadline, "server log:\n{}", common::process::tail(&server.log(), 20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let line = server.log().lines().find(|l| l.contains("task failed") && l.contains(&expected)).unwrap().to_string();
    for part in [
        "WARN",
        "namespace=error_workflow",
        "template=permanent_error",
        "step=permanent_failure_step",
        "attempts=1",
        "can never succeed",
    ] {
        assert!(line.contains(part), "`{line}` lacks {part}");
    }
    let failure = worker.log().lines().find(|l| l.contains("step failed") && l.contains(&expected)).map(str::to_string);
    let failure = failure.unwrap_or_else(|| panic!("worker log:\n{}", common::process::tail(&worker.log(), 20)));
    for part in
        ["WARN", "step=permanent_failure_step", "attempt=1", "max_attempts=3", "no retry: the error is permanent"]
    {
        assert!(failure.contains(part), "`{failure}` lacks {part}");
    }
}

#[sqlx::test(migrations = false)]
async fn listings_filter_by_name_tag_and_time_and_steps_keep_their_history(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 1).await;
    let create = |namespace: &str, name: &str, context: Value, tags: Value| {
        c.post("/v1/tasks", json!({"namespace": namespace, "name": name, "context": context, "tags": tags}))
    };
    let (_, linear) =
        create("linear_workflow", "mathematical_sequence", json!({"even_number": 2}), json!(["a", "b"])).await;
    let (_, diamond) = create("diamond_workflow", "diamond_pattern", json!({"even_number": 2}), json!(["b"])).await;
    let (_, flaky) = create("retry_workflow", "retry_mechanics", json!({"fail_count": 1}), json!([])).await;
    for t in [&linear, &diamond, &flaky] {
        assert_eq!(c.wait_terminal(t["task_uuid"].as_str().unwrap(), 30).await["state"], "complete");
    }
    let c = &c;
    let listed = |query: &'static str| async move {
        let (status, body) = c.get(&format!("/v1/tasks?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["tasks"].as_array().unwrap().iter().map(|t| t["task_uuid"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(listed("name=mathematical_sequence").await, [linear["task_uuid"].clone()]);
    assert_eq!(listed("tag=b").await, [diamond["task_uuid"].clone(), linear["task_uuid"].clone()]);
    assert_eq!(listed("tag=a&namespace=linear_workflow").await, [linear["task_uuid"].clone()]);
    assert_eq!(listed("created_after=2999-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(listed("created_before=2999-01-01T00:00:00Z&created_after=2000-01-01T00:00:00Z").await.len(), 3);

    let (_, page) = c.get("/v1/tasks?name=mathematical_sequence").await;
    assert_eq!(page["tasks"][0]["step_counts"], json!({"complete": 4}), "{page}");
    assert_eq!(page["tasks"][0]["steps"], json!([]), "listings carry counts, not steps");

    for (query, field) in [("created_after=yesterday", "created_after"), ("state=done", "state"), ("tag=%00", "tag")] {
        let (status, body) = c.get(&format!("/v1/tasks?{query}")).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{body}");
    }
    let (_, body) = c.get("/v1/tasks?state=done").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("steps_in_process") && message.contains("resolved_manually"), "{message}");

    // A step that failed once: when its last attempt started, who ran it, and the first attempt's error.
    let (_, task) = c.get(&format!("/v1/tasks/{}", flaky["task_uuid"].as_str().unwrap())).await;
    let step = common::step(&task, "flaky_step");
    assert_eq!(step["attempts"], 2);
    assert!(step["started_at"].is_string() && step["worker_id"].is_string(), "{step}");
    assert!(step["next_attempt_at"].is_null(), "{step}");
    let errors = step["attempt_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{step}");
    assert_eq!((errors[0]["attempt"].as_i64(), errors[0]["retryable"].as_bool()), (Some(1), Some(true)), "{step}");
    assert!(errors[0]["message"].as_str().unwrap().contains("flaky failure 1 of 1"), "{step}");
    assert!(errors[0]["at"].is_string());
    assert_eq!(task["step_counts"], json!({"complete": 1}));
}
