-- The failed steps of tasks that just failed, for the server's log: task, namespace, template, step, attempts and
-- the error message. $1 task uuids
SELECT t.task_uuid, t.namespace, t.name AS template, s.name AS step, s.attempts, s.error->>'message' AS error
FROM tasker.tasks t
JOIN tasker.workflow_steps s ON s.task_uuid = t.task_uuid AND s.state = 'error'
WHERE t.task_uuid = ANY($1)
ORDER BY t.task_uuid, s.position
