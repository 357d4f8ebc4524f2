//! The bad-input corpus for flow control (issue 15 §5-§6): generated templates with broken `concurrency:` and
//! `rate_limit:` fields, and tasks whose context breaks a concurrency key. Never a 5xx, always the JSON error
//! shape naming a field on 4xx, nothing partially written, and the limit holds for what was accepted.
//! Deterministic (fixed seed) so a failure reproduces.

mod common;

use common::corpus::{random_scalar, random_value};
use common::TestCluster;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::PgPool;

/// A `POST /v1/templates` body whose limits are mutated (some stay valid).
fn limited_template(rng: &mut StdRng, i: usize) -> Value {
    let mut body = json!({"namespace": "corpus_limits", "name": format!("t{i}"), "version": "1.0.0",
        "concurrency": {"key": "/account/id", "max_running": 1},
        "steps": [{"name": "a", "handler": "corpus_limits.h",
                   "rate_limit": {"key": "corpus_api", "per_second": 5, "burst": 2}}]});
    match rng.random_range(0..9) {
        0 => body["concurrency"]["max_running"] = random_scalar(rng),
        1 => body["concurrency"]["key"] = random_scalar(rng),
        2 => body["concurrency"] = random_value(rng, 2),
        3 => body["concurrency"] = json!([{"max_running": 2}, {"max_running": random_scalar(rng)}]),
        4 => body["steps"][0]["rate_limit"]["per_second"] = random_scalar(rng),
        5 => body["steps"][0]["rate_limit"]["burst"] = random_scalar(rng),
        6 => body["steps"][0]["rate_limit"] = random_value(rng, 2),
        7 => body["steps"][0]["rate_limit"]["key"] = random_scalar(rng),
        _ => {}
    }
    body
}

#[sqlx::test(migrations = false)]
async fn generated_bad_limits_never_cause_a_5xx_or_a_partial_write(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let mut rng = StdRng::seed_from_u64(0x11_3175);
    let mut rejected = 0usize;
    for i in 0..300 {
        let body = limited_template(&mut rng, i);
        let (status, answer) = c.post("/v1/templates", body.clone()).await;
        assert!(status.as_u16() < 500, "template #{i}: {body} -> {status} {answer}");
        if status.as_u16() >= 400 {
            rejected += 1;
            assert!(answer["error"]["field"].is_string(), "template #{i} names no field: {answer}");
        }
    }
    // Every registered template's limits are valid as stored.
    let stored: Vec<Value> =
        sqlx::query_scalar("SELECT definition FROM tasker.task_templates").fetch_all(&c.pool).await.unwrap();
    for definition in &stored {
        let parsed = tasker_shared::template::parse_template(&definition.to_string());
        assert!(parsed.is_ok(), "stored: {definition}: {parsed:?}");
    }
    let buckets = common::audit::scalar(
        &c.pool,
        "SELECT count(*) FROM tasker.rate_limits WHERE NOT (per_second > 0 AND burst >= 1 AND tokens <= burst)",
    )
    .await;
    assert_eq!(buckets, 0, "every bucket is usable");

    // Contexts that break the key: 422 naming it, and nothing written for them.
    let (status, answer) = c
        .post(
            "/v1/templates",
            json!({"namespace": "corpus_limits", "name": "keyed", "version": "1.0.0",
                   "concurrency": {"key": "/account/id", "max_running": 1},
                   "steps": [{"name": "a", "handler": "corpus_limits.h"}]}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{answer}");
    let mut created = 0i64;
    for i in 0..200 {
        let context = match rng.random_range(0..4) {
            0 => json!({"account": {"id": random_scalar(&mut rng)}}),
            1 => json!({"account": random_value(&mut rng, 2)}),
            2 => random_value(&mut rng, 2),
            _ => json!({"account": {"id": format!("acct-{}", rng.random_range(0..3))}}),
        };
        let body = json!({"namespace": "corpus_limits", "name": "keyed", "context": context});
        let (status, answer) = c.post("/v1/tasks", body.clone()).await;
        assert!(status.as_u16() < 500, "task #{i}: {body} -> {status} {answer}");
        if status.as_u16() >= 400 {
            rejected += 1;
            // A key that is missing or null is named; a NUL character anywhere in a context is refused by
            // PostgreSQL's jsonb, answered as `invalid_value` (the general rule for contexts).
            let named = answer["error"]["field"].as_str().is_some_and(|f| f.starts_with("context"));
            assert!(named || answer["error"]["code"] == "invalid_value", "#{i}: {answer}");
        } else {
            created += 1;
        }
    }
    let tasks = common::audit::scalar(
        &c.pool,
        "SELECT count(*) FROM tasker.tasks t JOIN tasker.task_templates tt ON tt.template_id = t.template_id
         WHERE tt.name = 'keyed'",
    )
    .await;
    assert_eq!(tasks, created, "one task per 201");
    // No worker serves the queue, so nothing ends: at most one task per key holds a slot, the rest wait.
    let over = common::audit::scalar(
        &c.pool,
        "SELECT count(*) FROM (SELECT concurrency_key FROM tasker.tasks WHERE state = 'steps_in_process'
                               AND concurrency_gate = 'corpus_limits/keyed' GROUP BY 1 HAVING count(*) > 1) k",
    )
    .await;
    assert_eq!(over, 0, "a key over its limit");
    let half_made = common::audit::scalar(
        &c.pool,
        "SELECT count(*) FROM tasker.tasks t WHERE t.state = 'queued' AND EXISTS
           (SELECT 1 FROM tasker.workflow_steps s WHERE s.task_uuid = t.task_uuid AND s.state <> 'pending')",
    )
    .await;
    assert_eq!(half_made, 0, "a queued task's steps all wait");
    println!("flow control corpus: 500 inputs, {rejected} rejected with 4xx, {created} tasks created");
    assert!(rejected > 150, "the corpus should be mostly bad input");
    c.stop().await;
}

/// Values each check lets through but the database or the engine could not take: names past an index entry's
/// size, NUL in a name, counts past 32 bits, a rate so slow its waits overflow a timestamp, a concurrency key
/// value past its index. Each is a 422 naming its field, and nothing is written.
#[sqlx::test(migrations = false)]
async fn values_past_what_the_database_can_hold_are_422_naming_their_field(pool: PgPool) {
    let c = TestCluster::start(pool, 1, 0).await;
    let long = "n".repeat(4_000);
    let template = |name: &str| {
        json!({"namespace": "corpus_limits", "name": name, "version": "1.0.0",
               "steps": [{"name": "a", "handler": "corpus_limits.h"}]})
    };
    let edit = |change: &dyn Fn(&mut Value)| {
        let mut body = template("t");
        change(&mut body);
        body
    };
    let cases = [
        (template(&long), "name"),
        (template("a\u{0}b"), "name"),
        (edit(&|b| b["steps"][0]["config"] = json!({"url": "x\u{0}"})), "steps[0].config.url"),
        (edit(&|b| b["version"] = json!(long)), "version"),
        (edit(&|b| b["steps"][0]["name"] = json!(long)), "steps[0].name"),
        (edit(&|b| b["steps"][0]["handler"] = json!(long)), "steps[0].handler"),
        (edit(&|b| b["steps"][0]["timeout_seconds"] = json!(3_000_000_000u64)), "steps[0].timeout_seconds"),
        (edit(&|b| b["steps"][0]["retry"] = json!({"max_attempts": 3_000_000_000u64})), "steps[0].retry.max_attempts"),
        (
            edit(&|b| b["steps"][0]["rate_limit"] = json!({"key": "k", "per_second": 1e-15})),
            "steps[0].rate_limit.per_second",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = c.post("/v1/templates", body.clone()).await;
        assert_eq!((status.as_u16(), answer["error"]["field"].as_str()), (422, Some(field)), "{body}: {answer}");
    }
    assert_eq!(
        common::audit::scalar(&c.pool, "SELECT count(*) FROM tasker.task_templates WHERE namespace = 'corpus_limits'")
            .await,
        0
    );

    let keyed = json!({"namespace": "corpus_limits", "name": "keyed", "version": "1.0.0",
                       "concurrency": {"key": "/account/id", "max_running": 1},
                       "steps": [{"name": "a", "handler": "corpus_limits.h"}]});
    assert_eq!(c.post("/v1/templates", keyed).await.0.as_u16(), 201);
    let task = json!({"namespace": "corpus_limits", "name": "keyed", "context": {"account": {"id": long}}});
    let (status, answer) = c.post("/v1/tasks", task).await;
    assert_eq!((status.as_u16(), answer["error"]["field"].as_str()), (422, Some("context.account.id")), "{answer}");
    assert_eq!(common::audit::scalar(&c.pool, "SELECT count(*) FROM tasker.tasks").await, 0);
    // A schedule whose context lacks the key (or holds one too long) could never start a task.
    for (context, field) in
        [(json!({}), "context.account.id"), (json!({"account": {"id": long}}), "context.account.id")]
    {
        let schedule = json!({"namespace": "corpus_limits", "name": "keyed", "cron": "0 3 * * *", "context": context});
        let (status, answer) = c.post("/v1/schedules", schedule).await;
        assert_eq!((status.as_u16(), answer["error"]["field"].as_str()), (422, Some(field)), "{answer}");
    }
    assert_eq!(common::audit::scalar(&c.pool, "SELECT count(*) FROM tasker.schedules").await, 0);
    c.stop().await;
}
