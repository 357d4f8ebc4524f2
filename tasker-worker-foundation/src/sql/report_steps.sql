-- Report a batch of outcomes in ONE statement (one round trip, atomic). Outcomes are recorded only where the
-- claim token still holds (a zombie worker's late result matches no row); each accepted step moves to
-- `enqueued_for_orchestration` with an audit row, its step message is deleted (`<deletes>`: one CTE per
-- queue the batch came from) and one result message is sent (the body `ResultMessage` serializes to).
-- Returns the accepted steps.
-- $1 step_uuids, $2 claim tokens, $3 results (NULL on error), $4 errors (NULL on success), $5 message ids,
-- $6 queue index of each message (into the `<deletes>` CTEs)
WITH outcome AS (
    SELECT *
    FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::jsonb[], $5::bigint[], $6::int[])
         AS o(step_uuid, claim_token, result, error, msg_id, queue_ix)
), moved AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued_for_orchestration',
        results = o.result,
        error = o.error,
        lease_expires_at = NULL,
        updated_at = now()
    FROM outcome o
    WHERE s.step_uuid = o.step_uuid AND s.claim_token = o.claim_token AND s.state = 'in_progress'
    RETURNING s.step_uuid, s.task_uuid, o.msg_id, o.queue_ix
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'in_progress', 'enqueued_for_orchestration', 'outcome reported' FROM moved
), sent AS (
    INSERT INTO {results_table} (vt, message)
    SELECT clock_timestamp(), jsonb_build_object('task_uuid', task_uuid, 'step_uuid', step_uuid) FROM moved
){deletes}, announced AS (
    SELECT count(pg_notify('{results_channel}', '')) AS n FROM (SELECT 1 FROM moved LIMIT 1) one
)
SELECT step_uuid, task_uuid FROM moved, announced
