-- Insert a task and its first audit row. Returns nothing when the idempotency key is already taken for
-- this template (the caller then returns the existing task).
WITH task AS (
    INSERT INTO tasker.tasks (task_uuid, template_id, namespace, name, version, state, context, priority,
                              idempotency_key, correlation_id, tags, initiator)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (template_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING task_uuid, state, created_at
), audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'pending', state, 'task created' FROM task
)
SELECT created_at FROM task
