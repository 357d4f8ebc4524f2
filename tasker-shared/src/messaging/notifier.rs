//! Announcing new messages, AFTER the transaction that sent them has committed.
//!
//! A `NOTIFY` issued inside a transaction makes its commit take a cluster-wide lock and hold it through the
//! commit's WAL flush, so every notifying transaction commits one at a time (measured here: under a burst,
//! most backends waited on that lock at COMMIT). Announcing after commit instead costs one tiny read-only
//! transaction that writes no WAL, and a background task coalesces every announcement pending at the moment
//! into one statement. A process that dies between commit and announcement loses only the wake-up: the
//! message is in the queue, and the fallback poll (hybrid mode) or the next announcement picks it up.

use super::{notify_channel, TASK_FINALIZED_CHANNEL};
use sqlx::PgPool;
use std::collections::BTreeSet;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Sends `pg_notify`s for committed work, coalesced. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<(String, String)>,
}

impl Notifier {
    /// Start the background task that issues the notifications on `pool`. It stops when every clone of the
    /// returned notifier is dropped.
    pub fn start(pool: PgPool) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut pending = BTreeSet::from([first]);
                while let Ok(next) = rx.try_recv() {
                    pending.insert(next);
                }
                let (channels, payloads): (Vec<String>, Vec<String>) = pending.into_iter().unzip();
                let sent = sqlx::query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)")
                    .bind(&channels)
                    .bind(&payloads)
                    .execute(&pool)
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not send notifications; listeners rely on the fallback poll");
                }
            }
        });
        Self { tx }
    }

    /// Announce new messages in `queue`.
    pub fn queue(&self, queue: &str) {
        let _ = self.tx.send((notify_channel(queue), String::new()));
    }

    /// Announce that a task reached a terminal state (channel [`TASK_FINALIZED_CHANNEL`]).
    pub fn task_finalized(&self, task_uuid: Uuid) {
        let _ = self.tx.send((TASK_FINALIZED_CHANNEL.to_string(), task_uuid.to_string()));
    }
}
