-- Move reported steps to their decided state (complete | waiting_for_retry | error), guarded on
-- `enqueued_for_orchestration` (so an outcome is applied once, whatever the caller read), with an audit row
-- each. Returns the steps actually moved; the caller sends retry messages for those that wait for a retry.
WITH decided AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS d(step_uuid, new_state, next_attempt_at)
), moved AS (
    UPDATE tasker.workflow_steps s
    SET state = d.new_state,
        next_attempt_at = d.next_attempt_at,
        completed_at = CASE WHEN d.new_state IN ('complete', 'error') THEN now() END,
        claim_token = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    FROM decided d
    WHERE s.step_uuid = d.step_uuid AND s.state = 'enqueued_for_orchestration'
    RETURNING s.step_uuid, s.task_uuid, s.state
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'enqueued_for_orchestration', state, 'result applied' FROM moved
)
SELECT step_uuid, state FROM moved
