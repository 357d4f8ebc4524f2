//! The coalescing task writer: creations that share one statement still get their own outcomes.

mod common;

use common::{component_pool, test_config};
use serde_json::json;
use sqlx::PgPool;
use tasker_orchestration::task_initializer::{create_task, CreateTaskRequest};
use tasker_orchestration::task_writer::NewTask;
use tasker_orchestration::OrchestrationServer;

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// A task as `create_task` would write it, taken from the rows of a real creation (then deleted).
async fn template_task(pool: &PgPool, server: &OrchestrationServer) -> NewTask {
    let request: CreateTaskRequest = serde_json::from_value(json!({
        "namespace": "linear_workflow", "name": "mathematical_sequence", "context": {"even_number": 2}
    }))
    .unwrap();
    let created =
        create_task(pool, &server.writer(), &server.catalog(), &test_config().execution, request).await.unwrap();
    let (template_id,): (i64,) = sqlx::query_as("SELECT template_id FROM tasker.tasks WHERE task_uuid = $1")
        .bind(created.task.task_uuid)
        .fetch_one(pool)
        .await
        .unwrap();
    NewTask {
        task_uuid: uuid::Uuid::now_v7(),
        template_id,
        namespace: "linear_workflow".into(),
        name: "mathematical_sequence".into(),
        version: created.task.version.clone(),
        state: "steps_in_process".into(),
        context: json!({"even_number": 2}),
        priority: 3,
        run_at: None,
        idempotency_key: None,
        correlation_id: None,
        tags: json!([]),
        initiator: None,
        steps: Vec::new(),
        queues: None,
        root_messages: Vec::new(),
        limits: None,
    }
}

#[sqlx::test(migrations = false)]
async fn a_task_postgres_rejects_fails_alone_and_its_batch_mates_are_written(pool: PgPool) {
    let server = OrchestrationServer::new(component_pool(&pool, 4).await, test_config()).await.unwrap();
    let good = template_task(&pool, &server).await;
    // jsonb cannot hold NUL characters: PostgreSQL rejects this task's context (the API checks this before; the
    // writer must not rely on it).
    let bad = NewTask { task_uuid: uuid::Uuid::now_v7(), context: json!({"x": "a\u{0}b"}), ..good.clone() };
    let other = NewTask { task_uuid: uuid::Uuid::now_v7(), ..good.clone() };
    let writer = server.writer();
    // Sent together, so they share batches: a batch holding the bad task fails and each of its tasks is then
    // written on its own.
    let (good_out, bad_out, other_out) = tokio::join!(writer.write(good), writer.write(bad), writer.write(other));
    assert!(good_out.unwrap().is_some());
    assert!(other_out.unwrap().is_some());
    assert!(bad_out.is_err());
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.tasks").await, 3, "the seed task and the two good ones");
}

#[sqlx::test(migrations = false)]
async fn one_idempotency_key_twice_in_a_batch_creates_one_task(pool: PgPool) {
    let server = OrchestrationServer::new(component_pool(&pool, 4).await, test_config()).await.unwrap();
    let first = NewTask { idempotency_key: Some("same-key".into()), ..template_task(&pool, &server).await };
    let second = NewTask { task_uuid: uuid::Uuid::now_v7(), ..first.clone() };
    let writer = server.writer();
    let (a, b) = tokio::join!(writer.write(first), writer.write(second));
    let created = [a.unwrap(), b.unwrap()].iter().filter(|c| c.is_some()).count();
    assert_eq!(created, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.tasks WHERE idempotency_key = 'same-key'").await, 1);
}
