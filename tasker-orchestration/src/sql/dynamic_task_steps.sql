-- Every step of the tasks whose decision or batchable steps just completed, read after their task locks were
-- taken (so up to date: only an orchestrator holding the task lock settles a step), for planning what the
-- outcomes create. $1 task uuids
SELECT s.task_uuid, s.step_uuid, s.name, s.state, s.position, s.kind, s.depends_on,
       COALESCE(s.upstream, '{}') AS upstream, t.template_id, t.namespace
FROM tasker.workflow_steps s
JOIN tasker.tasks t ON t.task_uuid = s.task_uuid
WHERE s.task_uuid = ANY($1)
