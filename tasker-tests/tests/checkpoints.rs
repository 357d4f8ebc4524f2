//! Checkpoints (issue 14): a step saves its progress while its claim holds and the next attempt resumes from it; a
//! step whose claim was lost cannot save one; the last checkpoint is served on the step.

mod common;

use common::{step, test_config, TestCluster};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use tasker_worker_foundation::{handler_fn, StepError, StepHandler};

const RESUME: &str = "namespace: ckpt\nname: resume\nversion: '1'\nsteps:\n\
  - {name: work, handler: ckpt.work, retry: {max_attempts: 2, base_ms: 10, max_ms: 10}}\n";

fn config() -> tasker_shared::config::TaskerConfig {
    let dir = std::env::temp_dir().join(format!("tasker-checkpoints-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("resume.yaml"), RESUME).unwrap();
    std::fs::write(
        dir.join("zombie.yaml"),
        "namespace: ckpt\nname: zombie\nversion: '1'\nsteps:\n  - {name: work, handler: ckpt.zombie}\n",
    )
    .unwrap();
    let mut config = test_config();
    config.templates.path = dir;
    config
}

/// Processes items 1..=100, checkpointing every 25; the first attempt fails at item 50 (after its checkpoint).
fn resumable() -> Arc<dyn StepHandler> {
    Arc::new(handler_fn(|ctx| async move {
        let resumed_from = ctx.checkpoint.as_ref().and_then(|c| c["done"].as_u64()).unwrap_or(0);
        for item in resumed_from + 1..=100 {
            if item % 25 == 0 {
                ctx.save_checkpoint(json!({"done": item})).await?;
            }
            if item == 50 && ctx.attempt == 1 {
                return Err(StepError::retryable("failed at item 50"));
            }
        }
        Ok(json!({"resumed_from": resumed_from, "processed": 100}))
    }))
}

#[sqlx::test(migrations = false)]
async fn a_retried_step_resumes_from_its_checkpoint_and_a_lost_claim_cannot_save_one(pool: PgPool) {
    let seen: Arc<Mutex<Option<StepError>>> = Arc::default();
    let zombie: Arc<dyn StepHandler> = {
        let (seen, pool) = (seen.clone(), pool.clone());
        Arc::new(handler_fn(move |ctx| {
            let (seen, pool) = (seen.clone(), pool.clone());
            async move {
                // Another worker takes the step over (as after this one's lease expired): the claim is lost.
                sqlx::query("UPDATE tasker.workflow_steps SET claim_token = gen_random_uuid() WHERE step_uuid = $1")
                    .bind(ctx.step_uuid)
                    .execute(&pool)
                    .await
                    .unwrap();
                let saved = ctx.save_checkpoint(json!({"done": 1})).await;
                *seen.lock().unwrap() = saved.err();
                Ok(Value::Null)
            }
        }))
    };
    let handlers: Vec<(&'static str, Arc<dyn StepHandler>)> = vec![("ckpt.work", resumable()), ("ckpt.zombie", zombie)];
    let c = TestCluster::start_with_handlers(pool.clone(), 1, 1, config(), handlers).await;

    let task = c.wait_terminal(&c.create("ckpt", "resume", json!({})).await, 30).await;
    assert_eq!(task["state"], "complete", "{task}");
    let work = step(&task, "work");
    assert_eq!(work["attempts"], 2);
    assert_eq!(work["result"], json!({"resumed_from": 50, "processed": 100}));
    assert_eq!(work["checkpoint"], json!({"done": 100}), "the last checkpoint is kept after completion");
    assert_eq!(work["attempt_errors"][0]["message"], "failed at item 50");

    let zombie_task = c.create("ckpt", "zombie", json!({})).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while seen.lock().unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the zombie handler never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let error = seen.lock().unwrap().clone().unwrap();
    assert_eq!(error.error_class.as_deref(), Some("ClaimLost"), "{error:?}");
    let stored: Option<Value> =
        sqlx::query_scalar(&format!("SELECT checkpoint FROM tasker.workflow_steps WHERE task_uuid = '{zombie_task}'"))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, None, "a zombie's checkpoint is not stored");
    let (status, _) = c.post(&format!("/v1/tasks/{zombie_task}/cancel"), json!({})).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    c.stop().await;
}
