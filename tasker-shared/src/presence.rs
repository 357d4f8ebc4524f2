//! Worker presence: how often a running worker refreshes its row in `tasker.workers`, and how long a row stays
//! live without one. Workers write the rows; servers read them (`GET /v1/workers`, queues nobody serves). Both
//! sides use these constants, so they agree on what "live" means.

use std::time::Duration;

/// How often a worker refreshes `last_seen_at` (and its queue list).
pub const BEAT: Duration = Duration::from_secs(5);

/// A worker not seen for this long is not live (three missed beats): its queues count as unserved.
pub const LIVE_WITHIN: Duration = Duration::from_secs(15);

/// Rows of workers not seen for this long (crashed, never deregistered) are deleted by the next worker to start.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The host name to record: `$HOSTNAME`, else `/etc/hostname`, else `unknown`.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
