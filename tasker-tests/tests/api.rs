//! The REST contract through the real router: status codes, the error shape, idempotency, listings, probes.

mod common;

use common::TestCluster;
use serde_json::json;
use sqlx::PgPool;

const LINEAR: (&str, &str) = ("linear_workflow", "mathematical_sequence");

#[sqlx::test(migrations = false)]
async fn idempotency_key_returns_the_same_task(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let body =
        json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 8}, "idempotency_key": "same-key"});
    let (s1, t1) = c.post("/v1/tasks", body.clone()).await;
    let (s2, t2) = c.post("/v1/tasks", body).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (201, 200));
    assert_eq!(t1["task_uuid"], t2["task_uuid"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker.tasks").fetch_one(&c.pool).await.unwrap();
    assert_eq!(count, 1);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_requests_with_one_key_create_one_task(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let body =
        json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 8}, "idempotency_key": "race"});
    let results = futures_join(&c, body, 8).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 201), "{results:?}");
    let ids: std::collections::HashSet<_> = results.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 1);
    c.stop().await;
}

async fn futures_join(c: &TestCluster, body: serde_json::Value, n: usize) -> Vec<(u16, String)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let router = c.router.clone();
        let body = body.to_string();
        set.spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::post("/v1/tasks")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            (status, v["task_uuid"].as_str().unwrap_or_default().to_string())
        });
    }
    set.join_all().await
}

#[sqlx::test(migrations = false)]
async fn bad_input_gets_4xx_with_the_error_shape(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    // (method, path, body, expected status, expected error field)
    type Case<'a> = (&'a str, &'a str, Option<String>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("POST", "/v1/tasks", Some("{not json".into()), 400, Some("body")),
        ("POST", "/v1/tasks", Some(json!({"name": "x", "context": {}}).to_string()), 422, Some("namespace")),
        ("POST", "/v1/tasks", Some(json!({"namespace": 5, "name": "x"}).to_string()), 422, Some("namespace")),
        ("POST", "/v1/tasks", Some(json!({"namespace": "a", "name": "b", "bogus": 1}).to_string()), 422, Some("bogus")),
        (
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": "nope", "name": "nothing", "context": {}}).to_string()),
            404,
            None,
        ),
        (
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 3}}).to_string()),
            422,
            Some("context.even_number"),
        ),
        (
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {}}).to_string()),
            422,
            Some("context.even_number"),
        ),
        (
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": [1]}).to_string()),
            422,
            Some("context"),
        ),
        (
            "POST",
            "/v1/tasks",
            Some(
                json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 2, "s": "a\u{0}b"}})
                    .to_string(),
            ),
            422,
            Some("context"),
        ),
        (
            "POST",
            "/v1/tasks",
            Some(
                json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 2}, "priority": 1e40})
                    .to_string(),
            ),
            422,
            Some("priority"),
        ),
        (
            "POST",
            "/v1/tasks",
            Some(
                json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 2}, "tags": ["ok", ""]})
                    .to_string(),
            ),
            422,
            Some("tags"),
        ),
        ("GET", "/v1/tasks/not-a-uuid", None, 400, Some("task_uuid")),
        ("GET", "/v1/tasks/0190a6e0-0000-7000-8000-000000000000", None, 404, None),
        ("GET", "/v1/tasks?limit=0", None, 400, Some("limit")),
        ("GET", "/v1/tasks?limit=abc", None, 400, Some("limit")),
        ("GET", "/v1/dlq?limit=1e99", None, 400, Some("limit")),
        ("GET", "/v1/tasks?state=bogus", None, 400, Some("state")),
        ("GET", "/v1/tasks?cursor=zzz", None, 400, Some("cursor")),
        ("GET", "/v1/tasks/%FF", None, 400, Some("task_uuid")),
        ("GET", "/v1/dlq?cursor=-300000000000000000_0190a6e0-0000-7000-8000-000000000000", None, 400, Some("cursor")),
        ("GET", "/v1/nothing", None, 404, None),
    ];
    for (method, path, body, want, field) in cases {
        let (status, json) = c.request(method, path, body.as_deref()).await;
        assert_eq!(status.as_u16(), want, "{method} {path} {body:?} -> {json}");
        assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "{path}: {json}");
        if let Some(field) = field {
            assert_eq!(json["error"]["field"], field, "{method} {path} {body:?} -> {json}");
        }
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker.tasks").fetch_one(&c.pool).await.unwrap();
    assert_eq!(count, 0, "bad input must write nothing");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn oversized_bodies_get_413(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let body = json!({"namespace": LINEAR.0, "name": LINEAR.1, "context": {"even_number": 2, "pad": huge}}).to_string();
    let (status, json) = c.request("POST", "/v1/tasks", Some(&body)).await;
    assert_eq!(status.as_u16(), 413, "{json}");
    assert_eq!(json["error"]["code"], "payload_too_large");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn listing_filters_and_paginates(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let mut created = Vec::new();
    for n in [2, 4, 6, 8, 10] {
        created.push(c.create(LINEAR.0, LINEAR.1, json!({"even_number": n})).await);
    }
    c.create("diamond_workflow", "diamond_pattern", json!({"even_number": 2})).await;

    let (s, page1) = c.get("/v1/tasks?namespace=linear_workflow&limit=2").await;
    assert_eq!(s, 200);
    let ids: Vec<_> =
        page1["tasks"].as_array().unwrap().iter().map(|t| t["task_uuid"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec![created[4].clone(), created[3].clone()], "newest first");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = c.get(&format!("/v1/tasks?namespace=linear_workflow&limit=2&cursor={cursor}")).await;
    assert_eq!(page2["tasks"][0]["task_uuid"], created[2].as_str());
    let (_, page3) = c
        .get(&format!("/v1/tasks?namespace=linear_workflow&limit=2&cursor={}", page2["next_cursor"].as_str().unwrap()))
        .await;
    assert_eq!(page3["tasks"].as_array().unwrap().len(), 1);
    assert!(page3["next_cursor"].is_null());

    let (_, in_process) = c.get("/v1/tasks?state=steps_in_process&limit=100").await;
    assert_eq!(in_process["tasks"].as_array().unwrap().len(), 6);
    let (_, done) = c.get("/v1/tasks?state=complete").await;
    assert_eq!(done["tasks"].as_array().unwrap().len(), 0);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn templates_probes_and_metrics(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let (s, body) = c.get("/v1/templates").await;
    assert_eq!(s, 200);
    let names: Vec<_> =
        body["templates"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    for expected in [
        "mathematical_sequence",
        "diamond_pattern",
        "hierarchical_tree",
        "complex_dag",
        "business_workflow",
        "retry_mechanics",
        "retry_exhaustion",
        "permanent_error",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert_eq!(c.get("/health/live").await.0, 200);
    let (s, ready) = c.get("/health/ready").await;
    assert_eq!((s.as_u16(), ready["checks"]["database"]["status"].as_str()), (200, Some("up")));
    c.create(LINEAR.0, LINEAR.1, json!({"even_number": 2})).await;
    let (s, _) = c.request("GET", "/metrics", None).await;
    assert_eq!(s, 200);
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn ready_answers_503_when_the_database_is_gone(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    // From the server's maintenance database: forbid new connections to this test database and terminate
    // the existing ones, so the server's pool loses it.
    let db: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&c.pool).await.unwrap();
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false")).execute(&mut admin).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db)
        .execute(&mut admin)
        .await
        .unwrap();
    let (s, body) = c.get("/health/ready").await;
    assert_eq!(s.as_u16(), 503, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "down");
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).execute(&mut admin).await.unwrap();
    let mut ok = false;
    for _ in 0..50 {
        if c.get("/health/ready").await.0 == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "ready again once the database accepts connections");
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_second_start_changes_nothing(pool: PgPool) {
    let c = TestCluster::start(pool.clone(), 1, 0).await;
    let before: Vec<(i64, String)> =
        sqlx::query_as("SELECT template_id, updated_at::text FROM tasker.task_templates ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    let again = TestCluster::start(pool.clone(), 1, 0).await;
    let after: Vec<(i64, String)> =
        sqlx::query_as("SELECT template_id, updated_at::text FROM tasker.task_templates ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(!before.is_empty());
    assert_eq!(before, after);
    again.stop().await;
    c.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_template_file_edited_in_place_stops_the_start_naming_the_file(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("tasker-edited-template-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("edited.yaml");
    let yaml = "namespace: edited\nname: flow\nversion: 1.0.0\nsteps:\n  - {name: a, handler: edited.a}\n";
    std::fs::write(&file, yaml).unwrap();
    let mut config = common::test_config();
    config.templates.path = dir.clone();
    let first = tasker_orchestration::server::OrchestrationServer::new(pool.clone(), config.clone()).await;
    assert!(first.is_ok(), "{:?}", first.err());
    // Same content again: fine. Other content under the same version: the start fails, naming file and field.
    assert!(tasker_orchestration::server::OrchestrationServer::new(pool.clone(), config.clone()).await.is_ok());
    std::fs::write(&file, yaml.replace("{name: a, handler: edited.a}", "{name: a, handler: edited.b}")).unwrap();
    let err = tasker_orchestration::server::OrchestrationServer::new(pool.clone(), config.clone())
        .await
        .err()
        .expect("an edited version is refused")
        .to_string();
    for part in [file.display().to_string().as_str(), "`version`", "edited/flow@1.0.0", "new version"] {
        assert!(err.contains(part), "`{err}` names {part}");
    }
    let definition: serde_json::Value =
        sqlx::query_scalar("SELECT definition FROM tasker.task_templates WHERE namespace = 'edited'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(definition["steps"][0]["handler"], "edited.a", "the registered version is unchanged");
    // A new version of the edited file starts.
    std::fs::write(&file, yaml.replace("1.0.0", "1.0.1").replace("edited.a}", "edited.b}")).unwrap();
    assert!(tasker_orchestration::server::OrchestrationServer::new(pool, config).await.is_ok());
}

#[sqlx::test(migrations = false)]
async fn the_openapi_description_covers_every_route_and_docs_serve_it(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let (status, spec) = c.get("/openapi.json").await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let documented: Vec<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    for (method, path) in [
        ("POST", "/v1/tasks"),
        ("GET", "/v1/tasks"),
        ("GET", "/v1/tasks/{task_uuid}"),
        ("GET", "/v1/tasks/{task_uuid}/steps"),
        ("POST", "/v1/tasks/{task_uuid}/cancel"),
        ("POST", "/v1/tasks/{task_uuid}/retry"),
        ("POST", "/v1/tasks/{task_uuid}/steps/{step_uuid}/resolve"),
        ("GET", "/v1/tasks/{task_uuid}/events"),
        ("GET", "/v1/events"),
        ("GET", "/v1/dlq"),
        ("GET", "/v1/analytics"),
        ("GET", "/v1/workers"),
        ("GET", "/v1/overview"),
        ("GET", "/v1/templates"),
        ("POST", "/v1/templates"),
        ("GET", "/v1/templates/{namespace}/{name}"),
        ("DELETE", "/v1/templates/{namespace}/{name}/{version}"),
        ("POST", "/v1/events"),
        ("GET", "/v1/schedules"),
        ("POST", "/v1/schedules"),
        ("GET", "/v1/schedules/{schedule_id}"),
        ("PATCH", "/v1/schedules/{schedule_id}"),
        ("DELETE", "/v1/schedules/{schedule_id}"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/metrics"),
    ] {
        assert!(documented.contains(&(method.to_string(), path.to_string())), "{method} {path} is not documented");
    }
    assert_eq!(documented.len(), 26, "a route is documented that the test does not know: {documented:?}");
    let error = &spec["components"]["schemas"]["ErrorBody"];
    assert!(error.is_object(), "the error shape is a schema");
    let req = axum::http::Request::get("/docs/").body(axum::body::Body::empty()).unwrap();
    let res = tower::ServiceExt::oneshot(c.router.clone(), req).await.unwrap();
    assert_eq!(res.status(), axum::http::StatusCode::OK, "/docs serves the vendored Swagger UI");
    c.stop().await;
}
