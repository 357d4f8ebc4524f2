-- Settle steps in ONE statement: apply outcomes, enqueue what became ready, finalize tasks. Two callers run it,
-- each in a transaction whose first statement locked the tasks concerned, so this statement's snapshot (taken
-- after those locks) already shows every earlier commit that settled steps of these tasks:
-- - the result processor (take_result_batch.sql first), with outcomes it decided for steps awaiting
--   orchestration (`enqueued_for_orchestration`: complete, waiting_for_retry or error), or with none at all
--   (operator actions, task starts: only enqueue and finalize);
-- - a worker (lock_settling_tasks.sql first), with the successful outcomes of `standard` steps it ran itself,
--   applied straight from `in_progress` where its claim token still holds (a lost claim applies nothing), the
--   result stored and the step message deleted (`<deletes>`: one CTE per queue the messages came from).
-- Workers may still move other steps between active states (claim, report, lease expiry) but never to or from a
-- satisfied or failed state, so the decisions below do not depend on them.
--
-- 1. `applied`: each outcome moves its step to its decided state (complete | waiting_for_retry | error), guarded
--    on the state it was decided in (an outcome is applied once, whatever the caller read), with an audit row.
-- 2. `enqueued`: every `pending` step of the live tasks whose dependencies are all satisfied moves to `enqueued`,
--    with an audit row. A statement does not see its own updates, so a dependency applied as `complete` in
--    step 1 counts as satisfied through `applied`.
-- 3. `routed` + `<sends>`: one step message per enqueued step (visible now) and per retry (visible at its next
--    attempt), to the step's queue (its own, or the task's namespace); `<sends>` holds one message-inserting CTE
--    per queue of the batch's tasks (`tasks.queues`). A routed step whose queue has no CTE fails the statement
--    (`tasker.unrouted_step`) rather than lose its message.
-- 4. `finalized`: live tasks that can no longer progress become `complete` (every step satisfied) or `error` (a
--    step failed and nothing is active), guarded on `steps_in_process`, with an audit row. Step states are
--    the snapshot's with steps 1 and 2 laid over them. When $12 is true and a task was finalized, the
--    transaction commits durably (`synchronous_commit` on for it): a client reads a task's end as final.
--
-- Rows: `applied` (step_uuid, state); `sent` (step_uuid, `enqueued` or `waiting_for_retry`, name: the queue a
-- message was sent to); `finalized` (task_uuid, state, name: the namespace).
-- $1 decided step uuids, $2 their new states, $3 their next attempt (retries), $4 live task uuids,
-- $5 queues (indexed by the `<sends>` CTEs), $6 each queue's NOTIFY channel, $7 seconds per priority level
-- (an enqueued step's message is visible from `now - (priority - 1) * $7`: workers claim in visibility order, so
-- higher priorities go first, and a step that waited long enough is level with any newer one);
-- a worker's outcomes only (empty arrays from the result processor, which unnest pads with NULLs): $8 claim
-- tokens, $9 results, $10 step message ids, $11 the index of each message's queue (into `<deletes>`);
-- $12 commit durably when a task is finalized; the result processor's outcomes only: $13 the attempt each was
-- decided for (the step must still be at it: a duplicate message read before a whole retry cycle ran must not
-- apply the older attempt's outcome)
WITH decided AS (
    SELECT *
    FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $8::uuid[], $9::jsonb[], $10::bigint[], $11::int[],
                $13::int[])
         AS d(step_uuid, new_state, next_attempt_at, claim_token, result, msg_id, queue_ix, attempt)
), applied AS (
    UPDATE tasker.workflow_steps s
    SET state = d.new_state,
        next_attempt_at = d.next_attempt_at,
        results = CASE WHEN d.claim_token IS NULL THEN s.results ELSE d.result END,
        error = CASE WHEN d.claim_token IS NULL THEN s.error END,
        completed_at = CASE WHEN d.new_state IN ('complete', 'error') THEN now() END,
        claim_token = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    FROM decided d
    WHERE s.step_uuid = d.step_uuid
      AND CASE WHEN d.claim_token IS NULL
               THEN s.state = 'enqueued_for_orchestration' AND (d.attempt IS NULL OR s.attempts = d.attempt)
               ELSE s.state = 'in_progress' AND s.claim_token = d.claim_token END
    RETURNING s.step_uuid, s.task_uuid, s.state, s.next_attempt_at, s.queue, s.attempts, s.error,
              d.claim_token IS NOT NULL AS by_worker, d.msg_id, d.queue_ix
), applied_audit AS (
    -- A failed outcome's audit row keeps that attempt's error (the step's `error` is overwritten by the next).
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason, error)
    SELECT step_uuid, task_uuid, CASE WHEN by_worker THEN 'in_progress' ELSE 'enqueued_for_orchestration' END,
           state, 'result applied',
           CASE WHEN state <> 'complete' THEN error || jsonb_build_object('attempt', attempts, 'at', now()) END
    FROM applied
){deletes}, ready AS (
    SELECT s.step_uuid
    FROM tasker.workflow_steps s
    WHERE s.task_uuid = ANY($4) AND s.state = 'pending'
      AND NOT EXISTS (
          SELECT 1
          FROM tasker.workflow_steps p
          WHERE p.step_uuid = ANY(s.depends_on)
            AND p.state NOT IN ('complete', 'resolved_manually')
            AND p.step_uuid NOT IN (SELECT step_uuid FROM applied WHERE state = 'complete')
      )
), enqueued AS (
    UPDATE tasker.workflow_steps s
    SET state = 'enqueued', updated_at = now()
    FROM ready r
    WHERE s.step_uuid = r.step_uuid AND s.state = 'pending'
    RETURNING s.step_uuid, s.task_uuid, s.queue
), enqueued_audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, 'pending', 'enqueued', 'dependencies satisfied' FROM enqueued
), routed AS (
    SELECT m.step_uuid, m.task_uuid, m.state, COALESCE(m.queue, t.namespace) AS queue,
           CASE WHEN m.state = 'enqueued' THEN m.visible_at - make_interval(secs => (t.priority - 1) * $7)
                ELSE m.visible_at END AS visible_at
    FROM (SELECT step_uuid, task_uuid, 'enqueued' AS state, clock_timestamp() AS visible_at, queue FROM enqueued
          UNION ALL
          SELECT step_uuid, task_uuid, state, next_attempt_at, queue FROM applied WHERE state = 'waiting_for_retry') m
    JOIN tasker.tasks t ON t.task_uuid = m.task_uuid
){sends}, overlaid AS MATERIALIZED (
    -- Each `IN (SELECT … FROM applied …)` is hashed once, and MATERIALIZED evaluates each row's CASE once (inlined,
    -- it would be repeated in every aggregate below). A join to `applied`, which the planner expects to be one
    -- row, was a nested loop over every step of the batch's tasks times every applied step.
    SELECT s.task_uuid,
           CASE WHEN s.step_uuid IN (SELECT step_uuid FROM applied WHERE state = 'complete') THEN 'complete'
                WHEN s.step_uuid IN (SELECT step_uuid FROM applied WHERE state = 'error') THEN 'error'
                WHEN s.step_uuid IN (SELECT step_uuid FROM applied) THEN 'waiting_for_retry'
                ELSE s.state END AS state
    FROM tasker.workflow_steps s
    WHERE s.task_uuid = ANY($4)
), summary AS (
    SELECT task_uuid,
           bool_and(state IN ('complete', 'resolved_manually')) AS all_done,
           bool_or(state = 'error') AS any_error,
           bool_or(state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration', 'waiting_for_retry')) AS any_active
    FROM overlaid
    GROUP BY task_uuid
), finishing AS (
    SELECT task_uuid, CASE WHEN all_done THEN 'complete' ELSE 'error' END AS state
    FROM summary
    WHERE all_done OR (any_error AND NOT any_active AND task_uuid NOT IN (SELECT task_uuid FROM enqueued))
), finalized AS (
    -- The tasks are found through arrays (`= ANY(ARRAY(…))`, computed once), so the plan is key lookups whatever
    -- the statistics say. (Joined to `finishing` on the key, the planner merge-joined along the whole primary key,
    -- a cost that grows with every task ever created, or rescanned `finishing` once per task.)
    UPDATE tasker.tasks t
    SET state = CASE WHEN t.task_uuid = ANY(ARRAY(SELECT task_uuid FROM finishing WHERE state = 'complete'))
                     THEN 'complete' ELSE 'error' END,
        completed_at = now(),
        updated_at = now()
    WHERE t.task_uuid = ANY(ARRAY(SELECT task_uuid FROM finishing)) AND t.state = 'steps_in_process'
    RETURNING t.task_uuid, t.namespace, t.state
), finalized_audit AS (
    INSERT INTO tasker.task_transitions (task_uuid, from_state, to_state, reason)
    SELECT task_uuid, 'steps_in_process', state, 'finalized' FROM finalized
), announced AS (
    SELECT count(pg_notify(channel, payload)) AS n
    FROM (SELECT DISTINCT ($6::text[])[array_position($5::text[], queue)] AS channel, '' AS payload FROM routed
          UNION ALL
          SELECT '{finalized_channel}', task_uuid::text FROM finalized) x
), durable AS (
    SELECT count(set_config('synchronous_commit', 'on', true)) AS n
    FROM (SELECT 1 FROM finalized LIMIT 1) f
    WHERE $12
)
SELECT 'applied' AS kind, step_uuid AS id, state, NULL::text AS name FROM applied
UNION ALL
SELECT 'sent', step_uuid, state,
       CASE WHEN array_position($5::text[], queue) IS NULL THEN tasker.unrouted_step(queue) ELSE queue END
FROM routed
UNION ALL
SELECT 'finalized', task_uuid, state, namespace FROM finalized
UNION ALL
SELECT 'announced', NULL, NULL, NULL FROM announced, durable WHERE announced.n + durable.n < 0
