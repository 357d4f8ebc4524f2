-- Start the queued tasks $1 (uuid[]) that admission chose: each moves to `steps_in_process` with an audit row.
-- A task another transaction holds right now (an operator cancelling it) is skipped; it stays queued for the next
-- admission. The caller then enqueues the started tasks' root steps in the same transaction (settle_steps.sql
-- with no outcomes), as for a delayed start. Rows: each started task, its namespace and the queues of its steps.
WITH chosen AS (
    SELECT task_uuid
    FROM tasker.tasks
    WHERE task_uuid = ANY($1::uuid[]) AND state = 'queued'
    ORDER BY task_uuid
    FOR UPDATE SKIP LOCKED
), started AS (
    UPDATE tasker.tasks t
    SET state = 'steps_in_process', updated_at = now()
    FROM chosen c
    WHERE t.task_uuid = c.task_uuid AND t.state = 'queued'
    RETURNING t.task_uuid, t.namespace, COALESCE(t.queues, ARRAY[t.namespace]) AS queues
), audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'queued', 'steps_in_process', 'concurrency slot free' FROM started
)
SELECT task_uuid, namespace, queues FROM started
