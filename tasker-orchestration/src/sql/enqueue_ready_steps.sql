-- Readiness, set-based: every `pending` step of the given tasks whose dependencies are all satisfied moves
-- to `enqueued` (with an audit row). Returns them so the caller sends their messages in the same transaction.
WITH ready AS (
    SELECT s.step_uuid
    FROM tasker.workflow_steps s
    WHERE s.task_uuid = ANY($1) AND s.state = 'pending'
      AND NOT EXISTS (
          SELECT 1
          FROM tasker.workflow_steps p
          WHERE p.step_uuid = ANY(s.depends_on) AND p.state NOT IN ('complete', 'resolved_manually')
      )
), moved AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued', updated_at = now()
    FROM ready r
    WHERE s.step_uuid = r.step_uuid AND s.state = 'pending'
    RETURNING s.step_uuid, s.task_uuid
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'pending', 'enqueued', 'dependencies satisfied' FROM moved
)
SELECT step_uuid, task_uuid FROM moved
