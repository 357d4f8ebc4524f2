-- Lock the tasks of the successful steps a worker completes itself, before it settles them
-- (tasker-shared's settle_steps.sql runs next, in the same transaction, so its snapshot sees every earlier
-- commit that settled steps of these tasks). A step qualifies when it is still `in_progress`, is not a decision
-- or a batchable step (what those create is the orchestration's to decide) nor a batch worker instance, and its
-- task is live and has no concurrency gate (finishing a gated task admits its waiters, also the orchestration's);
-- the others are reported to the orchestration as before. Batch worker instances are reported because settling
-- reads every step of their task, hundreds for a fan-out: the result processor's larger batches read them fewer
-- times (measured: fan-out instances ran 10-25% slower settled by the worker). Tasks are locked in `task_uuid` order, as every task-locking statement does, so
-- workers and orchestrators queue behind each other instead of deadlocking. FOR UPDATE re-checks the task's
-- state on its latest version after waiting.
-- Rows: one per qualifying step: step_uuid, and its task's queues.
-- $1 step uuids
WITH steps AS (
    SELECT s.step_uuid, s.task_uuid
    FROM tasker.workflow_steps s
    WHERE s.step_uuid = ANY($1) AND s.state = 'in_progress'
      AND (s.kind IS NULL OR s.kind NOT IN ('decision', 'batchable', 'batch_worker'))
), locked AS MATERIALIZED (
    SELECT t.task_uuid, COALESCE(t.queues, ARRAY[t.namespace]) AS queues
    FROM tasker.tasks t
    WHERE t.task_uuid IN (SELECT task_uuid FROM steps)
      AND t.state = 'steps_in_process' AND t.concurrency_gate IS NULL
    ORDER BY t.task_uuid
    FOR UPDATE
)
SELECT s.step_uuid, l.task_uuid, l.queues
FROM steps s
JOIN locked l ON l.task_uuid = s.task_uuid
