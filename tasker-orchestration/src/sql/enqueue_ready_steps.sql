-- Readiness, set-based: every `pending` step of the given tasks whose dependencies are all satisfied moves
-- to `enqueued` (with an audit row), and its step message is sent in the same statement: `{sends}` holds one
-- CTE per namespace of the batch, each inserting into that namespace's queue. Returns the enqueued steps.
-- $1 task_uuids (live, locked by the caller), $2 namespaces (indexed by the `{sends}` CTEs)
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
), routed AS (
    SELECT m.step_uuid, m.task_uuid, t.namespace
    FROM moved m
    JOIN tasker.tasks t ON t.task_uuid = m.task_uuid
){sends}
SELECT step_uuid, task_uuid, namespace FROM routed
