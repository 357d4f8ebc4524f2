//! What starts a template's tasks besides `POST /v1/tasks`: cron schedules and events (`docs/scheduling.md`).

use serde::{Deserialize, Serialize};

/// Task priorities: 1 (lowest) to 5 (highest).
pub const PRIORITIES: std::ops::RangeInclusive<i32> = 1..=5;

/// The priority of a task that names none and whose template sets none.
pub const DEFAULT_PRIORITY: i32 = 3;

/// What a schedule does with a fire time while its previous task still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Start the task anyway.
    #[default]
    Allow,
    /// Record the fire as skipped.
    Skip,
}

/// What a schedule does with the fire times it missed (the servers were down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Nothing: only future fire times fire.
    #[default]
    None,
    /// Fire the most recent missed time once.
    Latest,
}

/// A cron schedule declared in a template (`schedules:`), registered when the server starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// 5 fields (minute resolution) or 6 (leading seconds).
    pub cron: String,
    /// IANA timezone of the cron fields; default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The context of every task it starts (checked against the input schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// `allow` (default) or `skip`.
    #[serde(default)]
    pub overlap: Overlap,
    /// `none` (default) or `latest`.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// Priority of its tasks (1-5); default the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// An event a template subscribes to (`triggers:`): each such event starts one task, its payload the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// The event name (`order.created`).
    pub event: String,
    /// Priority of its tasks (1-5); default the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}
