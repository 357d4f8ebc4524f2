-- Retry a failed task in ONE statement; the caller holds the task's lock and has checked that it is `error`.
-- Every `error` step gets a fresh budget (attempts start again from 0, so `max_attempts` applies anew; the
-- earlier attempts stay in the audit trail) and is enqueued with its message; the task returns to
-- `steps_in_process`. The steps behind the failed ones are still `pending` and are enqueued by the result
-- processor when their dependencies complete. The last error stays on the step until its next outcome.
-- {queue_table}: the task's namespace queue; {queue_channel}: its NOTIFY channel.
-- $1 task_uuid, $2 reason
WITH task AS (
    UPDATE tasker.tasks t
    SET state = 'steps_in_process', completed_at = NULL, updated_at = now()
    WHERE t.task_uuid = $1 AND t.state = 'error'
      AND EXISTS (SELECT 1 FROM tasker.workflow_steps s WHERE s.task_uuid = $1 AND s.state = 'error')
    RETURNING t.task_uuid
), task_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'error', 'steps_in_process', $2 FROM task
), retried AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued', attempts = 0, next_attempt_at = NULL, claim_token = NULL, lease_expires_at = NULL,
        completed_at = NULL, updated_at = now()
    WHERE s.task_uuid IN (SELECT task_uuid FROM task) AND s.state = 'error'
    RETURNING s.step_uuid, s.task_uuid
), step_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'error', 'enqueued', $2 FROM retried
), sent AS (
    INSERT INTO {queue_table} (vt, message)
    SELECT clock_timestamp(), jsonb_build_object('task_uuid', task_uuid, 'step_uuid', step_uuid) FROM retried
), announced AS (
    SELECT count(pg_notify('{queue_channel}', '')) AS n FROM (SELECT 1 FROM retried LIMIT 1) one
)
SELECT step_uuid FROM retried, announced
