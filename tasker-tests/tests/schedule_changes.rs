//! Changing a schedule while something else changes it: each change applies to what the other left.

mod common;

use common::{component_pool, test_config};
use serde_json::json;
use sqlx::PgPool;
use tasker_orchestration::schedules::{self, NewSchedule, SchedulePatch};
use tasker_orchestration::OrchestrationServer;

#[sqlx::test(migrations = false)]
async fn a_pause_running_beside_a_cron_change_does_not_undo_it(pool: PgPool) {
    let server = OrchestrationServer::new(component_pool(&pool, 4).await, test_config()).await.unwrap();
    let new: NewSchedule = serde_json::from_value(json!({
        "namespace": "linear_workflow", "name": "mathematical_sequence", "cron": "0 3 * * *",
        "context": {"even_number": 2}
    }))
    .unwrap();
    let id = schedules::create(&pool, &server.catalog(), new, None).await.unwrap().schedule_id;

    // Another change of the schedule is under way: it has written a new cron and not committed yet.
    let mut other = pool.begin().await.unwrap();
    sqlx::query("UPDATE tasker.schedules SET cron = '0 4 * * *' WHERE schedule_id = $1")
        .bind(id)
        .execute(&mut *other)
        .await
        .unwrap();
    let pause: SchedulePatch = serde_json::from_value(json!({"paused": true})).unwrap();
    let (p, catalog) = (pool.clone(), server.catalog());
    let paused = tokio::spawn(async move { schedules::update(&p, &catalog, id, pause).await });
    common::wait_for_lock_waiter(&pool).await;
    assert!(!paused.is_finished(), "the pause waits for the change under way");
    other.commit().await.unwrap();

    let view = paused.await.unwrap().unwrap();
    assert_eq!((view.cron.as_str(), view.paused, view.next_fire_at), ("0 4 * * *", true, None));
    let stored: (String, bool) = sqlx::query_as("SELECT cron, paused FROM tasker.schedules WHERE schedule_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, ("0 4 * * *".to_string(), true));
}
