//! A step row is updated in place: its claim and its report leave it on its page (a heap-only update, no index
//! entry), because `workflow_steps` keeps room on each page for them (migration `step_row_room`) and no index
//! covers a column they change. An index on such a column, or full pages, would make every update write an entry
//! into each index of the table (docs/performance.md, item 30).

mod common;

use common::{component_pool, test_config};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use tasker_orchestration::task_initializer::{create_task, CreateTaskRequest};
use tasker_orchestration::OrchestrationServer;
use tasker_shared::messaging::worker_queue;
use tasker_worker_foundation::step_claimer::claim_batch;
use tasker_worker_foundation::step_reporter::{report_batch, Completion};
use uuid::Uuid;

/// Each step row's page (the block number of its current version).
async fn pages(pool: &PgPool) -> HashMap<Uuid, i64> {
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT step_uuid, ((ctid::text::point)[0])::bigint FROM tasker.workflow_steps")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().collect()
}

fn moved(before: &HashMap<Uuid, i64>, after: &HashMap<Uuid, i64>) -> usize {
    before.iter().filter(|(uuid, page)| after.get(*uuid) != Some(*page)).count()
}

#[sqlx::test(migrations = false)]
async fn claims_and_reports_update_step_rows_on_their_own_pages(pool: PgPool) {
    let server = OrchestrationServer::new(component_pool(&pool, 4).await, test_config()).await.unwrap();
    let tasks = 150;
    for i in 0..tasks {
        let request: CreateTaskRequest = serde_json::from_value(json!({
            "namespace": "retry_workflow", "name": "retry_mechanics", "context": {"fail_count": 0, "i": i}
        }))
        .unwrap();
        create_task(&pool, &server.writer(), &server.catalog(), &test_config().execution, request).await.unwrap();
    }
    let created = pages(&pool).await;
    assert_eq!(created.len(), tasks);
    let filled: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT (ctid::text::point)[0])::bigint FROM tasker.workflow_steps")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(filled >= 3, "the steps fill several pages ({filled}), so full pages would show");

    // Claimed and reported in batches of 10, as a worker under load does.
    let queue = worker_queue("retry_workflow");
    let mut claimed = Vec::new();
    loop {
        let batch = claim_batch(&pool, &queue, "w", 30, 10).await.unwrap();
        if batch.claimed.is_empty() {
            break;
        }
        claimed.extend(batch.claimed);
    }
    assert_eq!(claimed.len(), tasks);
    let after_claim = pages(&pool).await;
    for chunk in claimed.chunks(10) {
        let done: Vec<Completion> = chunk
            .iter()
            .map(|step| Completion {
                lease: step.lease.clone(),
                task_uuid: step.context.task_uuid,
                outcome: Ok(json!(1)),
            })
            .collect();
        assert_eq!(report_batch(&pool, &done).await.unwrap().accepted, done.len());
    }
    let after_report = pages(&pool).await;

    // None moves here; full pages (fillfactor 100) moved 23 of the 150 at their claim alone.
    let limit = tasks / 50;
    let by_claim = moved(&created, &after_claim);
    let by_report = moved(&after_claim, &after_report);
    assert!(by_claim <= limit, "{by_claim} of {tasks} step rows left their page when claimed");
    assert!(by_report <= limit, "{by_report} of {tasks} step rows left their page when reported");
}
