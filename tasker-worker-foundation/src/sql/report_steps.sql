-- Record outcomes, but only where the claim token still holds (a zombie worker's late result matches no
-- row). Moves the step to `enqueued_for_orchestration` with an audit row; returns the accepted steps.
-- $1 step_uuids, $2 claim tokens, $3 results (NULL on error), $4 errors (NULL on success)
WITH outcome AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::jsonb[]) AS o(step_uuid, claim_token, result, error)
), moved AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued_for_orchestration',
        results = o.result,
        error = o.error,
        lease_expires_at = NULL,
        updated_at = now()
    FROM outcome o
    WHERE s.step_uuid = o.step_uuid AND s.claim_token = o.claim_token AND s.state = 'in_progress'
    RETURNING s.step_uuid, s.task_uuid
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'in_progress', 'enqueued_for_orchestration', 'outcome reported' FROM moved
)
SELECT step_uuid, task_uuid FROM moved
