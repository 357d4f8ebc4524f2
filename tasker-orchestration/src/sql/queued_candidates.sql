-- What admission to the gates $1 (text[], locked by lock_gates.sql) needs to know: how many tasks hold a slot
-- (`steps_in_process`) per gate and key, and the queued tasks that might get one, highest priority first, first
-- in first out within a priority. Per key value no more waiters than its limit are returned, and without a keyed
-- limit no more than the gate's (the others could not start now anyway).
-- Rows: `holders` (gate, key, n) and `waiting` (gate, key, task_uuid, priority and the task's limits).
WITH holders AS (
    SELECT concurrency_gate AS gate, concurrency_key AS key, count(*)::int AS n
    FROM tasker.tasks
    WHERE concurrency_gate = ANY($1::text[]) AND state = 'steps_in_process'
    GROUP BY 1, 2
), waiting AS (
    SELECT task_uuid, concurrency_gate AS gate, concurrency_key AS key, priority, max_running, max_running_per_key,
           row_number() OVER (PARTITION BY concurrency_gate, concurrency_key ORDER BY priority DESC, task_uuid)
               AS key_rank,
           row_number() OVER (PARTITION BY concurrency_gate ORDER BY priority DESC, task_uuid) AS gate_rank
    FROM tasker.tasks
    WHERE concurrency_gate = ANY($1::text[]) AND state = 'queued'
)
SELECT 'holders' AS kind, gate, key, n, NULL::uuid AS task_uuid, NULL::int AS priority, NULL::int AS max_running,
       NULL::int AS max_running_per_key
FROM holders
UNION ALL
SELECT 'waiting', gate, key, NULL, task_uuid, priority, max_running, max_running_per_key
FROM waiting
WHERE CASE WHEN max_running_per_key IS NOT NULL THEN key_rank <= max_running_per_key
           ELSE gate_rank <= COALESCE(max_running, 2147483647) END
