-- Fill a Tasker database (migrated, with the example templates registered) with a day of history for measuring
-- GET /v1/analytics: 250,000 linear tasks spread over the last 24 hours (1,000,000 steps, 2,000,000 claim and report
-- audit rows). See docs/performance.md, "Analytics on a million steps".
--   psql "$URL" -f tasker-bench/sql/analytics_million_steps.sql
\set ON_ERROR_STOP on
CREATE FUNCTION pg_temp.v7(at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 3)
            || '8' || substr(md5(random()::text), 1, 15))::uuid
$$;
CREATE TEMP TABLE gen AS
SELECT pg_temp.v7(at) AS task_uuid, at, (random() * 40)::int AS run_ms, (n % 50 = 0) AS failed
FROM (SELECT n, now() - interval '24 hours' + (n * interval '24 hours' / 250000) AS at
      FROM generate_series(1, 250000) n) x;
INSERT INTO tasker.tasks (task_uuid, template_id, namespace, name, version, state, context, created_at, completed_at)
SELECT g.task_uuid, t.template_id, 'linear_workflow', 'mathematical_sequence', '1.0.0',
       CASE WHEN g.failed THEN 'error' ELSE 'complete' END, '{"even_number": 2}', g.at,
       g.at + (g.run_ms * 4 + 10) * interval '1 ms'
FROM gen g, (SELECT template_id FROM tasker.task_templates WHERE namespace = 'linear_workflow' LIMIT 1) t;
CREATE TEMP TABLE gen_steps AS
SELECT gen_random_uuid() AS step_uuid, g.task_uuid, k, g.at + (k - 1) * (g.run_ms + 2) * interval '1 ms' AS claimed_at,
       g.run_ms, g.failed AND k = 4 AS failed
FROM gen g, generate_series(1, 4) k;
INSERT INTO tasker.workflow_steps (step_uuid, task_uuid, name, handler, position, state, attempts, max_attempts,
                                   backoff_base_ms, backoff_max_ms, timeout_seconds, created_at, completed_at)
SELECT step_uuid, task_uuid, 'linear_step_' || k, 'linear_workflow.square', k - 1,
       CASE WHEN failed THEN 'error' ELSE 'complete' END, CASE WHEN failed THEN 3 ELSE 1 END, 3, 200, 30000, 30,
       claimed_at, claimed_at + run_ms * interval '1 ms'
FROM gen_steps;
INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason, created_at)
SELECT step_uuid, task_uuid, s.from_state, s.to_state, 'generated', claimed_at + s.offset_ms * run_ms * interval '1 ms'
FROM gen_steps, (VALUES ('enqueued', 'in_progress', 0), ('in_progress', 'enqueued_for_orchestration', 1)) s(from_state, to_state, offset_ms);
ANALYZE tasker.tasks;
ANALYZE tasker.workflow_steps;
ANALYZE tasker.step_transitions;
