//! A generated corpus of bad (and some good) requests: never a 5xx, always the JSON error shape on 4xx,
//! and nothing partially written. Deterministic (fixed seed) so a failure reproduces.

mod common;

use common::corpus::{random_scalar, random_value};
use common::TestCluster;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::PgPool;

const INPUTS: usize = 1500;

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A mutated `POST /v1/tasks` body (as raw text: some are not JSON at all).
fn task_body(rng: &mut StdRng) -> String {
    let mut body =
        json!({"namespace": "linear_workflow", "name": "mathematical_sequence", "context": {"even_number": 4}});
    let fields = [
        "namespace",
        "name",
        "version",
        "context",
        "priority",
        "idempotency_key",
        "correlation_id",
        "tags",
        "initiator",
    ];
    match rng.random_range(0..10) {
        0 => {
            return String::from_utf8_lossy(
                &(0..rng.random_range(0..64)).map(|_| rng.random::<u8>()).collect::<Vec<_>>(),
            )
            .into_owned()
        }
        1 => return nested(rng.random_range(100..5000)),
        2 => {
            let s = body.to_string();
            return s[..rng.random_range(0..s.len())].to_string();
        }
        3 => {
            body[format!("unknown_{}", rng.random_range(0..3))] = random_value(rng, 2);
        }
        4 => {
            body["context"]["even_number"] = random_scalar(rng);
        }
        5 => {
            body["context"] = random_value(rng, 3);
        }
        6 => {
            let f = fields[rng.random_range(0..fields.len())];
            body.as_object_mut().unwrap().remove(f);
        }
        _ => {
            let f = fields[rng.random_range(0..fields.len())];
            body[f] = random_value(rng, 2);
        }
    }
    body.to_string()
}

/// Percent-encode everything but unreserved characters (the corpus puts arbitrary text in query strings).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn random_path(rng: &mut StdRng) -> String {
    let segment = match rng.random_range(0..5) {
        0 => uuid::Uuid::new_v4().to_string(),
        1 => "not-a-uuid".into(),
        2 => "%00".into(),
        3 => "0".repeat(rng.random_range(1..100)),
        _ => "..%2F..%2Fetc".into(),
    };
    match rng.random_range(0..9) {
        0 => format!("/v1/tasks/{segment}"),
        6 => format!("/v1/tasks?name={segment}&tag={}", encode(&random_scalar(rng).to_string())),
        7 => format!("/v1/tasks?created_after={}&created_before={segment}", encode(&random_scalar(rng).to_string())),
        8 => format!("/v1/workers?{segment}={}", encode(&random_scalar(rng).to_string())),
        1 => format!("/v1/tasks/{segment}/steps"),
        2 => format!("/v1/tasks?limit={}", encode(&random_scalar(rng).to_string())),
        3 => format!("/v1/tasks?state={segment}&namespace=%27%3B"),
        4 => format!("/v1/tasks?cursor={segment}&limit={}", rng.random_range(-5..2000)),
        _ => format!("/v1/{segment}"),
    }
}

#[sqlx::test(migrations = false)]
async fn generated_bad_input_never_causes_a_5xx_or_a_partial_write(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let mut rng = StdRng::seed_from_u64(0x7a5c_e2a5);
    let (mut created, mut rejected) = (0i64, 0usize);
    for i in 0..INPUTS {
        let (method, path, body) = if i % 3 == 2 {
            ("GET", random_path(&mut rng), None)
        } else {
            ("POST", "/v1/tasks".to_string(), Some(task_body(&mut rng)))
        };
        let (status, json) = c.request(method, &path, body.as_deref()).await;
        assert!(status.as_u16() < 500, "input #{i}: {method} {path} {body:?} -> {status} {json}");
        match status.as_u16() {
            201 => created += 1,
            200 => {}
            _ => {
                rejected += 1;
                assert!(
                    json["error"]["code"].is_string() && json["error"]["message"].is_string(),
                    "input #{i}: {json}"
                );
            }
        }
    }
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker.tasks").fetch_one(&c.pool).await.unwrap();
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM tasker.workflow_steps").fetch_one(&c.pool).await.unwrap();
    let roots: i64 = sqlx::query_scalar("SELECT count(*) FROM pgmq.q_worker_linear_workflow_queue")
        .fetch_one(&c.pool)
        .await
        .unwrap();
    assert!(tasks <= created, "{tasks} tasks for {created} created responses");
    assert_eq!(steps, tasks * 4, "every task has all its steps");
    assert_eq!(roots, tasks, "every task has its root message");
    println!("bad-input corpus: {INPUTS} inputs tried, {rejected} rejected with 4xx, {created} accepted");
    assert!(rejected > INPUTS / 2, "the corpus should be mostly bad input");
    c.stop().await;
}

/// A mutated body for cancel, retry or resolve (as raw text: some are not JSON at all).
fn action_body(rng: &mut StdRng) -> Option<String> {
    let mut body = json!({"result": {"by": "hand"}, "reason": "corpus"});
    match rng.random_range(0..9) {
        0 => return None,
        1 => {
            return Some(
                String::from_utf8_lossy(&(0..rng.random_range(0..32)).map(|_| rng.random::<u8>()).collect::<Vec<_>>())
                    .into_owned(),
            )
        }
        2 => return Some(nested(rng.random_range(100..3000))),
        3 => body["reason"] = random_scalar(rng),
        4 => body["result"] = random_value(rng, 3),
        5 => body[format!("unknown_{}", rng.random_range(0..3))] = random_value(rng, 1),
        6 => {
            body.as_object_mut().unwrap().remove("result");
        }
        7 => body = random_value(rng, 2),
        _ => {}
    }
    Some(body.to_string())
}

/// A mutated template for `POST /v1/templates` (as raw text: some are not JSON at all).
fn template_body(rng: &mut StdRng) -> String {
    let mut body = json!({"namespace": "corpus_ns", "name": "t", "version": format!("1.0.{}", rng.random_range(0..3)),
        "steps": [{"name": "a", "handler": "corpus_ns.h"}, {"name": "b", "handler": "corpus_ns.h", "depends_on": ["a"]}]});
    match rng.random_range(0..9) {
        0 => return nested(rng.random_range(100..3000)),
        8 => {
            let kinds = ["decision", "batchable", "batch_worker", "convergence", "standard"];
            let kind = match rng.random_range(0..6) {
                5 => random_scalar(rng),
                i => json!(kinds[i]),
            };
            body["steps"][rng.random_range(0..2)]["type"] = kind;
        }
        1 => body["steps"][1]["depends_on"] = random_value(rng, 2),
        2 => body["steps"][0]["retry"] = json!({"max_attempts": random_scalar(rng)}),
        3 => body["input_schema"] = random_value(rng, 2),
        4 => body["namespace"] = random_scalar(rng),
        5 => body[format!("unknown_{}", rng.random_range(0..3))] = random_value(rng, 1),
        6 => body["steps"][1]["queue"] = random_scalar(rng),
        _ => {}
    }
    body.to_string()
}

#[sqlx::test(migrations = false)]
async fn generated_bad_operator_actions_never_cause_a_5xx_or_an_impossible_state(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let mut rng = StdRng::seed_from_u64(0x0be7_a70e);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let id = c.create("diamond_workflow", "diamond_pattern", json!({"even_number": 2})).await;
        let (_, task) = c.get(&format!("/v1/tasks/{id}")).await;
        let steps: Vec<String> =
            task["steps"].as_array().unwrap().iter().map(|s| s["step_uuid"].as_str().unwrap().to_string()).collect();
        tasks.push((id, steps));
    }
    let mut rejected = 0usize;
    for i in 0..600 {
        let (task, steps) = &tasks[rng.random_range(0..tasks.len())];
        let task_segment = match rng.random_range(0..6) {
            0 => uuid::Uuid::new_v4().to_string(),
            1 => "not-a-uuid".into(),
            2 => "%00".into(),
            _ => task.clone(),
        };
        let step_segment = match rng.random_range(0..4) {
            0 => uuid::Uuid::new_v4().to_string(),
            1 => "..%2F".into(),
            _ => steps[rng.random_range(0..steps.len())].clone(),
        };
        let (method, path) = match rng.random_range(0..8) {
            5 => ("POST", "/v1/templates".to_string()),
            6 => ("GET", format!("/v1/templates/{task_segment}/{step_segment}")),
            7 => (
                "DELETE",
                format!("/v1/templates/{task_segment}/{step_segment}/{}", encode(&random_scalar(&mut rng).to_string())),
            ),
            0 => ("POST", format!("/v1/tasks/{task_segment}/cancel")),
            1 => ("POST", format!("/v1/tasks/{task_segment}/retry")),
            2 | 3 => ("POST", format!("/v1/tasks/{task_segment}/steps/{step_segment}/resolve")),
            _ => (
                "GET",
                format!(
                    "/v1/dlq?limit={}&cursor={}&namespace={}",
                    encode(&random_scalar(&mut rng).to_string()),
                    encode(&random_scalar(&mut rng).to_string()),
                    encode(&random_scalar(&mut rng).to_string())
                ),
            ),
        };
        let body = match (method, path.as_str()) {
            ("POST", "/v1/templates") => Some(template_body(&mut rng)),
            ("POST", _) => action_body(&mut rng),
            _ => None,
        };
        let (status, json) = c.request(method, &path, body.as_deref()).await;
        assert!(status.as_u16() < 500, "input #{i}: {method} {path} {body:?} -> {status} {json}");
        if status.as_u16() >= 400 {
            rejected += 1;
            assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "input #{i}: {json}");
        }
    }
    // Whatever was accepted left every task in a state the machine allows, and a cancelled task has no step
    // that could still run.
    let bad: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasker.tasks t
         WHERE t.state NOT IN ('steps_in_process', 'complete', 'error', 'cancelled')
            OR (t.state = 'cancelled' AND EXISTS (SELECT 1 FROM tasker.workflow_steps s WHERE s.task_uuid = t.task_uuid
                AND s.state IN ('pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration', 'waiting_for_retry')))",
    )
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(bad, 0);
    println!("operator-action and template corpus: 600 inputs tried, {rejected} rejected with 4xx");
    assert!(rejected > 300, "the corpus should be mostly bad input");
    c.stop().await;
}

/// A generated request to an event stream: random `after`, `namespace` and `Last-Event-ID` (some valid).
fn event_request(rng: &mut StdRng, task: &str) -> (String, Option<String>) {
    let after = match rng.random_range(0..4) {
        0 => format!("after={}", encode(&random_scalar(rng).to_string())),
        1 => format!("after={}", rng.random_range(-3..40)),
        2 => format!("namespace={}", encode(&random_scalar(rng).to_string())),
        _ => String::new(),
    };
    let path = match rng.random_range(0..4) {
        0 => format!("/v1/events?{after}"),
        1 => format!("/v1/tasks/{task}/events?{after}"),
        2 => format!("/v1/tasks/{}/events?{after}", uuid::Uuid::new_v4()),
        _ => format!("/v1/tasks/not-a-uuid/events?{after}"),
    };
    let header = match rng.random_range(0..3) {
        0 => Some(random_scalar(rng).to_string()),
        1 => Some(rng.random_range(-2..30).to_string()),
        _ => None,
    };
    (path, header)
}

#[sqlx::test(migrations = false)]
async fn generated_bad_event_stream_requests_never_cause_a_5xx(pool: PgPool) {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let c = TestCluster::start(pool, 1, 0).await;
    let task = c.create("linear_workflow", "mathematical_sequence", json!({"even_number": 2})).await;
    let mut rng = StdRng::seed_from_u64(0x5e_e5_7e_a4);
    let (mut streams, mut rejected) = (0usize, 0usize);
    for i in 0..300 {
        let (path, header) = event_request(&mut rng, &task);
        let mut req = Request::builder().method("GET").uri(&path);
        if let Some(h) = header.as_deref().filter(|h| axum::http::HeaderValue::from_str(h).is_ok()) {
            req = req.header("last-event-id", h);
        }
        let res = c.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status().as_u16();
        assert!(status < 500, "input #{i}: {path} {header:?} -> {status}");
        if status == 200 {
            // A stream that was accepted: right content type; it is not read (it would not end).
            assert_eq!(res.headers()["content-type"], "text/event-stream", "input #{i}: {path}");
            streams += 1;
        } else {
            rejected += 1;
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "input #{i}: {json}");
        }
    }
    println!("event-stream corpus: 300 inputs tried, {rejected} rejected with 4xx, {streams} streams opened");
    assert!(rejected > 150 && streams > 0, "mostly bad input, some good: {rejected} rejected, {streams} opened");
    c.stop().await;
}

/// A mutated body for the scheduling routes: a schedule, a schedule patch, an event or a delayed task.
fn scheduling_request(rng: &mut StdRng, schedule: &str) -> (&'static str, String, String) {
    let crons = ["*/5 * * * *", "0 9 * * MON-FRI", "* * * * * *", "61 * * * *", "* * *", "0 0 * * 8", "@daily", ""];
    let zones = ["UTC", "Europe/Paris", "Mars/Olympus", "", "America/New_York"];
    let mut schedule_body = json!({"namespace": "linear_workflow", "name": "mathematical_sequence",
        "cron": crons[rng.random_range(0..crons.len())], "timezone": zones[rng.random_range(0..zones.len())],
        "context": {"even_number": 2}});
    let mut event = json!({"name": "order.created", "key": format!("k{}", rng.random_range(0..20)),
        "payload": {"order_id": rng.random_range(-2..4)}});
    let mut task = json!({"namespace": "linear_workflow", "name": "mathematical_sequence",
        "context": {"even_number": 2}, "run_at": "2099-01-01T00:00:00Z"});
    let field = |rng: &mut StdRng, fields: &[&str]| fields[rng.random_range(0..fields.len())].to_string();
    match rng.random_range(0..8) {
        0 => {
            let f =
                field(rng, &["cron", "timezone", "context", "overlap", "catch_up", "priority", "namespace", "extra"]);
            schedule_body[f] = random_value(rng, 2);
            ("POST", "/v1/schedules".into(), schedule_body.to_string())
        }
        1 => ("POST", "/v1/schedules".into(), schedule_body.to_string()),
        2 => {
            let f = field(rng, &["paused", "cron", "timezone", "context", "overlap", "catch_up", "priority", "bogus"]);
            let patch = json!({ f: random_value(rng, 1) });
            ("PATCH", format!("/v1/schedules/{schedule}"), patch.to_string())
        }
        3 => {
            let f = field(rng, &["name", "key", "payload", "extra"]);
            event[f] = random_value(rng, 2);
            ("POST", "/v1/events".into(), event.to_string())
        }
        4 => ("POST", "/v1/events".into(), event.to_string()),
        5 => {
            task["run_at"] = random_value(rng, 1);
            ("POST", "/v1/tasks".into(), task.to_string())
        }
        6 => ("POST", "/v1/tasks".into(), task.to_string()),
        _ => ("POST", "/v1/schedules".into(), nested(rng.random_range(100..3000))),
    }
}

#[sqlx::test(migrations = false)]
async fn generated_bad_scheduling_requests_never_cause_a_5xx_or_a_partial_write(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let mut rng = StdRng::seed_from_u64(0x5c4e_d01e);
    let (status, first) = c
        .post(
            "/v1/schedules",
            json!({"namespace": "linear_workflow", "name": "mathematical_sequence",
                                       "cron": "0 0 1 1 *", "context": {"even_number": 2}}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{first}");
    let schedule = first["schedule_id"].as_str().unwrap().to_string();
    let (mut created, mut rejected) = (1i64, 0usize);
    for i in 0..400 {
        let (method, path, body) = scheduling_request(&mut rng, &schedule);
        let (status, json) = c.request(method, &path, Some(&body)).await;
        assert!(status.as_u16() < 500, "input #{i}: {method} {path} {body} -> {status} {json}");
        if status.as_u16() >= 400 {
            rejected += 1;
            assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "#{i}: {json}");
        } else if path == "/v1/schedules" {
            created += 1;
        }
    }
    let schedules = common::audit::scalar(&c.pool, "SELECT count(*) FROM tasker.schedules").await;
    assert_eq!(schedules, created, "one schedule per 201");
    let crons: Vec<(String, String, bool, bool)> =
        sqlx::query_as("SELECT cron, timezone, paused, next_fire_at IS NOT NULL FROM tasker.schedules")
            .fetch_all(&c.pool)
            .await
            .unwrap();
    for (cron, timezone, paused, has_next) in crons {
        assert!(tasker_shared::cron_spec::CronSpec::parse(&cron, &timezone).is_ok(), "stored `{cron}` `{timezone}`");
        assert_eq!(has_next, !paused, "`{cron}`: a next fire time exactly when not paused");
    }
    let half_made = common::audit::scalar(
        &c.pool,
        "SELECT count(*) FROM tasker.tasks t WHERE t.state = 'scheduled' AND EXISTS
           (SELECT 1 FROM tasker.workflow_steps s WHERE s.task_uuid = t.task_uuid AND s.state <> 'pending')",
    )
    .await;
    assert_eq!(half_made, 0, "a scheduled task's steps all wait");
    let events_without_outcome =
        common::audit::scalar(&c.pool, "SELECT count(*) FROM tasker.emitted_events WHERE outcome IS NULL").await;
    assert_eq!(events_without_outcome, 0, "every accepted event was turned into tasks in its request");
    println!("scheduling corpus: 400 inputs, {rejected} rejected with 4xx");
    assert!(rejected > 100, "the corpus should be mostly bad input");
    c.stop().await;
}
