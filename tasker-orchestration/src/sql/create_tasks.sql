-- Create a batch of tasks in ONE statement (one round trip, one commit, atomic): each task and its audit row,
-- every step (root steps already `enqueued`, each with an audit row) and the root steps' messages, sent by the
-- `<sends>` CTEs (one per namespace queue of the batch). A task whose idempotency key is already taken for its
-- template (by an earlier task, or by an earlier task of this same batch) is not inserted, and neither is
-- anything that hangs on it: the statement returns only the tasks it created.
-- Tasks: $1 task_uuid, $2 template_id, $3 namespace, $4 name, $5 version, $6 state, $7 context, $8 priority,
--        $9 idempotency_key, $10 correlation_id, $11 tags, $12 initiator, $13 queues (array literal or NULL)
--        (one element per task)
-- Steps: $14 task_uuid, $15 step_uuid, $16 name, $17 handler, $18 position, $19 state, $20 max_attempts,
--        $21 backoff base ms, $22 backoff max ms, $23 timeout seconds, $24 config, $25 depends_on (array literal),
--        $26 queue (NULL: the namespace), $27 upstream (array literal of the steps above the dependencies, or NULL)
-- Root step messages: $28 task_uuid, $29 body, $30 queue index (into `<sends>`); $31 each queue's NOTIFY channel
-- $32 each step's kind (NULL: a standard step), with the steps' arrays; $33 each task's run_at (a `scheduled` task)
-- $34 seconds per priority level: a root message is visible from `now - (priority - 1) * $34`, as in
-- settle_steps.sql
-- $35 each task's concurrency gate, $36 its key value, $37 its gate's max_running, $38 its key's (all NULL for a
-- template without limits; such a task is created `queued` and admitted by concurrency.rs); $39 each step's rate key
WITH task AS (
    INSERT INTO tasker.tasks (task_uuid, template_id, namespace, name, version, state, context, priority,
                              idempotency_key, correlation_id, tags, initiator, queues, run_at, concurrency_gate,
                              concurrency_key, max_running, max_running_per_key)
    SELECT t.task_uuid, t.template_id, t.namespace, t.name, t.version, t.state, t.context, t.priority,
           t.idempotency_key, t.correlation_id, t.tags, t.initiator, t.queues::text[], t.run_at, t.gate, t.key,
           t.max_running, t.max_per_key
    FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::int[],
                $9::text[], $10::text[], $11::jsonb[], $12::text[], $13::text[], $33::timestamptz[], $35::text[],
                $36::text[], $37::int[], $38::int[])
         AS t(task_uuid, template_id, namespace, name, version, state, context, priority, idempotency_key,
              correlation_id, tags, initiator, queues, run_at, gate, key, max_running, max_per_key)
    ON CONFLICT (template_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING task_uuid, state, created_at, priority
), task_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'pending', state, 'task created' FROM task
), steps AS (
    INSERT INTO tasker.workflow_steps (step_uuid, task_uuid, name, handler, position, state, max_attempts,
                                       backoff_base_ms, backoff_max_ms, timeout_seconds, config, depends_on, queue,
                                       upstream, kind, rate_key)
    SELECT s.step_uuid, s.task_uuid, s.name, s.handler, s.position, s.state, s.max_attempts, s.base_ms, s.max_ms,
           s.timeout_seconds, s.config, s.depends_on::uuid[], s.queue, s.upstream::uuid[], s.kind, s.rate_key
    FROM unnest($14::uuid[], $15::uuid[], $16::text[], $17::text[], $18::int[], $19::text[], $20::int[],
                $21::int[], $22::int[], $23::int[], $24::jsonb[], $25::text[], $26::text[], $27::text[], $32::text[],
                $39::text[])
         AS s(task_uuid, step_uuid, name, handler, position, state, max_attempts, base_ms, max_ms, timeout_seconds,
              config, depends_on, queue, upstream, kind, rate_key)
    WHERE s.task_uuid IN (SELECT task_uuid FROM task)
    RETURNING step_uuid, task_uuid, state
), step_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'pending', state, 'root step' FROM steps WHERE state = 'enqueued'
), roots AS (
    SELECT m.body, m.queue_ix, clock_timestamp() - make_interval(secs => (t.priority - 1) * $34) AS visible_at
    FROM unnest($28::uuid[], $29::jsonb[], $30::int[]) AS m(task_uuid, body, queue_ix)
    JOIN task t ON t.task_uuid = m.task_uuid
){sends}, announced AS (
    -- Wakes the workers of every queue that got a root message; PostgreSQL delivers it at commit.
    SELECT count(pg_notify(($31::text[])[queue_ix + 1], '')) AS n FROM (SELECT DISTINCT queue_ix FROM roots) r
)
SELECT task_uuid, created_at FROM task
UNION ALL
-- Never a row: makes the statement evaluate `announced` (a plain CTE runs only when it is read).
SELECT NULL, NULL FROM announced WHERE n < 0
