-- Create a task in ONE statement (one round trip, atomic): the task and its audit row, every step (root steps
-- already `enqueued`, each with an audit row) and the root steps' messages in the namespace queue
-- (`{queue_table}` is replaced by the queue's pgmq table). When the idempotency key is already taken for this
-- template the task insert does nothing, and so does everything that hangs on it: no row is returned and the
-- caller returns the existing task.
-- $1 task_uuid, $2 template_id, $3 namespace, $4 name, $5 version, $6 state, $7 context, $8 priority,
-- $9 idempotency_key, $10 correlation_id, $11 tags, $12 initiator,
-- step columns $13 uuids, $14 names, $15 handlers, $16 positions, $17 states, $18 max_attempts, $19 base_ms,
-- $20 max_ms, $21 timeouts, $22 configs, $23 depends_on (array literals), $24 root step messages
WITH task AS (
    INSERT INTO tasker.tasks (task_uuid, template_id, namespace, name, version, state, context, priority,
                              idempotency_key, correlation_id, tags, initiator)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (template_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING task_uuid, state, created_at
), task_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'pending', state, 'task created' FROM task
), steps AS (
    INSERT INTO tasker.workflow_steps (step_uuid, task_uuid, name, handler, position, state, max_attempts,
                                       backoff_base_ms, backoff_max_ms, timeout_seconds, config, depends_on)
    SELECT s.step_uuid, t.task_uuid, s.name, s.handler, s.position, s.state, s.max_attempts, s.base_ms, s.max_ms,
           s.timeout_seconds, s.config, s.depends_on::uuid[]
    FROM task t,
         unnest($13::uuid[], $14::text[], $15::text[], $16::int[], $17::text[], $18::int[], $19::int[], $20::int[],
                $21::int[], $22::jsonb[], $23::text[])
         AS s(step_uuid, name, handler, position, state, max_attempts, base_ms, max_ms, timeout_seconds, config,
              depends_on)
    RETURNING step_uuid, task_uuid, state
), step_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'pending', state, 'root step' FROM steps WHERE state = 'enqueued'
), sent AS (
    INSERT INTO {queue_table} (vt, message)
    SELECT clock_timestamp(), m FROM task, unnest($24::jsonb[]) AS m
)
SELECT created_at FROM task
