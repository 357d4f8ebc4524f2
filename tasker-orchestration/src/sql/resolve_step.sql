-- Resolve a step by hand in ONE statement; the caller holds the task's lock and has checked that the task is
-- `steps_in_process` or `error`. A step in `error` or `waiting_for_retry` becomes `resolved_manually` with the
-- given result, which satisfies its dependents exactly as `complete` does (and is what they read). A task in
-- `error` returns to `steps_in_process` when no other step of it is failing; the caller then settles the task
-- (settle_steps.sql with no outcomes) to enqueue what became ready, or to complete it. A retrying step's
-- delayed message is deleted.
-- <drops>: one CTE per queue of the task deleting the resolved step's messages there (task_actions.rs).
-- $1 task_uuid, $2 step_uuid, $3 result, $4 reason
WITH target AS (
    SELECT s.step_uuid, s.state
    FROM tasker.workflow_steps s
    WHERE s.step_uuid = $2 AND s.task_uuid = $1 AND s.state IN ('error', 'waiting_for_retry')
    FOR UPDATE OF s
), resolved AS (
    UPDATE tasker.workflow_steps s
    SET state = 'resolved_manually', results = $3, next_attempt_at = NULL, claim_token = NULL,
        lease_expires_at = NULL, completed_at = now(), updated_at = now()
    FROM target t
    WHERE s.step_uuid = t.step_uuid AND s.state = t.state
    RETURNING s.step_uuid, s.task_uuid, t.state AS from_state
), resolved_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, from_state, 'resolved_manually', $4 FROM resolved
), reopened AS (
    UPDATE tasker.tasks t
    SET state = 'steps_in_process', completed_at = NULL, updated_at = now()
    WHERE t.task_uuid = $1 AND t.state = 'error' AND EXISTS (SELECT 1 FROM resolved)
      AND NOT EXISTS (SELECT 1 FROM tasker.workflow_steps o
                      WHERE o.task_uuid = $1 AND o.state = 'error' AND o.step_uuid <> $2)
    RETURNING t.task_uuid
), reopened_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'error', 'steps_in_process', $4 FROM reopened
){drops}
SELECT (SELECT count(*) FROM resolved) AS resolved, (SELECT count(*) FROM reopened) AS reopened
