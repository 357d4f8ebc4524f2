//! Checkpoints: a step saves its progress while its claim holds, durably (on the main pool, which waits for the
//! WAL flush when configured to), renewing its lease; the next attempt reads it back as `StepContext::checkpoint`.

use crate::handler::StepError;
use crate::in_flight::InFlightStep;
use serde_json::Value;
use sqlx::PgPool;
use tasker_shared::messaging::queue_table;

/// Saves the checkpoints of one claimed step (cheap to clone).
#[derive(Clone)]
pub struct Checkpointer {
    pub(crate) pool: PgPool,
    pub(crate) lease: InFlightStep,
    pub(crate) lease_seconds: i32,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").field("step_uuid", &self.lease.step_uuid).finish()
    }
}

impl Checkpointer {
    /// Store `checkpoint` on the step if the claim still holds, and renew the lease. A lost claim (the step was
    /// cancelled, or re-claimed after this worker's lease expired) is a permanent `ClaimLost` error; a database that
    /// cannot be reached a retryable `CheckpointFailed`; a checkpoint the database refuses a permanent
    /// `CheckpointRefused`.
    pub async fn save(&self, checkpoint: &Value) -> Result<(), StepError> {
        let sql = include_str!("sql/save_checkpoint.sql").replace("{queue_table}", &queue_table(&self.lease.queue));
        let saved: i64 = sqlx::query_scalar(&sql)
            .bind(self.lease.step_uuid)
            .bind(self.lease.claim_token)
            .bind(checkpoint)
            .bind(self.lease_seconds as f64)
            .bind(self.lease.msg_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                // The database out of reach: trying again can help. The database refusing it: it cannot.
                let e = crate::WorkerError::from(e);
                if crate::step_reporter::is_transient(&e) {
                    StepError::retryable(format!("cannot save the checkpoint: {e}")).with_class("CheckpointFailed")
                } else {
                    StepError::permanent(format!("the checkpoint was refused: {e}")).with_class("CheckpointRefused")
                }
            })?;
        if saved == 0 {
            return Err(StepError::permanent(
                "the step's claim was lost (cancelled, or claimed by another worker): checkpoint rejected",
            )
            .with_class("ClaimLost"));
        }
        Ok(())
    }
}
