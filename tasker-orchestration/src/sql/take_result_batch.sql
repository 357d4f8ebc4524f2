-- Take a batch of result messages and everything deciding them needs, in one statement:
-- 1. up to $1 visible result messages, oldest first, DELETED at once (skipping those another orchestrator
--    holds): the batch is settled in this same transaction, so if it fails the deletion rolls back and the
--    messages are visible again at once. (Locking them instead and deleting them at settle costs a second
--    write per message.)
-- 2. their tasks, locked in `task_uuid` order, so concurrent orchestrators queue behind each other instead of
--    deadlocking. FOR UPDATE returns each task's latest committed version after waiting.
-- 3. each message's step. (Read in the statement's snapshot, which may predate a concurrent orchestrator's
--    commit on the same task, even a whole retry cycle of the step; that is harmless because applying is guarded
--    again on the step's state and on the attempt the outcome was decided for, see settle_steps.sql.)
-- One row per message; `step_uuid`/`task_uuid` are NULL for a body lacking either, `task_state` NULL for an unknown
-- task, `queues` the queues its steps go to, and `reported` is false for a step that is not awaiting orchestration (a duplicate message).
-- `results` is read only for a decision or batchable step (`kind`): what it asks to create.
-- A `step_uuid` or `task_uuid` that is not a uuid fails the statement; the caller then drops such bodies
-- (`tasker_shared::messaging::drop_malformed`) and takes again.
-- `<results_table>` is the results queue's pgmq table. $1 batch size
WITH next AS (
    DELETE FROM {results_table}
    WHERE msg_id IN (SELECT msg_id
                     FROM {results_table}
                     WHERE vt <= clock_timestamp()
                     ORDER BY msg_id
                     LIMIT $1
                     FOR UPDATE SKIP LOCKED)
    RETURNING msg_id, message
), parsed AS (
    SELECT msg_id,
           CASE WHEN task_uuid IS NOT NULL THEN step_uuid END AS step_uuid,
           CASE WHEN step_uuid IS NOT NULL THEN task_uuid END AS task_uuid
    FROM (SELECT msg_id, (message->>'step_uuid')::uuid AS step_uuid, (message->>'task_uuid')::uuid AS task_uuid
          FROM next) n
), locked AS MATERIALIZED (
    SELECT t.task_uuid, t.state, COALESCE(t.queues, ARRAY[t.namespace]) AS queues, t.concurrency_gate
    FROM tasker.tasks t
    WHERE t.task_uuid IN (SELECT task_uuid FROM parsed)
    ORDER BY t.task_uuid
    FOR UPDATE
)
SELECT p.msg_id, p.step_uuid, p.task_uuid, l.state AS task_state, l.queues, l.concurrency_gate,
       COALESCE(s.state = 'enqueued_for_orchestration' AND s.task_uuid = p.task_uuid, false) AS reported,
       s.attempts, s.max_attempts, s.backoff_base_ms, s.backoff_max_ms, s.error, s.kind,
       CASE WHEN s.kind IN ('decision', 'batchable') THEN s.results END AS results
FROM parsed p
LEFT JOIN locked l ON l.task_uuid = p.task_uuid
LEFT JOIN tasker.workflow_steps s ON s.step_uuid = p.step_uuid
ORDER BY p.msg_id
