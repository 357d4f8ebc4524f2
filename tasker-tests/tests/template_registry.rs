//! Templates registered through the API: versions, idempotent registration, conflicts, validation naming the
//! field, retiring a version, and tasks keeping the version they were created with.

mod common;

use axum::http::StatusCode;
use common::TestCluster;
use serde_json::{json, Value};
use sqlx::PgPool;

fn pipeline(version: &str, steps: Value) -> Value {
    json!({"namespace": "registry_test", "name": "pipeline", "version": version, "steps": steps})
}

fn two_steps() -> Value {
    json!([{"name": "a", "handler": "registry_test.work"}, {"name": "b", "handler": "registry_test.work", "depends_on": ["a"]}])
}

async fn post_raw(c: &TestCluster, content_type: &str, body: &str) -> (StatusCode, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::post("/v1/templates")
        .header("content-type", content_type)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let res = c.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[sqlx::test(migrations = false)]
async fn versions_register_once_are_chosen_newest_first_and_can_be_retired(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let (status, body) = c.post("/v1/templates", pipeline("1.0.0", two_steps())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"namespace": "registry_test", "name": "pipeline", "version": "1.0.0"}));
    let (status, _) = c.post("/v1/templates", pipeline("1.0.0", two_steps())).await;
    assert_eq!(status, StatusCode::OK, "the same content again is a no-op");
    let (status, body) = c.post("/v1/templates", pipeline("1.0.0", json!([{"name": "only", "handler": "x.y"}]))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");

    let yaml = "namespace: registry_test\nname: pipeline\nversion: 1.10.0\nsteps:\n  - {name: a, handler: registry_test.work}\n  - {name: c, handler: registry_test.work, depends_on: [a]}\n";
    let (status, body) = post_raw(&c, "application/yaml", yaml).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, listed) = c.get("/v1/templates/registry_test/pipeline").await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<(&str, bool)> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap(), v["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(versions, [("1.10.0", true), ("1.0.0", true)], "newest first, numerically");
    assert!(listed["versions"][0]["registered_at"].is_string());

    // Without a version, the newest active one; a task keeps the steps of the version it was created with.
    let newest = c.create("registry_test", "pipeline", json!({})).await;
    let (status, older) = c
        .post("/v1/tasks", json!({"namespace": "registry_test", "name": "pipeline", "version": "1.0.0", "context": {}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{older}");
    let (_, newest) = c.get(&format!("/v1/tasks/{newest}")).await;
    let names = |t: &Value| {
        t["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!((newest["version"].as_str(), names(&newest)), (Some("1.10.0"), vec!["a".to_string(), "c".to_string()]));
    assert_eq!((older["version"].as_str(), names(&older)), (Some("1.0.0"), vec!["a".to_string(), "b".to_string()]));

    // Retired: no new tasks on it, named in the 404; the previous version is the newest again.
    let (status, _) = c.request("DELETE", "/v1/templates/registry_test/pipeline/1.10.0", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = c
        .post(
            "/v1/tasks",
            json!({"namespace": "registry_test", "name": "pipeline", "version": "1.10.0", "context": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().contains("1.10.0"), "{body}");
    let fallback = c.create("registry_test", "pipeline", json!({})).await;
    let (_, fallback) = c.get(&format!("/v1/tasks/{fallback}")).await;
    assert_eq!(fallback["version"], "1.0.0");
    let (_, newest_again) = c.get(&format!("/v1/tasks/{}", newest["task_uuid"].as_str().unwrap())).await;
    assert_eq!(newest_again["version"], "1.10.0", "a task created on a retired version keeps it");
    let (_, listed) = c.get("/v1/templates/registry_test/pipeline").await;
    assert_eq!(listed["versions"][0]["active"], false);

    let (status, _) = c.request("DELETE", "/v1/templates/registry_test/pipeline/9.9.9", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c.get("/v1/templates/registry_test/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_invalid_template_is_refused_naming_the_field(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let cases = [
        (
            json!([{"name": "a", "handler": "h.x", "depends_on": ["b"]}, {"name": "b", "handler": "h.x", "depends_on": ["a"]}]),
            "depends_on",
        ),
        (json!([{"name": "a", "handler": "h.x", "depends_on": ["ghost"]}]), "depends_on"),
        (json!([{"name": "a", "handler": "h.x"}, {"name": "a", "handler": "h.x"}]), "steps[1].name"),
        (json!([{"name": "a", "handler": "h.x", "retry": {"max_attempts": 0}}]), "steps[0].retry.max_attempts"),
        (json!([]), "steps"),
    ];
    for (steps, field) in cases {
        let (status, body) = c.post("/v1/templates", pipeline("1.0.0", steps.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{steps} -> {body}");
        assert!(
            body["error"]["field"].as_str().unwrap_or_default().contains(field),
            "{steps}: wanted {field}, got {body}"
        );
    }
    let mut bad_schema = pipeline("1.0.0", two_steps());
    bad_schema["input_schema"] = json!({"type": "no-such-type"});
    let (status, body) = c.post("/v1/templates", bad_schema).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("input_schema")),
        "{body}"
    );
    let (status, body) = post_raw(&c, "text/plain", "namespace: x").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("content-type")));
    let (status, _) = post_raw(&c, "application/yaml", "steps: [unclosed").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, listed) = c.get("/v1/templates/registry_test/pipeline").await;
    assert_eq!(listed["error"]["code"], "not_found", "nothing invalid was registered");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_running_worker_serves_a_namespace_registered_after_it_started_if_it_has_the_handlers(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 1).await;
    let squares = json!({"namespace": "registry_live", "name": "squares", "version": "1.0.0", "steps": [
        {"name": "first", "handler": "linear_workflow.square"},
        {"name": "second", "handler": "linear_workflow.square", "depends_on": ["first"]}]});
    let (status, body) = c.post("/v1/templates", squares).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let unknown = json!({"namespace": "registry_unknown", "name": "x", "version": "1.0.0",
        "steps": [{"name": "only", "handler": "nobody.has_this"}]});
    assert_eq!(c.post("/v1/templates", unknown).await.0, StatusCode::CREATED);

    let task = c.create("registry_live", "squares", json!({"even_number": 2})).await;
    let done = c.wait_terminal(&task, 15).await;
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(common::value(&done, "second"), "16");
    // The worker's readiness lists the queue it started serving.
    let (status, ready) = common::request_on(&c.worker_routers[0], "GET", "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    let queues = ready["checks"]["consumers"]["queues"].as_array().unwrap();
    assert!(queues.iter().any(|q| q == "worker_registry_live_queue"), "{ready}");
    assert!(!queues.iter().any(|q| q == "worker_registry_unknown_queue"), "{ready}");

    // A namespace whose handler this worker lacks is left alone: its step stays enqueued.
    let orphan = c.create("registry_unknown", "x", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, orphan) = c.get(&format!("/v1/tasks/{orphan}")).await;
    assert_eq!(common::step(&orphan, "only")["state"], "enqueued");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_key_sent_without_a_version_finds_its_task_after_a_newer_version_is_registered(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    assert_eq!(c.post("/v1/templates", pipeline("1.0.0", two_steps())).await.0, StatusCode::CREATED);
    let request =
        json!({"namespace": "registry_test", "name": "pipeline", "context": {}, "idempotency_key": "order-7"});
    let (status, first) = c.post("/v1/tasks", request.clone()).await;
    assert_eq!((status, first["version"].as_str()), (StatusCode::CREATED, Some("1.0.0")), "{first}");

    // A newer version is registered before the client retries.
    assert_eq!(c.post("/v1/templates", pipeline("2.0.0", two_steps())).await.0, StatusCode::CREATED);
    let (status, retried) = c.post("/v1/tasks", request.clone()).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["task_uuid"], first["task_uuid"]);
    let (status, body) = c
        .post(
            "/v1/tasks",
            json!({"namespace": "registry_test", "name": "pipeline",
                                                    "context": {"other": 1}, "idempotency_key": "order-7"}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("idempotency_conflict")));
    // Naming a version keeps keys per version, as before.
    let (status, v2) = c
        .post(
            "/v1/tasks",
            json!({"namespace": "registry_test", "name": "pipeline", "version": "2.0.0",
                                                  "context": {}, "idempotency_key": "order-7"}),
        )
        .await;
    assert_eq!((status, v2["version"].as_str()), (StatusCode::CREATED, Some("2.0.0")), "{v2}");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_version_another_server_registers_meanwhile_is_found_not_an_error(pool: PgPool) {
    use tasker_orchestration::OrchestrationServer;
    let server = OrchestrationServer::new(common::component_pool(&pool, 4).await, common::test_config()).await.unwrap();
    let yaml = "namespace: registry_race\nname: pipeline\nversion: 1.0.0\nsteps:\n  - {name: a, handler: registry_race.work}\n";
    let template = tasker_shared::template::parse_template(yaml).unwrap();
    let definition = serde_json::to_value(&template).unwrap();
    // Another server's registration of the same version, not committed yet.
    sqlx::query("INSERT INTO tasker.namespaces (name, queue_name) VALUES ('registry_race', 'worker_registry_race_queue') ON CONFLICT DO NOTHING")
        .execute(&pool)
        .await
        .unwrap();
    let mut other = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO tasker.task_templates (namespace, name, version, definition, content_hash)
         VALUES ('registry_race', 'pipeline', '1.0.0', $1, md5($1::text))",
    )
    .bind(&definition)
    .execute(&mut *other)
    .await
    .unwrap();
    let catalog = server.catalog();
    let registering =
        tokio::spawn(async move { catalog.register(template, std::path::Path::new("race.yaml")).await.map(|_| ()) });
    common::wait_for_lock_waiter(&pool).await;
    assert!(!registering.is_finished(), "it waits for the other registration");
    other.commit().await.unwrap();
    registering.await.unwrap().expect("the version the other server registered is found");
}
