-- Cancel a task in ONE statement; the caller holds the task's lock (lock_task.sql) and has checked its state.
-- The task moves to `cancelled`, and so does every step that has not finished, each with an audit row naming
-- the reason. Clearing the claim token makes a worker's late report match nothing (report_steps.sql checks it),
-- and a `cancelled` step is never claimable, so nothing of the task runs, completes or is enqueued again. The
-- steps' queue messages are deleted (a message a claimer holds right now is skipped: that claimer finds the step
-- cancelled and deletes it itself). A result message already sent for a cancelled step is taken later as a
-- duplicate. The caller has locked the unfinished steps first (lock_unfinished_steps.sql), so this statement's
-- snapshot shows each of them as it is now.
-- <drops>: one CTE `dropped_<i>` per queue of the task, deleting the cancelled steps' messages there
-- (task_actions.rs, `drop_messages`), <dropped> their union; <finalized_channel>: announces the terminal state.
-- $1 task_uuid, $2 reason
WITH task AS (
    UPDATE tasker.tasks t
    SET state = 'cancelled', completed_at = now(), updated_at = now()
    FROM (SELECT state FROM tasker.tasks WHERE task_uuid = $1) before
    WHERE t.task_uuid = $1 AND t.state IN ('scheduled', 'queued', 'steps_in_process', 'error')
    RETURNING t.task_uuid, before.state AS from_state
), task_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, from_state, 'cancelled', $2 FROM task
), victims AS (
    SELECT s.step_uuid, s.state
    FROM tasker.workflow_steps s
    WHERE s.task_uuid = $1 AND EXISTS (SELECT 1 FROM task)
      AND s.state IN ('pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration', 'waiting_for_retry')
), cancelled AS (
    UPDATE tasker.workflow_steps s
    SET state = 'cancelled', claim_token = NULL, lease_expires_at = NULL, next_attempt_at = NULL,
        completed_at = now(), updated_at = now()
    FROM victims v
    WHERE s.step_uuid = v.step_uuid AND s.state = v.state
    RETURNING s.step_uuid, s.task_uuid, v.state AS from_state
), step_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, from_state, 'cancelled', $2 FROM cancelled
){drops}, dropped AS (
    {dropped}
), announced AS (
    SELECT count(pg_notify('{finalized_channel}', task_uuid::text)) AS n FROM task
)
SELECT (SELECT count(*) FROM task) AS tasks,
       (SELECT count(*) FROM cancelled) AS steps,
       (SELECT count(*) FROM dropped) AS messages,
       (SELECT n FROM announced) AS announced
