//! This worker's row in the workers registry (`tasker.workers`): written when it starts, refreshed every
//! [`BEAT`] with the queues it serves now, deleted when it stops. Servers list live workers from it and name
//! the queues with waiting messages that no live worker serves. A failed beat is logged and tried again at the
//! next one: presence is information, never a reason to stop working.

use crate::worker::ServedQueues;
use sqlx::PgPool;
use tasker_shared::messaging::step_queue_name;
use tasker_shared::presence::{BEAT, FORGET_AFTER};
use tokio_util::sync::CancellationToken;

/// What the registry records of this worker.
#[derive(Clone)]
pub(crate) struct Presence {
    pub pool: PgPool,
    pub worker_id: String,
    pub host: String,
    pub language: String,
    pub concurrency: i32,
    pub served: ServedQueues,
}

impl Presence {
    /// Write the row before the worker takes any step, so that a worker running steps is listed; a failure is
    /// logged, and the beats retry. Returns whether the row was written.
    pub async fn register(&self) -> bool {
        match self.beat(true).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not record this worker in tasker.workers; retrying");
                false
            }
        }
    }

    /// Write or refresh the row.
    async fn beat(&self, first: bool) -> sqlx::Result<()> {
        let queues: Vec<String> = self
            .served
            .read()
            .map(|q| q.iter().filter_map(|name| step_queue_name(name)).map(str::to_string).collect())
            .unwrap_or_default();
        sqlx::query(include_str!("sql/worker_beat.sql"))
            .bind(&self.worker_id)
            .bind(&self.host)
            .bind(&self.language)
            .bind(&queues)
            .bind(self.concurrency)
            .bind(first)
            .bind(FORGET_AFTER.as_secs_f64())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Beat every [`BEAT`] until `stop`, then delete the row. `registered`: whether [`Presence::register`]
    /// wrote the row.
    pub async fn run(self, registered: bool, stop: CancellationToken) {
        let mut first = !registered;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(BEAT) => {}
            }
            match self.beat(first).await {
                Ok(()) => first = false,
                Err(e) => tracing::warn!(error = %e, "could not record this worker in tasker.workers; retrying"),
            }
        }
        if let Err(e) = sqlx::query("DELETE FROM tasker.workers WHERE worker_id = $1")
            .bind(&self.worker_id)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "could not remove this worker from tasker.workers; it ages out");
        }
    }
}
