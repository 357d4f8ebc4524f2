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
    /// The wake-up of a single queue.
    pub async fn start(
        pool: &PgPool,
        queue: &str,
        mode: DispatchMode,
        poll_interval: Duration,
        stop: CancellationToken,
    ) -> crate::Result<Self> {
        let (_, mut all) = WakeupSet::start(pool, &[queue.to_string()], mode, poll_interval, stop).await?;
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

/// The wake-ups of a set of queues that can grow while it runs (a worker starting to serve a queue named by a
/// template registered later), all fed by ONE listening connection whatever their number. The listener task
/// reconnects by itself (sqlx's `PgListener` re-subscribes) and wakes every loop after a reconnect, since
/// notifications may have been missed meanwhile. Adding queues starts a new listener on every channel, then
/// stops the old one and wakes every loop once, so that nothing sent during the switch is missed.
pub struct WakeupSet {
    pool: PgPool,
    mode: DispatchMode,
    poll_interval: Duration,
    stop: CancellationToken,
    state: tokio::sync::Mutex<ListenerState>,
}

#[derive(Default)]
struct ListenerState {
    channels: HashMap<String, Arc<Notify>>,
    /// Stops the running listener task.
    current: Option<CancellationToken>,
}

impl WakeupSet {
    /// Wake-ups for `queues`, in order, and the set (to add more later). Stops listening at `stop`.
    pub async fn start(
        pool: &PgPool,
        queues: &[String],
        mode: DispatchMode,
        poll_interval: Duration,
        stop: CancellationToken,
    ) -> crate::Result<(Arc<Self>, Vec<Wakeup>)> {
        let set = Arc::new(Self {
            pool: pool.clone(),
            mode,
            poll_interval,
            stop,
            state: tokio::sync::Mutex::new(ListenerState::default()),
        });
        let wakeups = set.add(queues).await?;
        Ok((set, wakeups))
    }

    /// Wake-ups for `queues` (in order), listened to on the set's one connection from now on.
    pub async fn add(&self, queues: &[String]) -> crate::Result<Vec<Wakeup>> {
        let wakeups: Vec<Wakeup> = queues
            .iter()
            .map(|_| Wakeup { notify: Arc::new(Notify::new()), mode: self.mode, poll_interval: self.poll_interval })
            .collect();
        if !self.mode.listens() || queues.is_empty() {
            return Ok(wakeups);
        }
        let mut state = self.state.lock().await;
        let mut channels = state.channels.clone();
        channels.extend(queues.iter().zip(&wakeups).map(|(q, w)| (notify_channel(q), w.notify.clone())));
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all(channels.keys().map(String::as_str)).await?;
        let token = self.stop.child_token();
        tokio::spawn(listen(listener, channels.clone(), token.clone()));
        if let Some(previous) = state.current.replace(token) {
            previous.cancel();
            // Anything announced between the old listener's last message and the new one's LISTEN.
            channels.values().for_each(|n| n.notify_one());
        }
        state.channels = channels;
        Ok(wakeups)
    }
}

/// Deliver `listener`'s notifications to their loops until `stop`.
async fn listen(mut listener: PgListener, channels: HashMap<String, Arc<Notify>>, stop: CancellationToken) {
    let wake_all = |channels: &HashMap<String, Arc<Notify>>| channels.values().for_each(|n| n.notify_one());
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
}
