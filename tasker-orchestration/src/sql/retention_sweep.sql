-- Delete one batch of old finished tasks with their steps and audit rows, in ONE statement. Every table is
-- reached by its key: tasks by when they finished (complete and cancelled ones through tasks_finished_idx, failed
-- ones through tasks_dead_letter_idx, oldest first), steps by their task, step audit rows by step, task audit rows
-- by task; so a batch costs its own rows, never the tasks kept ahead of them. Candidates are locked and checked
-- again (SKIP LOCKED: rows another transaction holds are skipped, never waited for; a failed task retried meanwhile
-- no longer qualifies). workflow_steps references tasks; both are deleted here and the reference is checked at the
-- end of the statement.
-- $1 cutoff for complete and cancelled tasks, $2 cutoff for tasks in error, $3 batch size
WITH candidates AS (
    (SELECT task_uuid FROM tasker.tasks
     WHERE state IN ('complete', 'cancelled') AND completed_at < $1
     ORDER BY completed_at
     LIMIT $3)
    UNION ALL
    (SELECT task_uuid FROM tasker.tasks
     WHERE state = 'error' AND completed_at < $2
     ORDER BY completed_at, task_uuid
     LIMIT $3)
), doomed AS (
    SELECT t.task_uuid
    FROM tasker.tasks t
    WHERE t.task_uuid = ANY(ARRAY(SELECT task_uuid FROM candidates))
      -- A CASE, not an OR of the two conditions: the planner cannot turn it into scans of the two indexes above
      -- (which would read every old task, not only the candidates), so the rows are found by their keys.
      AND CASE WHEN t.state IN ('complete', 'cancelled') THEN t.completed_at < $1
               WHEN t.state = 'error' THEN t.completed_at < $2
               ELSE false END
    ORDER BY t.task_uuid
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), steps AS (
    DELETE FROM tasker.workflow_steps s USING doomed d WHERE s.task_uuid = d.task_uuid
    RETURNING s.step_uuid
), step_audit AS (
    DELETE FROM tasker.step_transitions st USING steps s WHERE st.step_uuid = s.step_uuid
), task_audit AS (
    DELETE FROM tasker.task_transitions tt USING doomed d WHERE tt.task_uuid = d.task_uuid
)
DELETE FROM tasker.tasks t USING doomed d WHERE t.task_uuid = d.task_uuid
RETURNING t.task_uuid
