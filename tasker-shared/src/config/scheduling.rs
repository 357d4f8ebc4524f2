//! `[scheduling]`: when delayed tasks start, how often cron schedules and emitted events are looked at.

use super::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The scheduler every orchestration server runs: delayed tasks, cron schedules and event triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulingConfig {
    /// Whether this server runs the scheduler at all (any number of servers may; each due item is taken once).
    pub enabled: bool,
    /// The longest the scheduler sleeps between passes: a delayed task starts at most this late, an emitted
    /// event missed by its notification is taken at most this late. It sleeps less when a task is due sooner.
    pub poll_interval: HumanDuration,
    /// A cron fire time this far in the past still fires as on time (a server busy or restarting); older ones
    /// were missed, and `catch_up` decides what happens to them.
    pub catch_up_grace: HumanDuration,
    /// Most delayed tasks started, schedules fired or events turned into tasks per transaction.
    pub batch_size: u32,
    /// Workers claim the waiting steps of higher-priority tasks first, but a step that has waited this long is
    /// served like one of the highest priority: no priority starves.
    pub max_priority_wait: HumanDuration,
}

impl SchedulingConfig {
    /// How far ahead one priority level puts a step in its queue, in seconds: a fifth of the levels' span, so a
    /// priority-1 step that has waited `max_priority_wait` is level with a fresh priority-5 one.
    pub fn priority_step_seconds(&self) -> f64 {
        self.max_priority_wait.0.as_secs_f64() / 4.0
    }
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval: HumanDuration(Duration::from_secs(1)),
            catch_up_grace: HumanDuration(Duration::from_secs(10)),
            batch_size: 100,
            max_priority_wait: HumanDuration(Duration::from_secs(30)),
        }
    }
}
