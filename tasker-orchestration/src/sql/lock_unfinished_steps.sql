-- Lock every unfinished step of a task, in step_uuid order (the order the claim statement locks them in), before
-- a cancel changes them. A worker's report that holds one of them commits first and is waited for, so the
-- cancel statement that follows (a new snapshot) sees the step as the report left it; a report that comes later
-- waits for the cancel and then finds its claim token gone.
-- $1 task_uuid
SELECT step_uuid FROM tasker.workflow_steps
WHERE task_uuid = $1
  AND state IN ('pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration', 'waiting_for_retry')
ORDER BY step_uuid
FOR UPDATE
