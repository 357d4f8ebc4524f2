-- The events after $1 in id order, from at most $3 placed transactions (whole transactions only), for every
-- task or, when $2 is set, only the tasks of that namespace. Transactions are found by their base (the one
-- holding event $1 first, since a reader may have stopped inside it), their rows by `tx`. Event ids: see
-- the migration 20261202000004_event_stream.sql (four bands per transaction).
-- Every row also carries `position`: the last event id this read accounts for (the end of the last transaction
-- read, or the stream's end when fewer than $3 were left, then `at_end` is true). One row with NULL `id` when
-- there were no events. A task deleted by retention meanwhile takes its events with it.
-- $1 after this event id, $2 namespace or NULL, $3 transactions per read
WITH txs AS (
    SELECT tx, base, min_id, max_id - min_id + 1 AS span
    FROM tasker.event_placements
    WHERE base >= coalesce((SELECT max(base) FROM tasker.event_placements WHERE base <= $1), 0)
    ORDER BY base
    LIMIT $3
), reached AS (
    SELECT CASE WHEN at_end THEN (SELECT next_id - 1 FROM tasker.event_cursor)
                ELSE (SELECT max(base + 4 * span - 1) FROM txs) END AS position, at_end
    FROM (SELECT (SELECT count(*) FROM txs) < $3 AS at_end) c
), events AS (
    SELECT t.base + t.span * tasker.event_band(true, st.to_state) + st.id - t.min_id AS id, 'step' AS kind, st.task_uuid, st.step_uuid,
           st.from_state, st.to_state, st.reason, st.created_at AS at
    FROM txs t JOIN tasker.step_transitions st ON st.tx = t.tx
    UNION ALL
    SELECT t.base + t.span * tasker.event_band(false, tt.to_state) + tt.id - t.min_id, 'task', tt.task_uuid, NULL,
           tt.from_state, tt.to_state, tt.reason, tt.created_at
    FROM txs t JOIN tasker.task_transitions tt ON tt.tx = t.tx
), named AS (
    SELECT e.*, k.namespace, s.name AS step_name
    FROM events e
    JOIN tasker.tasks k ON k.task_uuid = e.task_uuid
    LEFT JOIN tasker.workflow_steps s ON s.step_uuid = e.step_uuid
    WHERE e.id > $1 AND ($2::text IS NULL OR k.namespace = $2)
)
SELECT r.position, r.at_end, n.id, n.kind, n.task_uuid, n.namespace, n.step_uuid, n.step_name, n.from_state,
       n.to_state, n.reason, n.at
FROM reached r LEFT JOIN named n ON true
ORDER BY n.id
