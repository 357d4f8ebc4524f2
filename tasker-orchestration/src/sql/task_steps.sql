-- The steps of one task as the API serves them, in dependency order: each with its type, what it waits for (by
-- name), a batch instance's item, its queue, its last operator
-- reason, when its latest attempt started, the worker that claimed it last, and the error of every failed
-- attempt (kept by the audit trail: the transition that applied a failed outcome carries its error).
-- $1 task_uuid
SELECT s.step_uuid, s.name, s.handler, COALESCE(s.kind, 'standard') AS type,
       ARRAY(SELECT d.name FROM tasker.workflow_steps d WHERE d.step_uuid = ANY(s.depends_on) ORDER BY d.position)
           AS depends_on,
       s.batch,
       COALESCE(s.queue, (SELECT t.namespace FROM tasker.tasks t WHERE t.task_uuid = $1)) AS queue,
       s.state, s.attempts, s.max_attempts, s.results AS result, s.error, s.completed_at, op.reason,
       started.at AS started_at, s.next_attempt_at, s.claimed_by AS worker_id, s.checkpoint,
       COALESCE(failures.errors, '[]'::jsonb) AS attempt_errors
FROM tasker.workflow_steps s
LEFT JOIN LATERAL (
    -- Only operator actions make these transitions (see task_actions.rs).
    SELECT t.reason FROM tasker.step_transitions t
    WHERE t.step_uuid = s.step_uuid
      AND (t.to_state IN ('cancelled', 'resolved_manually') OR (t.from_state = 'error' AND t.to_state = 'enqueued'))
    ORDER BY t.id DESC LIMIT 1
) op ON true
LEFT JOIN LATERAL (
    SELECT max(t.created_at) AS at FROM tasker.step_transitions t
    WHERE t.step_uuid = s.step_uuid AND t.to_state = 'in_progress'
) started ON true
LEFT JOIN LATERAL (
    SELECT jsonb_agg(t.error ORDER BY t.id) AS errors FROM tasker.step_transitions t
    WHERE t.step_uuid = s.step_uuid AND t.error IS NOT NULL
) failures ON true
WHERE s.task_uuid = $1
ORDER BY s.position
