-- What completed decision and batchable steps ask for, in ONE statement of the transaction that applies their
-- outcomes (settle_steps.sql runs next and enqueues whatever of it is ready):
-- 1. `created`: the new steps (chosen branches and what lies below them, batch worker instances), `pending`,
--    each only while the step that asked for it is still `enqueued_for_orchestration`, so an outcome creates its
--    steps once, whatever duplicate message or racing orchestrator comes later;
-- 2. `rewired`: convergence steps still `pending` wait for what now exists (the created steps instead of the
--    dynamic step that gated them);
-- 3. `refused`: a step whose outcome is invalid (an unknown branch, a limit) gets the error that fails it.
-- Rows: the counts of each.
-- New steps: $1 created_by (the asking step), $2 task_uuid, $3 step_uuid, $4 name, $5 handler, $6 position,
--            $7 max_attempts, $8 backoff base ms, $9 backoff max ms, $10 timeout seconds, $11 config,
--            $12 depends_on (array literal), $13 queue, $14 upstream (array literal or NULL), $15 kind, $16 batch
-- Convergence steps: $17 step_uuid, $18 depends_on (array literal), $19 upstream (array literal or NULL)
-- Refused steps: $20 step_uuid, $21 error; $22 each new step's rate limit key (with the new steps' arrays)
WITH created AS (
    INSERT INTO tasker.workflow_steps (step_uuid, task_uuid, name, handler, position, state, max_attempts,
                                       backoff_base_ms, backoff_max_ms, timeout_seconds, config, depends_on, queue,
                                       upstream, kind, batch, rate_key)
    SELECT n.step_uuid, n.task_uuid, n.name, n.handler, n.position, 'pending', n.max_attempts, n.base_ms, n.max_ms,
           n.timeout_seconds, n.config, n.depends_on::uuid[], n.queue, n.upstream::uuid[], n.kind, n.batch,
           n.rate_key
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[],
                $9::int[], $10::int[], $11::jsonb[], $12::text[], $13::text[], $14::text[], $15::text[], $16::jsonb[],
                $22::text[])
         AS n(created_by, task_uuid, step_uuid, name, handler, position, max_attempts, base_ms, max_ms,
              timeout_seconds, config, depends_on, queue, upstream, kind, batch, rate_key)
    WHERE n.created_by IN (SELECT step_uuid FROM tasker.workflow_steps
                           WHERE step_uuid = ANY($1) AND state = 'enqueued_for_orchestration')
    RETURNING 1
), rewired AS (
    UPDATE tasker.workflow_steps s
    SET depends_on = r.depends_on::uuid[], upstream = r.upstream::uuid[], updated_at = now()
    FROM unnest($17::uuid[], $18::text[], $19::text[]) AS r(step_uuid, depends_on, upstream)
    WHERE s.step_uuid = r.step_uuid AND s.state = 'pending'
    RETURNING 1
), refused AS (
    UPDATE tasker.workflow_steps s
    SET error = e.error
    FROM unnest($20::uuid[], $21::jsonb[]) AS e(step_uuid, error)
    WHERE s.step_uuid = e.step_uuid AND s.state = 'enqueued_for_orchestration'
    RETURNING 1
)
SELECT (SELECT count(*) FROM created) AS created, (SELECT count(*) FROM rewired) AS rewired,
       (SELECT count(*) FROM refused) AS refused
