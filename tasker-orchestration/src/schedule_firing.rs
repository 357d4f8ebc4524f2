//! Firing cron schedules. Each pass locks the due schedules (`FOR UPDATE SKIP LOCKED`: with several servers,
//! each schedule is fired by one of them at a time), starts one task per fire time with the idempotency key
//! `schedule:<id>:<fire time, RFC 3339 UTC>` (a second guard: a fire time retried after a crash finds its task),
//! records the fire and moves the schedule to its next fire time, in one transaction per pass.
//!
//! A fire time up to `scheduling.catch_up_grace` late is on time. An older one was missed (no server ran):
//! `catch_up: none` skips to the next future time, `latest` fires the most recent missed time once. With
//! `overlap: skip`, a fire time whose schedule's previous task is still running is recorded as skipped.

use crate::error::{OrchestrationError, Result};
use crate::task_initializer::{create_task, CreateTaskRequest};
use crate::task_writer::TaskWriter;
use crate::template_catalog::TemplateCatalog;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{FromRow, PgPool};
use tasker_shared::config::{ExecutionConfig, SchedulingConfig};
use tasker_shared::cron_spec::CronSpec;
use uuid::Uuid;

/// A due schedule.
#[derive(FromRow)]
struct Due {
    schedule_id: Uuid,
    namespace: String,
    name: String,
    version: Option<String>,
    cron: String,
    timezone: String,
    context: serde_json::Value,
    overlap: String,
    catch_up: String,
    priority: Option<i32>,
    next_fire_at: DateTime<Utc>,
    /// The database's clock when the row was read: which schedules are due is the database's call, so how late
    /// they are is measured on the same clock (a server's clock may be off).
    read_at: DateTime<Utc>,
}

/// What became of one fire time.
enum Fired {
    Started(Uuid),
    Skipped(String),
}

/// What firing needs of the server.
pub struct Firing<'a> {
    pub pool: &'a PgPool,
    /// Where the transaction holding the due schedules runs (not `pool`: tasks are created through `pool` while
    /// it is open).
    pub lock_pool: &'a PgPool,
    pub catalog: &'a TemplateCatalog,
    pub writer: &'a TaskWriter,
    pub execution: &'a ExecutionConfig,
    pub config: &'a SchedulingConfig,
}

impl Firing<'_> {
    /// Fire every due schedule (up to the batch size); returns how many fire times were handled.
    pub async fn fire_due(&self) -> Result<usize> {
        let mut tx = self.lock_pool.begin().await?;
        let due: Vec<Due> = sqlx::query_as(
            "SELECT schedule_id, namespace, name, version, cron, timezone, context, overlap, catch_up, priority,
                    next_fire_at, clock_timestamp() AS read_at
             FROM tasker.schedules
             WHERE NOT paused AND next_fire_at <= clock_timestamp()
             ORDER BY next_fire_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED",
        )
        .bind(self.config.batch_size as i32)
        .fetch_all(&mut *tx)
        .await?;
        let read = std::time::Instant::now();
        let mut handled = 0;
        for schedule in &due {
            let now = schedule.read_at + chrono::Duration::from_std(read.elapsed()).unwrap_or_default();
            let spec = match CronSpec::parse(&schedule.cron, &schedule.timezone) {
                Ok(spec) => spec,
                Err(e) => {
                    // Validated when written; only a hand-edited row gets here. Stop it rather than spin.
                    tracing::error!(schedule_id = %schedule.schedule_id, error = %e, "schedule has an invalid cron; pausing it");
                    sqlx::query(
                        "UPDATE tasker.schedules SET paused = true, next_fire_at = NULL WHERE schedule_id = $1",
                    )
                    .bind(schedule.schedule_id)
                    .execute(&mut *tx)
                    .await?;
                    continue;
                }
            };
            let grace = chrono::Duration::from_std(self.config.catch_up_grace.0).unwrap_or_default();
            let catch_up = schedule.catch_up == "latest";
            let (fire_time, next) = plan_fire(&spec, schedule.next_fire_at, now, grace, catch_up);
            if let Some(fire_time) = fire_time {
                let fired = self.fire(&mut tx, schedule, fire_time).await?;
                let (task, skipped, reason, outcome) = match fired {
                    Fired::Started(task) => (Some(task), false, None, "started"),
                    Fired::Skipped(reason) => (None, true, Some(reason), "skipped"),
                };
                sqlx::query(
                    "INSERT INTO tasker.schedule_fires (schedule_id, fire_time, task_uuid, skipped, reason)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(schedule.schedule_id)
                .bind(fire_time)
                .bind(task)
                .bind(skipped)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                metrics::counter!("tasker_schedule_fires_total", "outcome" => outcome).increment(1);
                handled += 1;
            } else {
                metrics::counter!("tasker_schedule_fires_total", "outcome" => "missed").increment(1);
                tracing::info!(schedule_id = %schedule.schedule_id, missed = %schedule.next_fire_at,
                               "schedule missed its fire time while no server ran; catch_up is none");
            }
            sqlx::query("UPDATE tasker.schedules SET next_fire_at = $2, updated_at = now() WHERE schedule_id = $1")
                .bind(schedule.schedule_id)
                .bind(next)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(handled)
    }

    /// Start the task of one fire time, unless `overlap: skip` and the previous task still runs.
    async fn fire(&self, tx: &mut sqlx::PgConnection, s: &Due, fire_time: DateTime<Utc>) -> Result<Fired> {
        if s.overlap == "skip" {
            let running: Option<Uuid> = sqlx::query_scalar(
                "SELECT f.task_uuid FROM tasker.schedule_fires f
                 JOIN tasker.tasks t ON t.task_uuid = f.task_uuid
                 WHERE f.schedule_id = $1 AND t.state IN ('scheduled', 'queued', 'steps_in_process')
                 ORDER BY f.fire_time DESC LIMIT 1",
            )
            .bind(s.schedule_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(task) = running {
                return Ok(Fired::Skipped(format!("overlap: the previous task {task} is still running")));
            }
        }
        let key = format!("schedule:{}:{}", s.schedule_id, fire_time.to_rfc3339_opts(SecondsFormat::Secs, true));
        let request = CreateTaskRequest {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            version: s.version.clone(),
            context: s.context.clone(),
            priority: s.priority,
            run_at: None,
            idempotency_key: Some(key),
            correlation_id: None,
            tags: None,
            initiator: Some(format!("schedule:{}", s.schedule_id)),
        };
        match create_task(self.pool, self.writer, self.catalog, self.execution, request).await {
            Ok(created) => Ok(Fired::Started(created.task.task_uuid)),
            Err(
                e @ (OrchestrationError::TemplateNotFound { .. }
                | OrchestrationError::InvalidContext { .. }
                | OrchestrationError::IdempotencyConflict { .. }
                | OrchestrationError::Invalid { .. }),
            ) => {
                tracing::warn!(schedule_id = %s.schedule_id, error = %e, "schedule could not start its task");
                Ok(Fired::Skipped(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}

/// What to do with a schedule due at `due`, at `now`: the fire time to fire (none when it was missed and
/// `catch_up` is off) and the next fire time. Up to `grace` late is on time, and the next time follows it even if
/// it is due already (it fires on the next pass, on time too); older was missed. Of the times missed since `due`,
/// the most recent fires when it is itself on time (a server back just after it) or when `catch_up` asks for it,
/// once; the next time is then the first future one.
fn plan_fire(
    spec: &CronSpec,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
    catch_up: bool,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let fire_time = if now - due <= grace {
        Some(due)
    } else {
        let latest = spec.latest_until(due, now);
        (catch_up || now - latest <= grace).then_some(latest)
    };
    (fire_time, spec.next_after(fire_time.unwrap_or(now)))
}

/// When the next unpaused schedule is due, if any.
pub async fn next_fire(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar("SELECT min(next_fire_at) FROM tasker.schedules WHERE NOT paused").fetch_one(pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn late_within_grace_fires_and_missed_times_follow_catch_up() {
        let every_two = CronSpec::parse("*/2 * * * * *", "UTC").unwrap();
        let grace = chrono::Duration::seconds(1);
        let due = at("2026-12-02T10:00:00Z");
        // Half a second late: on time; the next time follows it.
        let on_time = plan_fire(&every_two, due, at("2026-12-02T10:00:00.5Z"), grace, false);
        assert_eq!(on_time, (Some(due), Some(at("2026-12-02T10:00:02Z"))));
        // 7.5 seconds late (no server ran): `none` fires nothing and goes on from now...
        let now = at("2026-12-02T10:00:07.5Z");
        assert_eq!(plan_fire(&every_two, due, now, grace, false), (None, Some(at("2026-12-02T10:00:08Z"))));
        // ... `latest` fires the most recent missed time once, then goes on from there.
        let latest = plan_fire(&every_two, due, now, grace, true);
        assert_eq!(latest, (Some(at("2026-12-02T10:00:06Z")), Some(at("2026-12-02T10:00:08Z"))));
        // Back at 10:00:07, the 10:00:06 time is only a second late: it fires as on time, whatever `catch_up` says.
        let back_just_after = plan_fire(&every_two, due, at("2026-12-02T10:00:07Z"), grace, false);
        assert_eq!(back_just_after, (Some(at("2026-12-02T10:00:06Z")), Some(at("2026-12-02T10:00:08Z"))));
    }
}
