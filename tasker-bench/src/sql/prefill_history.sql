-- History for `--history`: $1 completed `bench/linear_noop` tasks of 4 steps each, as the engine leaves them (a task
-- row and its 2 audit rows, 4 complete step rows with their results and 4 audit rows each), spread over the last
-- day. Audit rows get no `tx` (like rows older than the event stream: no event), so the event sequencer does not
-- place a million ids at once; the rest of every row is what a real run writes.
WITH template AS (
    SELECT template_id, namespace, name, version
    FROM tasker.task_templates
    WHERE namespace = 'bench' AND name = 'linear_noop'
    ORDER BY template_id DESC
    LIMIT 1
), tasks AS (
    INSERT INTO tasker.tasks (task_uuid, template_id, namespace, name, version, state, context, created_at, updated_at,
                              completed_at)
    SELECT gen_random_uuid(), t.template_id, t.namespace, t.name, t.version, 'complete', '{}', at, at, at + interval '16 ms'
    FROM template t, generate_series(1, $1) g,
         LATERAL (SELECT now() - interval '1 day' + g * (interval '1 day' / $1) AS at) a
    RETURNING task_uuid, created_at
), task_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason, created_at, tx)
    SELECT task_uuid, x.from_state, x.to_state, x.reason, created_at, NULL
    FROM tasks, (VALUES (NULL, 'steps_in_process', 'created'), ('steps_in_process', 'complete', 'finalized'))
                AS x(from_state, to_state, reason)
), steps AS (
    INSERT INTO tasker.workflow_steps (step_uuid, task_uuid, name, handler, position, state, attempts, max_attempts,
                                       backoff_base_ms, backoff_max_ms, timeout_seconds, results, created_at,
                                       updated_at, completed_at)
    SELECT gen_random_uuid(), task_uuid, 'step_' || p, 'bench.noop', p, 'complete', 1, 3, 1000, 30000, 30,
           '{"ok": true}', created_at, created_at, created_at + p * interval '4 ms'
    FROM tasks, generate_series(1, 4) p
    RETURNING step_uuid, task_uuid, created_at
)
INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason, created_at, tx)
SELECT step_uuid, task_uuid, x.from_state, x.to_state, x.reason, created_at, NULL
FROM steps, (VALUES ('pending', 'enqueued', 'dependencies satisfied'), ('enqueued', 'in_progress', 'claimed'),
                    ('in_progress', 'enqueued_for_orchestration', 'outcome reported'),
                    ('enqueued_for_orchestration', 'complete', 'result applied')) AS x(from_state, to_state, reason)
