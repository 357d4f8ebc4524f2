-- Insert every step of a new task (root steps already `enqueued`) with an audit row for each root.
WITH steps AS (
    INSERT INTO tasker.workflow_steps (step_uuid, task_uuid, name, handler, position, state, max_attempts,
                                       backoff_base_ms, backoff_max_ms, timeout_seconds, config, depends_on)
    SELECT s.step_uuid, $1, s.name, s.handler, s.position, s.state, s.max_attempts, s.base_ms, s.max_ms,
           s.timeout_seconds, s.config,
           COALESCE((SELECT array_agg(e.from_uuid) FROM unnest($12::uuid[], $13::uuid[]) AS e(from_uuid, to_uuid)
                     WHERE e.to_uuid = s.step_uuid), '{}')
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::int[], $9::int[],
                $10::int[], $11::jsonb[])
         AS s(step_uuid, name, handler, position, state, max_attempts, base_ms, max_ms, timeout_seconds, config)
    RETURNING step_uuid, task_uuid, state
)
INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
SELECT step_uuid, task_uuid, 'pending', state, 'root step' FROM steps WHERE state = 'enqueued'
