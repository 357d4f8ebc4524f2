-- Finalize the given tasks that can no longer progress: `complete` when every step is satisfied, `error`
-- when a step failed and nothing is still active (pending steps behind a failed one can never run).
-- Guarded on `steps_in_process`; the caller holds the task locks, so each task is finalized once.
-- The caller announces each finalized task on channel `tasker_task_finalized` after commit.
-- The same statement deletes the batch's result messages ($2, from `{results_table}`): the batch is done.
WITH summary AS (
    SELECT task_uuid,
           bool_and(state IN ('complete', 'resolved_manually')) AS all_done,
           bool_or(state = 'error') AS any_error,
           bool_or(state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration', 'waiting_for_retry')) AS any_active
    FROM tasker.workflow_steps
    WHERE task_uuid = ANY($1)
    GROUP BY task_uuid
), decided AS (
    SELECT task_uuid, CASE WHEN all_done THEN 'complete' ELSE 'error' END AS new_state
    FROM summary
    WHERE all_done OR (any_error AND NOT any_active)
), moved AS (
    UPDATE tasker.tasks t
    SET state = d.new_state, completed_at = now(), updated_at = now()
    FROM decided d
    WHERE t.task_uuid = d.task_uuid AND t.state = 'steps_in_process'
    RETURNING t.task_uuid, t.namespace, t.state
), audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'steps_in_process', state, 'finalized' FROM moved
), acked AS (
    DELETE FROM {results_table} WHERE msg_id = ANY($2)
)
SELECT task_uuid, namespace, state FROM moved
