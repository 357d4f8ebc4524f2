-- Start the `scheduled` tasks whose run_at has come, oldest first, up to $1 of them: each moves to
-- `steps_in_process` with an audit row. Tasks another server is starting right now are skipped (their rows are
-- locked); the locks taken here are held to the end of the transaction, in which the caller then enqueues the
-- started tasks' root steps (settle_result_batch.sql, with no outcomes), so a task starts once and its roots are
-- enqueued with it. Rows: each started task, its namespace and the queues of its steps.
WITH due AS (
    SELECT task_uuid
    FROM tasker.tasks
    WHERE state = 'scheduled' AND run_at <= clock_timestamp()
    ORDER BY run_at, task_uuid
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), started AS (
    UPDATE tasker.tasks t
    SET state = 'steps_in_process', updated_at = now()
    FROM due
    WHERE t.task_uuid = due.task_uuid AND t.state = 'scheduled'
    RETURNING t.task_uuid, t.namespace, COALESCE(t.queues, ARRAY[t.namespace]) AS queues
), audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'scheduled', 'steps_in_process', 'run_at reached' FROM started
)
SELECT task_uuid, namespace, queues FROM started
