-- Analytics, part 3: the ten slowest steps (by p95) of the tasks created since $2. A run is the time from a claim
-- (`→ in_progress`) to the outcome that follows it (a report, `→ enqueued_for_orchestration`, or a success its worker
-- settled, `in_progress → complete`), read from the audit trail by
-- step; the window's audit rows are all written after $2 and found through step_transitions_created_brin.
-- `retries` counts the attempts after the first.
-- $1 lowest task_uuid, $2 since, $3 namespace (NULL: all)
WITH s AS MATERIALIZED (
    SELECT ws.step_uuid, ws.name AS step, ws.attempts, t.namespace, t.name
    FROM tasker.tasks t
    JOIN tasker.workflow_steps ws ON ws.task_uuid = t.task_uuid
    -- The bound on ws.task_uuid as well lets both tables be read as one key range each (merge-joined), and gives
    -- the planner the row count it needs to hash the joins below.
    WHERE t.task_uuid >= $1 AND ws.task_uuid >= $1 AND t.created_at >= $2 AND ($3::text IS NULL OR t.namespace = $3)
), window_rows AS MATERIALIZED (
    -- Claims and reports written since $2, read through the BRIN index as a few ranges of the table (one lookup
    -- per step by primary key was the slower plan: random reads across the whole audit trail).
    SELECT st.step_uuid, st.id, st.to_state, st.created_at
    FROM tasker.step_transitions st
    WHERE st.created_at >= $2
      AND (st.to_state IN ('in_progress', 'enqueued_for_orchestration')
           OR (st.to_state = 'complete' AND st.from_state = 'in_progress'))
), runs AS (
    SELECT s.namespace, s.name, s.step, w.to_state, w.created_at,
           lag(w.to_state) OVER win AS prev_state, lag(w.created_at) OVER win AS prev_at
    FROM window_rows w
    JOIN s ON s.step_uuid = w.step_uuid
    WINDOW win AS (PARTITION BY w.step_uuid ORDER BY w.id)
), durations AS (
    SELECT namespace, name, step, extract(epoch FROM created_at - prev_at) * 1000 AS ms
    FROM runs
    WHERE to_state IN ('enqueued_for_orchestration', 'complete') AND prev_state = 'in_progress'
), timed AS (
    SELECT namespace, name, step,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95_ms
    FROM durations GROUP BY namespace, name, step
), counted AS (
    SELECT namespace, name, step, count(*) AS count, sum(greatest(attempts - 1, 0))::bigint AS retries
    FROM s GROUP BY namespace, name, step
)
SELECT c.namespace, c.name, c.step, c.count, c.retries, t.p50_ms, t.p95_ms
FROM counted c JOIN timed t USING (namespace, name, step)
ORDER BY t.p95_ms DESC, c.namespace, c.name, c.step
LIMIT 10
