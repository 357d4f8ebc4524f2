//! Wakes a processing loop when there may be work: on a NOTIFY for one of its queues (event-driven), on a timer
//! (polling), or both (hybrid). Notifications coalesce into one flag, so a burst of sends costs one wake-up.

use super::notify_channel;
use crate::config::DispatchMode;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Why a loop woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeSource {
    /// A notification arrived.
    Notified,
    /// The fallback poll interval elapsed.
    Poll,
}

/// A coalescing wake-up signal for one loop.
#[derive(Clone)]
pub struct Wakeup {
    notify: Arc<Notify>,
    mode: DispatchMode,
    poll_interval: Duration,
}

impl Wakeup {
    /// One wake-up per queue, all fed by ONE listening connection (unless `mode` is polling). The listener
    /// task reconnects by itself (sqlx's `PgListener` re-subscribes) and wakes every loop after a reconnect,
    /// since notifications may have been missed meanwhile.
    pub async fn start_many(
        pool: &PgPool,
        queues: &[String],
        mode: DispatchMode,
        poll_interval: Duration,
        stop: CancellationToken,
    ) -> crate::Result<Vec<Self>> {
        let wakeups: Vec<Self> =
            queues.iter().map(|_| Self { notify: Arc::new(Notify::new()), mode, poll_interval }).collect();
        if mode.listens() && !queues.is_empty() {
            let channels: HashMap<String, Arc<Notify>> =
                queues.iter().zip(&wakeups).map(|(q, w)| (notify_channel(q), w.notify.clone())).collect();
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen_all(channels.keys().map(String::as_str)).await?;
            let wake_all = |channels: &HashMap<String, Arc<Notify>>| channels.values().for_each(|n| n.notify_one());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        msg = listener.try_recv() => match msg {
                            Ok(Some(n)) => {
                                if let Some(notify) = channels.get(n.channel()) {
                                    notify.notify_one();
                                }
                            }
                            // Connection lost and re-established: anything may have been missed.
                            Ok(None) => wake_all(&channels),
                            Err(e) => {
                                tracing::warn!(error = %e, "notification listener error; retrying");
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                wake_all(&channels);
                            }
                        }
                    }
                }
            });
        }
        Ok(wakeups)
    }

    /// The wake-up of a single queue.
    pub async fn start(
        pool: &PgPool,
        queue: &str,
        mode: DispatchMode,
        poll_interval: Duration,
        stop: CancellationToken,
    ) -> crate::Result<Self> {
        let mut all = Self::start_many(pool, &[queue.to_string()], mode, poll_interval, stop).await?;
        Ok(all.remove(0))
    }

    /// Wait for the next wake-up. In event-driven mode there is no timer.
    pub async fn wait(&self) -> WakeSource {
        self.wait_at_most(None).await
    }

    /// Wait for the next wake-up, but no longer than `limit` (e.g. until a delayed message becomes visible,
    /// which no notification announces). The poll interval still applies in polling and hybrid modes.
    pub async fn wait_at_most(&self, limit: Option<Duration>) -> WakeSource {
        let timer = match (self.mode.polls(), limit) {
            (true, Some(l)) => Some(l.min(self.poll_interval)),
            (true, None) => Some(self.poll_interval),
            (false, l) => l,
        };
        match timer {
            Some(t) => tokio::select! {
                _ = self.notify.notified() => WakeSource::Notified,
                _ = tokio::time::sleep(t) => WakeSource::Poll,
            },
            None => {
                self.notify.notified().await;
                WakeSource::Notified
            }
        }
    }

    /// Wake the loop from inside the process (e.g. after a batch freed capacity).
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}
