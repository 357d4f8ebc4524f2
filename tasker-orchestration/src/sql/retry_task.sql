-- Retry a failed task in ONE statement; the caller holds the task's lock and has checked that it is `error`.
-- Every `error` step gets a fresh budget (attempts start again from 0, so `max_attempts` applies anew; the
-- earlier attempts stay in the audit trail) and is enqueued with its message; the task returns to
-- `steps_in_process`. The steps behind the failed ones are still `pending` and are enqueued when their dependencies
-- complete; those whose dependencies are satisfied already (behind a step resolved by hand) are enqueued by the
-- settle the caller runs next in the same transaction. The last error stays on the step until its next outcome.
-- <sends>: one CTE per queue of the task, sending the retried steps' messages routed there (task_actions.rs).
-- $1 task_uuid, $2 reason, $3 the task's namespace, $4 its queues, $5 their NOTIFY channels, $6 seconds per
-- priority level (the messages are visible from `now - (priority - 1) * $6`, as in settle_steps.sql)
WITH task AS (
    UPDATE tasker.tasks t
    SET state = 'steps_in_process', completed_at = NULL, updated_at = now()
    WHERE t.task_uuid = $1 AND t.state = 'error'
      AND EXISTS (SELECT 1 FROM tasker.workflow_steps s WHERE s.task_uuid = $1 AND s.state = 'error')
    RETURNING t.task_uuid, clock_timestamp() - make_interval(secs => (t.priority - 1) * $6) AS visible_at
), task_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'error', 'steps_in_process', $2 FROM task
), retried AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued', attempts = 0, next_attempt_at = NULL, claim_token = NULL, lease_expires_at = NULL,
        completed_at = NULL, updated_at = now()
    WHERE s.task_uuid IN (SELECT task_uuid FROM task) AND s.state = 'error'
    RETURNING s.step_uuid, s.task_uuid, COALESCE(s.queue, $3) AS queue,
              (SELECT visible_at FROM task) AS visible_at
), step_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'error', 'enqueued', $2 FROM retried
){sends}, announced AS (
    SELECT count(pg_notify(($5::text[])[array_position($4::text[], queue)], '')) AS n
    FROM (SELECT DISTINCT queue FROM retried) q
)
SELECT step_uuid
FROM retried, announced
-- A queue with no send fails the statement rather than lose the message.
WHERE array_position($4::text[], queue) IS NOT NULL OR tasker.unrouted_step(queue) IS NULL
