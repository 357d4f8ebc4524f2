-- Start the `scheduled` tasks whose run_at has come, oldest first, up to $1 of them: each moves to
-- `steps_in_process` with an audit row, or to `queued` when its template limits how many run at once (the caller
-- then admits what its gate allows, concurrency.rs). Tasks another server is starting right now are skipped (their
-- rows are locked); the locks taken here are held to the end of the transaction, in which the caller then enqueues
-- the started tasks' root steps (settle_steps.sql, with no outcomes), so a task starts once and its roots
-- are enqueued with it. Rows: each task, its namespace, the queues of its steps, its new state and its gate.
WITH due AS (
    SELECT task_uuid
    FROM tasker.tasks
    WHERE state = 'scheduled' AND run_at <= clock_timestamp()
    ORDER BY run_at, task_uuid
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), started AS (
    UPDATE tasker.tasks t
    SET state = CASE WHEN t.concurrency_gate IS NULL THEN 'steps_in_process' ELSE 'queued' END, updated_at = now()
    FROM due
    WHERE t.task_uuid = due.task_uuid AND t.state = 'scheduled'
    RETURNING t.task_uuid, t.namespace, COALESCE(t.queues, ARRAY[t.namespace]) AS queues, t.state,
              t.concurrency_gate
), audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'scheduled', state, 'run_at reached' FROM started
)
SELECT task_uuid, namespace, queues, state, concurrency_gate FROM started
