-- Claim steps for this worker under a lease: `enqueued`, a retry that is due, or `in_progress` whose lease
-- has expired (its worker died) with attempts left (fail_exhausted_leases.sql handles the others). Locks in
-- step_uuid order so concurrent claimers never deadlock. Each claim gets a fresh claim token, counts an
-- attempt and writes an audit row. Returns what the handler needs.
-- clock_timestamp(), not now(): pgmq judged visibility by the clock, and so must we.
-- The task's state is not consulted: a task leaves `steps_in_process` only when none of its steps is enqueued,
-- waiting for a retry or in progress, so the step's own state says it all. (Joining `tasks` here also let the
-- planner, with statistics lagging behind a burst, drive this query from every live task.)
-- $1 step_uuids, $2 worker id, $3 lease seconds
WITH candidates AS (
    SELECT s.step_uuid, s.state AS from_state
    FROM tasker.workflow_steps s
    WHERE s.step_uuid = ANY($1)
      AND (s.state = 'enqueued'
           OR (s.state = 'waiting_for_retry' AND s.next_attempt_at <= clock_timestamp())
           OR (s.state = 'in_progress' AND s.lease_expires_at < clock_timestamp() AND s.attempts < s.max_attempts))
    ORDER BY s.step_uuid
    FOR UPDATE OF s
), claimed AS (
    UPDATE tasker.workflow_steps s
    SET state = 'in_progress',
        attempts = s.attempts + 1,
        claim_token = gen_random_uuid(),
        claimed_by = $2,
        lease_expires_at = now() + make_interval(secs => $3),
        updated_at = now()
    FROM candidates c
    WHERE s.step_uuid = c.step_uuid
    RETURNING s.step_uuid, s.task_uuid, s.name, s.handler, s.attempts, s.max_attempts, s.timeout_seconds,
              s.config, s.claim_token, s.depends_on, c.from_state
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, from_state, 'in_progress', 'claimed by ' || $2 FROM claimed
)
SELECT c.step_uuid, c.task_uuid, c.name, c.handler, c.attempts, c.max_attempts, c.timeout_seconds, c.config,
       c.claim_token, t.context,
       COALESCE((SELECT jsonb_object_agg(p.name, p.results)
                 FROM tasker.workflow_steps p
                 WHERE p.step_uuid = ANY(c.depends_on)), '{}'::jsonb) AS dependency_results
FROM claimed c
JOIN tasker.tasks t ON t.task_uuid = c.task_uuid
