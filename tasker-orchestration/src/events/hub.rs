//! One event hub per server: it runs the sequencer when something may have committed transitions, and ONE
//! reader that, woken by the sequencer's notification, reads each newly placed batch once and broadcasts it to
//! every follower (many clients, one listener, no per-client polling). Both loops start on first use, so a
//! server nobody follows costs no listening connection.

use super::log::{read_events, stream_end};
use super::sequencer::{place_events, EVENTS_CHANNEL};
use super::Event;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// While anyone follows, the sequencer also runs this often (claims announce nothing, and a step starting is
/// an event too); otherwise only when kicked.
const FOLLOWED_TICK: Duration = Duration::from_millis(100);
/// While followed, kicks closer together than this coalesce into one sequencer run.
const MIN_SPACING: Duration = Duration::from_millis(50);
/// While nobody follows this server's streams, kicks closer together than this coalesce: placing stays cheap for
/// the step path (one run a second), and a later follower finds at most a second's worth to place.
const UNFOLLOWED_SPACING: Duration = Duration::from_secs(1);
/// Transactions per read of the broadcasting reader.
const READ_TRANSACTIONS: i64 = 500;
/// Batches a follower may fall behind before it catches up from the database instead.
const BROADCAST_CAPACITY: usize = 256;

/// Events placed between two positions of the stream: every event with `from < id <= to`.
#[derive(Debug)]
pub struct EventBatch {
    /// The position before the batch.
    pub from: i64,
    /// The position after it.
    pub to: i64,
    /// Its events, in id order.
    pub events: Vec<Event>,
}

/// A server's event hub (cheap to clone). Its loops hold only a weak reference between runs, so dropping the
/// last handle stops them and releases the pool.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    signals: Arc<Signals>,
    sequencer: OnceLock<()>,
    reader: OnceLock<()>,
}

/// What the loops wait on.
struct Signals {
    batches: broadcast::Sender<Arc<EventBatch>>,
    kicked: Notify,
    first_follower: Notify,
    followers: AtomicUsize,
    stop: CancellationToken,
}

impl Signals {
    fn followed(&self) -> bool {
        self.followers.load(Ordering::Relaxed) > 0
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.signals.stop.cancel();
    }
}

/// A follower's subscription; dropping it unsubscribes.
pub struct Subscription {
    /// The batches broadcast since subscribing.
    pub batches: broadcast::Receiver<Arc<EventBatch>>,
    signals: Arc<Signals>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.signals.followers.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("tasker_event_followers").decrement(1.0);
    }
}

impl EventHub {
    /// A hub over `pool`; nothing runs until [`EventHub::kick`] or [`EventHub::subscribe`].
    pub fn new(pool: PgPool) -> Self {
        let (batches, _) = broadcast::channel(BROADCAST_CAPACITY);
        let signals = Arc::new(Signals {
            batches,
            kicked: Notify::new(),
            first_follower: Notify::new(),
            followers: AtomicUsize::new(0),
            stop: CancellationToken::new(),
        });
        Self { inner: Arc::new(Inner { pool, signals, sequencer: OnceLock::new(), reader: OnceLock::new() }) }
    }

    /// The database the hub reads.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Cancelled when the hub stops (followers end their streams then).
    pub fn stopped(&self) -> CancellationToken {
        self.inner.signals.stop.clone()
    }

    /// Stop both loops and end every follower's stream (server shutdown).
    pub fn stop(&self) {
        self.inner.signals.stop.cancel();
    }

    /// Something may have committed transitions: place them soon.
    pub fn kick(&self) {
        self.inner.sequencer.get_or_init(|| {
            tokio::spawn(run_sequencer(Arc::downgrade(&self.inner), self.inner.signals.clone()));
        });
        self.inner.signals.kicked.notify_one();
    }

    /// Follow the stream from now on. Subscribe BEFORE reading the database, so nothing placed in between
    /// is missed (a batch overlapping the read is filtered by position).
    pub fn subscribe(&self) -> Subscription {
        let signals = self.inner.signals.clone();
        if signals.followers.fetch_add(1, Ordering::Relaxed) == 0 {
            signals.first_follower.notify_one();
        }
        metrics::gauge!("tasker_event_followers").increment(1.0);
        let batches = signals.batches.subscribe();
        self.inner.reader.get_or_init(|| {
            tokio::spawn(run_reader(Arc::downgrade(&self.inner), signals.clone()));
        });
        self.kick();
        Subscription { batches, signals }
    }
}

/// Place events whenever kicked (and on a short tick while followed), until the hub stops or is dropped.
async fn run_sequencer(hub: Weak<Inner>, signals: Arc<Signals>) {
    let mut failures = 0u32;
    loop {
        let tick = async {
            if signals.followed() {
                tokio::time::sleep(FOLLOWED_TICK).await
            } else {
                std::future::pending::<()>().await
            }
        };
        tokio::select! {
            _ = signals.stop.cancelled() => return,
            _ = signals.kicked.notified() => {}
            _ = tick => {}
        }
        let Some(inner) = hub.upgrade() else { return };
        match place_events(&inner.pool).await {
            Ok(_) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, "placing events failed; retrying");
                tokio::time::sleep(Duration::from_millis((50u64 << failures.min(6)).min(5_000))).await;
                signals.kicked.notify_one();
            }
        }
        drop(inner);
        let spacing = if signals.followed() { MIN_SPACING } else { UNFOLLOWED_SPACING };
        tokio::select! {
            _ = signals.stop.cancelled() => return,
            _ = tokio::time::sleep(spacing) => {}
            // A first follower should not wait out the slow spacing.
            _ = signals.first_follower.notified() => {}
        }
    }
}

/// Read each newly placed batch once and broadcast it, woken by the sequencers' notifications (of any
/// server). While nobody follows it closes its listening connection and reads nothing.
async fn run_reader(hub: Weak<Inner>, signals: Arc<Signals>) {
    let mut position: Option<i64> = None;
    let mut listener: Option<PgListener> = None;
    loop {
        if !signals.followed() {
            (listener, position) = (None, None);
        } else {
            let Some(inner) = hub.upgrade() else { return };
            if listener.is_none() {
                listener = listen(&inner.pool).await;
                position = None;
            }
            if listener.is_some() {
                match broadcast_new(&inner.pool, &signals, position).await {
                    Ok(p) => position = Some(p),
                    Err(e) => tracing::warn!(error = %e, "reading events failed; retrying"),
                }
            }
        }
        let notified = async {
            match listener.as_mut() {
                // `None`: the connection was lost (sqlx reconnects; notifications may be lost meanwhile).
                Some(l) => l.try_recv().await.map(|n| n.is_some()).unwrap_or(false),
                None => std::future::pending().await,
            }
        };
        let woke = tokio::select! {
            _ = signals.stop.cancelled() => return,
            // The tick notices the first follower, and covers a sequencer that could not notify.
            _ = tokio::time::sleep(FOLLOWED_TICK * 5) => true,
            ok = notified => ok,
        };
        if !woke {
            position = None;
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(EVENTS_CHANNEL).await.ok()?;
    Some(listener)
}

/// Broadcast everything placed after `position`; returns the new position. With no position (a fresh start,
/// or after a lost connection) it starts at the stream's end and broadcasts an empty batch there, so that every
/// follower behind it catches up from the database.
async fn broadcast_new(pool: &PgPool, signals: &Signals, position: Option<i64>) -> crate::error::Result<i64> {
    let mut from = match position {
        Some(p) => p,
        None => {
            let end = stream_end(pool).await?;
            let _ = signals.batches.send(Arc::new(EventBatch { from: end, to: end, events: Vec::new() }));
            return Ok(end);
        }
    };
    loop {
        let page = read_events(pool, from, None, READ_TRANSACTIONS).await?;
        if page.position > from {
            // No receiver is not an error: followers come and go.
            let _ = signals.batches.send(Arc::new(EventBatch { from, to: page.position, events: page.events }));
            from = page.position;
        }
        if page.at_end {
            return Ok(from);
        }
    }
}
