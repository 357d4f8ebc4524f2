//! Wakes a processing loop when there may be work: on a NOTIFY for one of its queues (event-driven), on a timer
//! (polling), or both (hybrid). Notifications coalesce into one flag, so a burst of sends costs one wake-up.

use super::notify_channel;
use crate::config::DispatchMode;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
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
    /// Start listening to the channels of `queues` (unless `mode` is polling). The listener task reconnects
    /// by itself (sqlx's `PgListener` re-subscribes) and wakes the loop after a reconnect, since
    /// notifications may have been missed meanwhile.
    pub async fn start(
        pool: &PgPool,
        queues: &[String],
        mode: DispatchMode,
        poll_interval: Duration,
        stop: CancellationToken,
    ) -> crate::Result<Self> {
        let notify = Arc::new(Notify::new());
        if mode.listens() {
            let mut listener = PgListener::connect_with(pool).await?;
            let channels: Vec<String> = queues.iter().map(|q| notify_channel(q)).collect();
            listener.listen_all(channels.iter().map(String::as_str)).await?;
            let n = notify.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        msg = listener.try_recv() => match msg {
                            Ok(Some(_)) => n.notify_one(),
                            // Connection lost and re-established: anything may have been missed.
                            Ok(None) => n.notify_one(),
                            Err(e) => {
                                tracing::warn!(error = %e, "notification listener error; retrying");
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                n.notify_one();
                            }
                        }
                    }
                }
            });
        }
        Ok(Self { notify, mode, poll_interval })
    }

    /// Wait for the next wake-up. In event-driven mode there is no timer.
    pub async fn wait(&self) -> WakeSource {
        if self.mode.polls() {
            tokio::select! {
                _ = self.notify.notified() => WakeSource::Notified,
                _ = tokio::time::sleep(self.poll_interval) => WakeSource::Poll,
            }
        } else {
            self.notify.notified().await;
            WakeSource::Notified
        }
    }

    /// Wake the loop from inside the process (e.g. after a batch freed capacity).
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}
