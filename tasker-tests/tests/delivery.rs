//! Duplicate deliveries and lost claims, driven step by step through the real claim, report and
//! result-processing functions.

mod common;

use common::{component_pool, test_config};
use serde_json::json;
use sqlx::PgPool;
use tasker_orchestration::task_initializer::{create_task, CreateTaskRequest};
use tasker_orchestration::OrchestrationServer;
use tasker_shared::messaging::{send_batch, worker_queue, ResultMessage, StepMessage, RESULTS_QUEUE};
use tasker_worker_foundation::step_claimer::claim_batch;
use tasker_worker_foundation::step_reporter::{report_batch, Completion};

async fn one_step_task(pool: &PgPool) -> (OrchestrationServer, uuid::Uuid) {
    let server = OrchestrationServer::new(component_pool(pool, 4).await, test_config()).await.unwrap();
    let request: CreateTaskRequest = serde_json::from_value(json!({
        "namespace": "retry_workflow", "name": "retry_mechanics", "context": {"fail_count": 0}
    }))
    .unwrap();
    let created =
        create_task(pool, &server.writer(), &server.catalog(), &test_config().execution, request).await.unwrap();
    (server, created.task.task_uuid)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_duplicate_step_message_is_claimed_once(pool: PgPool) {
    let (_server, task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let step_uuid: uuid::Uuid = sqlx::query_scalar("SELECT step_uuid FROM tasker.workflow_steps WHERE task_uuid = $1")
        .bind(task_uuid)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    send_batch(&mut conn, &queue, &[StepMessage { task_uuid, step_uuid }]).await.unwrap();
    drop(conn);

    let first = claim_batch(&pool, &queue, "w1", 30, 10).await.unwrap();
    assert_eq!((first.messages, first.claimed.len()), (2, 1));
    // The duplicate was deleted, the claimed one stays hidden under the lease.
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_worker_retry_workflow_queue").await, 1);
    let again = claim_batch(&pool, &queue, "w2", 30, 10).await.unwrap();
    assert_eq!((again.messages, again.claimed.len()), (0, 0));
    assert_eq!(count(&pool, "SELECT attempts::bigint FROM tasker.workflow_steps").await, 1);
}

#[sqlx::test(migrations = false)]
async fn a_zombie_report_is_rejected_and_the_new_owner_wins(pool: PgPool) {
    let (server, task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let zombie = claim_batch(&pool, &queue, "zombie", 1, 10).await.unwrap().claimed.remove(0);
    // The lease (1 s) runs out while the zombie is paused; another worker re-claims the step.
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    let owner = claim_batch(&pool, &queue, "owner", 30, 10).await.unwrap().claimed.remove(0);
    assert_ne!(zombie.lease.claim_token, owner.lease.claim_token);
    assert_eq!(owner.context.attempt, 2);

    let late = Completion { lease: zombie.lease.clone(), task_uuid, outcome: Ok(json!({"from": "zombie"})) };
    let summary = report_batch(&pool, &[late]).await.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (0, 1));
    // The owner's message is still there: the zombie must not delete it.
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_worker_retry_workflow_queue").await, 1);

    let good = Completion { lease: owner.lease.clone(), task_uuid, outcome: Ok(json!({"from": "owner"})) };
    assert_eq!(report_batch(&pool, &[good]).await.unwrap().accepted, 1);
    let summary = server.result_processor().process_batch().await.unwrap();
    assert_eq!((summary.applied, summary.finalized), (1, 1));
    let result: serde_json::Value =
        sqlx::query_scalar("SELECT results FROM tasker.workflow_steps").fetch_one(&pool).await.unwrap();
    assert_eq!(result, json!({"from": "owner"}));
}

#[sqlx::test(migrations = false)]
async fn a_duplicate_result_message_is_applied_once(pool: PgPool) {
    let (server, task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let step = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap().claimed.remove(0);
    let done = Completion { lease: step.lease.clone(), task_uuid, outcome: Ok(json!({"ok": 1})) };
    report_batch(&pool, &[done]).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    send_batch(&mut conn, RESULTS_QUEUE, &[ResultMessage { task_uuid, step_uuid: step.context.step_uuid }])
        .await
        .unwrap();
    drop(conn);

    let summary = server.result_processor().process_batch().await.unwrap();
    assert_eq!((summary.messages, summary.applied, summary.finalized), (2, 1, 1));
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'complete'").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.task_transitions WHERE to_state = 'complete'").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await, 0);
    // A replay after everything is done changes nothing.
    let mut conn = pool.acquire().await.unwrap();
    send_batch(&mut conn, RESULTS_QUEUE, &[ResultMessage { task_uuid, step_uuid: step.context.step_uuid }])
        .await
        .unwrap();
    drop(conn);
    let replay = server.result_processor().process_batch().await.unwrap();
    assert_eq!((replay.messages, replay.applied, replay.finalized), (1, 0, 0));
}

#[sqlx::test(migrations = false)]
async fn a_failed_result_batch_leaves_its_messages_for_the_next_try(pool: PgPool) {
    let (server, task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let step = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap().claimed.remove(0);
    report_batch(&pool, &[Completion { lease: step.lease.clone(), task_uuid, outcome: Ok(json!(1)) }]).await.unwrap();
    // Hold the task row lock elsewhere with a short lock timeout for the processor: its batch fails.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tasker.tasks WHERE task_uuid = $1 FOR UPDATE")
        .bind(task_uuid)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let db: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE \"{db}\" SET lock_timeout = '200ms'")).execute(&pool).await.unwrap();
    let fresh = OrchestrationServer::new(component_pool(&pool, 2).await, test_config()).await.unwrap();
    assert!(fresh.result_processor().process_batch().await.is_err());
    blocker.rollback().await.unwrap();
    // Nothing was applied, and the message comes back: once the failed batch's connection has rolled back (a
    // transaction dropped on an error is rolled back when its connection returns to the pool, so a busy
    // machine may still show its lock for a moment), the next batch applies it.
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.step_transitions WHERE to_state = 'complete'").await, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let summary = loop {
        let summary = server.result_processor().process_batch().await.unwrap();
        if summary.messages > 0 || std::time::Instant::now() > deadline {
            break summary;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((summary.messages, summary.applied, summary.finalized), (1, 1, 1));
}

#[sqlx::test(migrations = false)]
async fn a_step_whose_worker_dies_on_its_last_attempt_fails_instead_of_looping(pool: PgPool) {
    let (server, _task_uuid) = one_step_task(&pool).await;
    sqlx::query("UPDATE tasker.workflow_steps SET max_attempts = 1").execute(&pool).await.unwrap();
    let queue = worker_queue("retry_workflow");
    let first = claim_batch(&pool, &queue, "doomed", 1, 10).await.unwrap();
    assert_eq!(first.claimed.len(), 1);
    // The worker dies: its lease (1 s) runs out and the message becomes visible again.
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    let again = claim_batch(&pool, &queue, "next", 30, 10).await.unwrap();
    assert_eq!((again.messages, again.claimed.len()), (1, 0), "the last attempt is not re-run");
    let summary = server.result_processor().process_batch().await.unwrap();
    assert_eq!((summary.applied, summary.finalized), (1, 1));
    let (state, attempts, class): (String, i32, String) =
        sqlx::query_as("SELECT state, attempts, error->>'error_class' FROM tasker.workflow_steps")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts, class.as_str()), ("error", 1, "LeaseExpired"));
    assert_eq!(count(&pool, "SELECT count(*) FROM tasker.tasks WHERE state = 'error'").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_worker_retry_workflow_queue").await, 0);
}

#[sqlx::test(migrations = false)]
async fn a_result_postgres_cannot_store_fails_its_step_alone(pool: PgPool) {
    let (server, first) = one_step_task(&pool).await;
    let request: CreateTaskRequest = serde_json::from_value(json!({
        "namespace": "retry_workflow", "name": "retry_mechanics", "context": {"fail_count": 0}
    }))
    .unwrap();
    let second = create_task(&pool, &server.writer(), &server.catalog(), &test_config().execution, request)
        .await
        .unwrap()
        .task
        .task_uuid;
    let claimed = claim_batch(&pool, &worker_queue("retry_workflow"), "w", 30, 10).await.unwrap().claimed;
    assert_eq!(claimed.len(), 2);
    let batch: Vec<Completion> = claimed
        .iter()
        .map(|c| Completion {
            lease: c.lease.clone(),
            task_uuid: c.context.task_uuid,
            outcome: Ok(if c.context.task_uuid == first { json!({"text": "nul\u{0}byte"}) } else { json!({"ok": 1}) }),
        })
        .collect();
    let summary = report_batch(&pool, &batch).await.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (2, 0));
    server.result_processor().process_batch().await.unwrap();
    let states: Vec<(uuid::Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT task_uuid, state, error->>'error_class' FROM tasker.workflow_steps ORDER BY task_uuid = $1 DESC",
    )
    .bind(first)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(states[0], (first, "error".to_string(), Some("InvalidResult".to_string())));
    assert_eq!(states[1], (second, "complete".to_string(), None));
}

#[sqlx::test(migrations = false)]
async fn a_worker_told_to_serve_a_namespace_it_cannot_handle_fails_to_start(pool: PgPool) {
    let err = tasker_worker_foundation::WorkerBuilder::new(test_config())
        .register("linear_workflow.square", tasker_worker_foundation::handler_fn(|_| async { Ok(json!({})) }))
        .namespaces(["order_fulfillment"])
        .pool(pool)
        .serve_http(false)
        .build()
        .await
        .err()
        .expect("building must fail");
    let text = err.to_string();
    assert!(text.contains("order_fulfillment/business_workflow@1.0.0"), "{text}");
    assert!(text.contains("steps[0].handler") && text.contains("order_fulfillment.validate_order"), "{text}");
}

#[sqlx::test(migrations = false)]
async fn malformed_messages_are_dropped_without_stopping_their_queue(pool: PgPool) {
    let (server, _task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let mut conn = pool.acquire().await.unwrap();
    let junk = [json!({"step_uuid": "not-a-uuid"}), json!({"task_uuid": "x", "step_uuid": 7}), json!("text")];
    send_batch(&mut conn, &queue, &junk).await.unwrap();
    send_batch(&mut conn, RESULTS_QUEUE, &junk).await.unwrap();
    drop(conn);

    // The real step is still claimed, and the junk is gone: the two bodies whose step_uuid is not a uuid are
    // dropped before the claim reads again; the body naming no step is read and deleted by the claim.
    let claimed = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap();
    assert_eq!((claimed.messages, claimed.claimed.len()), (2, 1));
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_worker_retry_workflow_queue").await, 1);
    // The result processor drops the same two, takes the third, applies nothing and deletes it.
    let summary = server.result_processor().process_batch().await.unwrap();
    assert_eq!((summary.messages, summary.applied), (1, 0));
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await, 0);
}

#[sqlx::test(migrations = false)]
async fn a_heartbeat_skips_a_step_whose_row_is_held_instead_of_waiting_for_it(pool: PgPool) {
    use tasker_worker_foundation::heartbeat::extend_leases;
    let (_server, _task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let step = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap().claimed.remove(0);
    let lease_left = |pool: PgPool| async move {
        let row: (f64, f64) = sqlx::query_as(
            "SELECT EXTRACT(EPOCH FROM s.lease_expires_at - now())::float8, EXTRACT(EPOCH FROM m.vt - now())::float8
             FROM tasker.workflow_steps s, pgmq.q_worker_retry_workflow_queue m",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        row
    };

    // Another transaction holds the step's row, as a concurrent report of it would.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tasker.workflow_steps WHERE step_uuid = $1 FOR UPDATE")
        .bind(step.context.step_uuid)
        .execute(&mut *holder)
        .await
        .unwrap();
    // The heartbeat returns at once (waiting would block until the holder ends, far past this bound) and
    // leaves the held step's row and message as they were.
    let held = [step.lease.clone()];
    let beat = tokio::time::timeout(std::time::Duration::from_secs(10), extend_leases(&pool, &held, 600));
    beat.await.expect("the heartbeat waited for a held row").unwrap();
    let (row, message) = lease_left(pool.clone()).await;
    assert!(row < 31.0 && message < 31.0, "lease untouched while held: row {row} s, message {message} s");

    // Once the row is free, the next beat extends both together.
    holder.rollback().await.unwrap();
    extend_leases(&pool, &held, 600).await.unwrap();
    let (row, message) = lease_left(pool.clone()).await;
    assert!(row > 590.0 && message > 590.0, "lease extended: row {row} s, message {message} s");
}

#[sqlx::test(migrations = false)]
async fn a_last_attempt_lease_renewed_after_the_claim_saw_it_expire_keeps_its_message(pool: PgPool) {
    use tasker_worker_foundation::heartbeat::extend_leases;
    use tasker_worker_foundation::step_claimer::fail_exhausted_leases;
    let (_server, _task_uuid) = one_step_task(&pool).await;
    sqlx::query("UPDATE tasker.workflow_steps SET max_attempts = 1").execute(&pool).await.unwrap();
    let queue = worker_queue("retry_workflow");
    let slow = claim_batch(&pool, &queue, "slow", 1, 10).await.unwrap().claimed.remove(0);
    // The worker stalls past its lease (1 s); another worker's claim sees the lease expired on the last attempt.
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    // Between that claim and its failing of the step, the stalled worker's heartbeat renews the lease.
    extend_leases(&pool, std::slice::from_ref(&slow.lease), 30).await.unwrap();
    fail_exhausted_leases(&pool, &queue, &[(slow.lease.step_uuid, slow.lease.msg_id)]).await.unwrap();
    // The step is still the slow worker's, and its message (its redelivery, should that worker die) is still there.
    let (state, token): (String, uuid::Uuid) =
        sqlx::query_as("SELECT state, claim_token FROM tasker.workflow_steps").fetch_one(&pool).await.unwrap();
    assert_eq!((state.as_str(), token), ("in_progress", slow.lease.claim_token));
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_worker_retry_workflow_queue").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM pgmq.q_orchestration_step_results").await, 0);
}

#[sqlx::test(migrations = false)]
async fn an_outcome_decided_for_an_earlier_attempt_is_not_applied_to_a_later_one(pool: PgPool) {
    use tasker_shared::settle::{settle, Outcomes, SettleScope};
    use tasker_worker_foundation::StepError;
    let (server, task_uuid) = one_step_task(&pool).await;
    let queue = worker_queue("retry_workflow");
    let first = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap().claimed.remove(0);
    let flaky = Completion { lease: first.lease.clone(), task_uuid, outcome: Err(StepError::retryable("flaky")) };
    report_batch(&pool, &[flaky]).await.unwrap();
    assert_eq!(server.result_processor().process_batch().await.unwrap().applied, 1);
    // The retry comes due at once; attempt 2 fails for good and is reported.
    sqlx::query("UPDATE tasker.workflow_steps SET next_attempt_at = now()").execute(&pool).await.unwrap();
    sqlx::query("UPDATE pgmq.q_worker_retry_workflow_queue SET vt = now()").execute(&pool).await.unwrap();
    let second = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap().claimed.remove(0);
    assert_eq!(second.context.attempt, 2);
    let broken = Completion { lease: second.lease.clone(), task_uuid, outcome: Err(StepError::permanent("broken")) };
    report_batch(&pool, &[broken]).await.unwrap();

    // A processor that read the step before all that (taking a duplicate of attempt 1's message, then waiting for
    // the task's lock) settles what it decided from attempt 1: a retry. It must apply nothing.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tasker.tasks WHERE task_uuid = $1 FOR UPDATE")
        .bind(task_uuid)
        .execute(&mut *tx)
        .await
        .unwrap();
    let stale = Outcomes {
        step_uuids: vec![first.context.step_uuid],
        states: vec!["waiting_for_retry"],
        next_attempt_at: vec![Some(chrono::Utc::now())],
        attempts: vec![1],
        ..Default::default()
    };
    let queues = vec!["retry_workflow".to_string()];
    let scope =
        SettleScope { live_tasks: &[task_uuid], queues: &queues, priority_step: 1.0, durable_finalization: false };
    let settled = settle(&mut tx, &stale, scope).await.unwrap();
    assert!(settled.applied.is_empty(), "attempt 1's outcome was applied to attempt 2");
    tx.commit().await.unwrap();

    // Attempt 2's own message applies its outcome: the step fails for good.
    let summary = server.result_processor().process_batch().await.unwrap();
    assert_eq!((summary.applied, summary.finalized), (1, 1));
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM tasker.workflow_steps").fetch_one(&pool).await.unwrap();
    assert_eq!((state.as_str(), attempts), ("error", 2));
}
