-- Steps whose worker died (lease expired, still `in_progress`) on their LAST attempt are not re-run: a step
-- that kills its worker every time would otherwise loop forever. They are reported as a permanent failure,
-- exactly as a worker would report one, for orchestration to apply. Returns them.
-- $1 step_uuids
WITH exhausted AS (
    SELECT s.step_uuid
    FROM tasker.workflow_steps s
    WHERE s.step_uuid = ANY($1)
      AND s.state = 'in_progress'
      AND s.lease_expires_at < clock_timestamp()
      AND s.attempts >= s.max_attempts
    ORDER BY s.step_uuid
    FOR UPDATE OF s
), moved AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued_for_orchestration',
        results = NULL,
        error = jsonb_build_object(
            'message', 'the lease expired on the last attempt: the worker died or stopped responding',
            'retryable', false,
            'error_class', 'LeaseExpired'),
        claim_token = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    FROM exhausted e
    WHERE s.step_uuid = e.step_uuid
    RETURNING s.step_uuid, s.task_uuid
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'in_progress', 'enqueued_for_orchestration', 'lease expired on the last attempt'
    FROM moved
)
SELECT step_uuid, task_uuid FROM moved
