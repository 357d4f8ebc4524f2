//! Cron schedules (`/v1/schedules`, and `schedules:` in templates): what they are, and creating, reading,
//! changing and deleting them. Firing them is `schedule_firing.rs`.

use crate::error::{OrchestrationError, Result};
use crate::template_catalog::{CompiledTemplate, TemplateCatalog};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgPool};
use tasker_shared::cron_spec::CronSpec;
use tasker_shared::template::{CatchUp, Overlap, ScheduleSpec, TaskTemplate, PRIORITIES};
use uuid::Uuid;

/// The body of `POST /v1/schedules`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; unset, the newest at each fire.
    #[serde(default)]
    pub version: Option<String>,
    /// 5 fields (`minute hour day-of-month month day-of-week`) or 6 (a leading second).
    pub cron: String,
    /// IANA timezone of the cron fields; default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The context of every task it starts, checked against the template's input schema now.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: Option<serde_json::Value>,
    /// `allow` (default): fire while the previous task runs; `skip`: record the fire as skipped.
    #[serde(default)]
    pub overlap: Overlap,
    /// `none` (default): after downtime fire only future times; `latest`: fire the most recent missed time once.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// Priority of its tasks, 1-5; default the template's.
    #[serde(default)]
    pub priority: Option<i32>,
}

/// The body of `PATCH /v1/schedules/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// Pause (true) or resume (false). Resuming fires only future times.
    #[serde(default)]
    pub paused: Option<bool>,
    /// A new cron expression.
    #[serde(default)]
    pub cron: Option<String>,
    /// A new timezone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// A new context (checked against the template).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
    /// `allow` or `skip`.
    #[serde(default)]
    pub overlap: Option<Overlap>,
    /// `none` or `latest`.
    #[serde(default)]
    pub catch_up: Option<CatchUp>,
    /// 1-5.
    #[serde(default)]
    pub priority: Option<i32>,
}

/// A schedule as the API serves it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ScheduleView {
    pub schedule_id: Uuid,
    pub namespace: String,
    pub name: String,
    pub version: Option<String>,
    pub cron: String,
    pub timezone: String,
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// `allow` or `skip`.
    pub overlap: String,
    /// `none` or `latest`.
    pub catch_up: String,
    pub priority: Option<i32>,
    pub paused: bool,
    /// The next fire time (null while paused).
    pub next_fire_at: Option<DateTime<Utc>>,
    /// `api`, or `template` for one declared in a template's `schedules:`.
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Its fire times, newest first (the last 50; only on `GET /v1/schedules/{id}`).
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fires: Option<Vec<FireView>>,
}

/// One fire time of a schedule.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct FireView {
    pub fire_time: DateTime<Utc>,
    /// The task it started; null when skipped.
    pub task_uuid: Option<Uuid>,
    pub skipped: bool,
    /// Why it was skipped.
    pub reason: Option<String>,
}

const COLUMNS: &str = "schedule_id, namespace, name, version, cron, timezone, context, overlap, catch_up, priority, \
                       paused, next_fire_at, CASE WHEN source_key IS NULL THEN 'api' ELSE 'template' END AS source, \
                       created_at, updated_at";

fn invalid(field: impl Into<String>, message: impl Into<String>) -> OrchestrationError {
    OrchestrationError::Invalid { field: field.into(), message: message.into() }
}

fn parse_cron(cron: &str, timezone: &str) -> Result<CronSpec> {
    CronSpec::parse(cron, timezone).map_err(|e| invalid(e.field, e.message))
}

fn check_priority(priority: Option<i32>) -> Result<()> {
    match priority.filter(|p| !PRIORITIES.contains(p)) {
        Some(p) => Err(invalid("priority", format!("{p} is not a priority: 1 (lowest) to 5 (highest)"))),
        None => Ok(()),
    }
}

/// A template with a keyed concurrency limit needs its key in every task's context: a schedule whose context lacks
/// it could never start a task.
fn check_concurrency_key(compiled: &CompiledTemplate, context: &serde_json::Value) -> Result<()> {
    if let Some(limits) = &compiled.limits {
        limits.key_value(context).map_err(|e| invalid(e.field, e.message))?;
    }
    Ok(())
}

fn as_text<T: Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Create a schedule (`source_key` names a template's entry; registering it again updates it in place).
pub async fn create(
    pool: &PgPool,
    catalog: &TemplateCatalog,
    new: NewSchedule,
    source_key: Option<String>,
) -> Result<ScheduleView> {
    let timezone = new.timezone.clone().unwrap_or_else(|| "UTC".into());
    let spec = parse_cron(&new.cron, &timezone)?;
    check_priority(new.priority)?;
    let compiled = catalog.find(&new.namespace, &new.name, new.version.as_deref()).await?;
    let context = new.context.clone().unwrap_or_else(|| serde_json::json!({}));
    compiled.validate_context(&context)?;
    check_concurrency_key(&compiled, &context)?;
    let next = spec.next_after(Utc::now());
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO tasker.schedules (schedule_id, namespace, name, version, cron, timezone, context, overlap,
                                       catch_up, priority, next_fire_at, source_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (source_key) DO UPDATE
         SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, context = EXCLUDED.context,
             overlap = EXCLUDED.overlap, catch_up = EXCLUDED.catch_up, priority = EXCLUDED.priority,
             next_fire_at = CASE WHEN (tasker.schedules.cron, tasker.schedules.timezone)
                                      IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.timezone)
                                 THEN EXCLUDED.next_fire_at ELSE tasker.schedules.next_fire_at END,
             updated_at = now()
         WHERE (tasker.schedules.cron, tasker.schedules.timezone, tasker.schedules.context, tasker.schedules.overlap,
                tasker.schedules.catch_up, tasker.schedules.priority)
               IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.timezone, EXCLUDED.context, EXCLUDED.overlap,
                                 EXCLUDED.catch_up, EXCLUDED.priority)
         RETURNING schedule_id",
    )
    .bind(Uuid::now_v7())
    .bind(&new.namespace)
    .bind(&new.name)
    .bind(&new.version)
    .bind(&new.cron)
    .bind(&timezone)
    .bind(&context)
    .bind(as_text(new.overlap))
    .bind(as_text(new.catch_up))
    .bind(new.priority)
    .bind(next)
    .bind(&source_key)
    .fetch_optional(pool)
    .await?;
    let id = match inserted {
        Some(id) => id,
        // A template's schedule registered again, unchanged.
        None => {
            sqlx::query_scalar("SELECT schedule_id FROM tasker.schedules WHERE source_key = $1")
                .bind(&source_key)
                .fetch_one(pool)
                .await?
        }
    };
    get(pool, id, false).await
}

/// Register the schedules `template` declares (`schedules:`), idempotently: each is keyed by its template and
/// position, targets the newest version, and is updated in place when its entry changes.
pub async fn register_declared(pool: &PgPool, catalog: &TemplateCatalog, template: &TaskTemplate) -> Result<()> {
    for (i, spec) in template.schedules.iter().enumerate() {
        let ScheduleSpec { cron, timezone, context, overlap, catch_up, priority } = spec.clone();
        let new = NewSchedule {
            namespace: template.namespace.clone(),
            name: template.name.clone(),
            version: None,
            cron,
            timezone,
            context,
            overlap,
            catch_up,
            priority,
        };
        let key = format!("template:{}/{}#{i}", template.namespace, template.name);
        create(pool, catalog, new, Some(key)).await?;
    }
    Ok(())
}

/// Every schedule, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ScheduleView>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasker.schedules ORDER BY created_at, schedule_id"))
        .fetch_all(pool)
        .await?)
}

/// One schedule, with its last 50 fires when `with_fires`.
pub async fn get(pool: &PgPool, id: Uuid, with_fires: bool) -> Result<ScheduleView> {
    let mut view: ScheduleView =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasker.schedules WHERE schedule_id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| OrchestrationError::ScheduleNotFound(id))?;
    if with_fires {
        let fires: Vec<FireView> = sqlx::query_as(
            "SELECT fire_time, task_uuid, skipped, reason FROM tasker.schedule_fires
             WHERE schedule_id = $1 ORDER BY fire_time DESC LIMIT 50",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        view.fires = Some(fires);
    }
    Ok(view)
}

/// Change a schedule. A new cron or timezone, or a resume, recomputes the next fire time from now.
pub async fn update(pool: &PgPool, catalog: &TemplateCatalog, id: Uuid, patch: SchedulePatch) -> Result<ScheduleView> {
    // The row is locked from the read to the write: two concurrent changes (a pause and a new cron, a new cron and
    // a new timezone) apply one after the other, each to what the other left, and none undoes the other's fields.
    let mut tx = pool.begin().await?;
    let current: ScheduleView =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasker.schedules WHERE schedule_id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| OrchestrationError::ScheduleNotFound(id))?;
    let cron = patch.cron.clone().unwrap_or(current.cron.clone());
    let timezone = patch.timezone.clone().unwrap_or(current.timezone.clone());
    let spec = parse_cron(&cron, &timezone)?;
    check_priority(patch.priority)?;
    if let Some(context) = &patch.context {
        let compiled = catalog.find(&current.namespace, &current.name, current.version.as_deref()).await?;
        compiled.validate_context(context)?;
        check_concurrency_key(&compiled, context)?;
    }
    let paused = patch.paused.unwrap_or(current.paused);
    let retimed = patch.cron.is_some() || patch.timezone.is_some() || (current.paused && !paused);
    // The next fire time changes only when the schedule is paused or re-timed; otherwise the row's own value is
    // kept (not the one read above: a server may have fired the schedule since).
    sqlx::query(
        "UPDATE tasker.schedules
         SET cron = $2, timezone = $3, context = COALESCE($4, context), overlap = COALESCE($5, overlap),
             catch_up = COALESCE($6, catch_up), priority = COALESCE($7, priority), paused = $8,
             next_fire_at = CASE WHEN $8 THEN NULL
                                 WHEN $10 OR next_fire_at IS NULL THEN $9
                                 ELSE next_fire_at END,
             updated_at = now()
         WHERE schedule_id = $1",
    )
    .bind(id)
    .bind(&cron)
    .bind(&timezone)
    .bind(&patch.context)
    .bind(patch.overlap.map(as_text))
    .bind(patch.catch_up.map(as_text))
    .bind(patch.priority)
    .bind(paused)
    .bind(spec.next_after(Utc::now()))
    .bind(retimed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(pool, id, false).await
}

/// Delete a schedule and its fire records (the tasks it started are kept).
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM tasker.schedules WHERE schedule_id = $1").bind(id).execute(pool).await?;
    if deleted.rows_affected() == 0 {
        return Err(OrchestrationError::ScheduleNotFound(id));
    }
    Ok(())
}
