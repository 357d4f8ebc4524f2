-- Delete one batch of old finished tasks with their steps and audit rows, in ONE statement. Every table is
-- reached by its key (tasks through tasks_state_idx, oldest first; steps by their task; step audit rows by
-- step, task audit rows by task), so a batch costs its own rows and never scans a whole table. Rows another
-- transaction holds are skipped (SKIP LOCKED), never waited for. workflow_steps references tasks; both are
-- deleted here and the reference is checked at the end of the statement.
-- $1 cutoff for complete and cancelled tasks, $2 cutoff for tasks in error, $3 batch size
WITH doomed AS (
    SELECT t.task_uuid
    FROM tasker.tasks t
    WHERE (t.state IN ('complete', 'cancelled') AND t.completed_at < $1)
       OR (t.state = 'error' AND t.completed_at < $2)
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
