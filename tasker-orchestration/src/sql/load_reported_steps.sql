-- Steps whose reported outcome awaits orchestration, with what deciding the next state needs.
-- The caller holds the task locks, so nothing else moves these rows meanwhile.
SELECT s.step_uuid, s.task_uuid, t.namespace, s.attempts, s.max_attempts, s.backoff_base_ms, s.backoff_max_ms,
       s.error
FROM tasker.workflow_steps s
JOIN tasker.tasks t ON t.task_uuid = s.task_uuid
WHERE s.step_uuid = ANY($1) AND s.state = 'enqueued_for_orchestration'
