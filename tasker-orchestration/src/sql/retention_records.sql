-- Delete one batch of schedule fire records and of processed emitted events older than $1, in ONE statement.
-- Fires are found by `recorded_at`, events by `emitted_at` (an event is processed after it is emitted, so one
-- processed before the cutoff was emitted before it too), each through its block-range index. An event still
-- waiting (never processed) is kept whatever its age; so is the fire record of a task still running (`overlap: skip`
-- finds the running task through it), and any row another transaction holds.
-- $1 cutoff, $2 batch size
WITH old_fires AS (
    SELECT schedule_id, fire_time
    FROM tasker.schedule_fires f
    WHERE recorded_at < $1
      AND NOT EXISTS (SELECT 1 FROM tasker.tasks t
                      WHERE t.task_uuid = f.task_uuid AND t.state IN ('scheduled', 'queued', 'steps_in_process'))
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), fires AS (
    DELETE FROM tasker.schedule_fires f
    USING old_fires o
    WHERE f.schedule_id = o.schedule_id AND f.fire_time = o.fire_time
    RETURNING 1
), old_events AS (
    SELECT event_id
    FROM tasker.emitted_events
    WHERE emitted_at < $1 AND processed_at < $1
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), events AS (
    DELETE FROM tasker.emitted_events e
    USING old_events o
    WHERE e.event_id = o.event_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM fires) AS fires, (SELECT count(*) FROM events) AS events
