-- Place the committed transactions not placed yet, in ONE statement. Candidates are the audit rows of
-- transactions at or above the cursor's horizon or among those still running at the last complete pass
-- (`in_progress`), found through the `tx` indexes, grouped by transaction, minus those already placed. Each gets
-- the next `base` in turn, in order of the highest row id it wrote (a transaction that saw another's commit wrote
-- higher ids, so it comes after). Then, unless the batch was cut at $1, the horizon moves up to this snapshot's
-- xmax and `in_progress` becomes the snapshot's running transactions: every other transaction below the horizon
-- has finished, and the committed ones were all visible here, so all are placed now. (A transaction left open for
-- hours is looked up by its id on each pass; the rows of everything older are not read again.) The caller holds
-- the sequencer's advisory lock, taken BEFORE this statement so that its snapshot shows every placement made
-- before the lock.
-- The horizon comes in as a parameter ($2, read under the lock), not from a subquery: with its value known the
-- planner reads the `tx` indexes from there (a recent, small range); with it unknown it scanned the whole tables.
-- Returns how many transactions were placed and the last event id handed out (NULL when none were).
-- $1 at most this many transactions, $2 the cursor's horizon (as text), $3 its `in_progress` (as text)
WITH cur AS (
    SELECT next_id, horizon FROM tasker.event_cursor
), written AS (
    SELECT tx, id FROM tasker.step_transitions WHERE tx >= $2::text::xid8 OR tx = ANY($3::text::xid8[])
    UNION ALL
    SELECT tx, id FROM tasker.task_transitions WHERE tx >= $2::text::xid8 OR tx = ANY($3::text::xid8[])
), todo AS (
    SELECT g.tx, g.min_id, g.max_id, 4 * (g.max_id - g.min_id + 1) AS width
    FROM (SELECT tx, min(id) AS min_id, max(id) AS max_id FROM written GROUP BY tx) g
    WHERE NOT EXISTS (SELECT 1 FROM tasker.event_placements p WHERE p.tx = g.tx)
    ORDER BY g.max_id, g.tx
    LIMIT $1
), placed AS (
    SELECT tx, min_id, max_id, width, sum(width) OVER (ORDER BY max_id, tx) - width AS offset_in_batch FROM todo
), stamped AS (
    INSERT INTO tasker.event_placements (tx, base, min_id, max_id)
    SELECT p.tx, c.next_id + p.offset_in_batch, p.min_id, p.max_id FROM placed p, cur c
    RETURNING 1
), moved AS (
    UPDATE tasker.event_cursor
    SET next_id = next_id + (SELECT coalesce(sum(width), 0) FROM todo),
        horizon = CASE WHEN (SELECT count(*) FROM todo) < $1
                       THEN greatest(horizon, pg_snapshot_xmax(pg_current_snapshot())) ELSE horizon END,
        in_progress = CASE WHEN (SELECT count(*) FROM todo) < $1
                           THEN ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())) ELSE in_progress END
    RETURNING next_id - 1 AS last_id
)
SELECT (SELECT count(*) FROM stamped) AS placed,
       CASE WHEN EXISTS (SELECT 1 FROM todo) THEN (SELECT last_id FROM moved) END AS last_id
