//! One client's view of the stream: the events after a position, first from the database (catching up), then
//! from the hub's broadcast, as one gap-free, duplicate-free sequence.
//!
//! A follower keeps its `position`: every event up to it has been considered (sent, or not in its scope).
//! A broadcast batch starting past the position (the follower fell behind, or the reader restarted) means it
//! catches up from the database again; events at or below the position are never sent twice.

use super::hub::EventHub;
use super::log::{read_events, read_task_events};
use super::{ends_task_stream, Event};
use crate::error::Result;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Transactions per catch-up read of the whole stream.
const CATCH_UP_TRANSACTIONS: i64 = 1_000;
/// Events buffered per client before the follower waits for it.
const CLIENT_BUFFER: usize = 256;

/// Which events a follower wants.
#[derive(Debug, Clone)]
pub enum Scope {
    /// One task's; the stream ends after its final event.
    Task(Uuid),
    /// Every task's (or one namespace's); the stream does not end.
    All {
        /// Only this namespace's tasks.
        namespace: Option<String>,
    },
}

impl Scope {
    fn includes(&self, event: &Event) -> bool {
        match self {
            Self::Task(task) => event.task_uuid == *task,
            Self::All { namespace } => namespace.as_deref().is_none_or(|ns| ns == event.namespace),
        }
    }
}

/// Follow `scope` from after event `after`: the events arrive on the returned channel, which closes when the
/// task's stream ends, the hub stops, or the database fails (the client reconnects with its last id).
pub fn follow(hub: &EventHub, scope: Scope, after: i64) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    let hub = hub.clone();
    tokio::spawn(async move {
        let stop = hub.stopped();
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tx.closed() => {}
            outcome = Follower { hub: &hub, scope, position: after, tx: &tx }.run() => {
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, "event stream ended by a database error");
                }
            }
        }
    });
    rx
}

struct Follower<'a> {
    hub: &'a EventHub,
    scope: Scope,
    position: i64,
    tx: &'a mpsc::Sender<Event>,
}

/// Whether the stream goes on.
#[derive(PartialEq)]
enum Flow {
    More,
    Done,
}

impl Follower<'_> {
    async fn run(mut self) -> Result<()> {
        let mut subscription = self.hub.subscribe();
        if self.catch_up().await? == Flow::Done {
            return Ok(());
        }
        loop {
            match subscription.batches.recv().await {
                Ok(batch) => {
                    if batch.to <= self.position {
                        continue;
                    }
                    if batch.from > self.position && self.catch_up().await? == Flow::Done {
                        return Ok(());
                    }
                    // The task's final event ends its stream after the rest of its batch: the transaction that
                    // finalizes a task also records its steps' last transitions, which may sort after it. Only
                    // the batch's last task event decides (a task retried after `error` goes on).
                    let start = self.position;
                    let mut flow = Flow::More;
                    for event in batch.events.iter().filter(|e| e.id > start) {
                        if self.scope.includes(event) {
                            let sent = self.send(event.clone()).await;
                            if event.kind == super::EventKind::Task {
                                flow = sent;
                            }
                        }
                    }
                    if flow == Flow::Done {
                        return Ok(());
                    }
                    self.position = self.position.max(batch.to);
                }
                Err(RecvError::Lagged(_)) => {
                    if self.catch_up().await? == Flow::Done {
                        return Ok(());
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Send what the database holds after the position.
    async fn catch_up(&mut self) -> Result<Flow> {
        let pool = self.hub.pool();
        match self.scope.clone() {
            Scope::Task(task) => {
                let read = read_task_events(pool, task, self.position).await?;
                let ended = read.last_task_state.as_deref().is_some_and(ends_task_stream);
                for event in read.events {
                    // Only the LAST task event may end the stream: a task retried after `error` goes on.
                    self.send_unchecked(event).await;
                }
                self.position = self.position.max(read.position);
                Ok(if ended { Flow::Done } else { Flow::More })
            }
            Scope::All { namespace } => loop {
                let page = read_events(pool, self.position, namespace.as_deref(), CATCH_UP_TRANSACTIONS).await?;
                for event in page.events {
                    self.send_unchecked(event).await;
                }
                self.position = self.position.max(page.position);
                if page.at_end {
                    return Ok(Flow::More);
                }
            },
        }
    }

    /// Send a live event; a task's final event ends a task stream.
    async fn send(&mut self, event: Event) -> Flow {
        let ends = matches!(self.scope, Scope::Task(_)) && event.ends_task();
        self.send_unchecked(event).await;
        if ends {
            Flow::Done
        } else {
            Flow::More
        }
    }

    async fn send_unchecked(&mut self, event: Event) {
        self.position = self.position.max(event.id);
        // A closed channel means the client left; the caller's select ends the follower.
        let _ = self.tx.send(event).await;
    }
}
