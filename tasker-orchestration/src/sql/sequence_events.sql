-- Place the committed transactions the sequencer has not placed yet, in ONE statement: each gets the next
-- `base` in turn, in order of the highest audit row id it wrote (a transaction that saw another's commit wrote
-- higher ids, so it comes after), and the cursor moves past them. The caller holds the sequencer's advisory
-- lock, taken BEFORE this statement so that its snapshot shows every placement made before the lock.
-- Returns how many transactions were placed and the last event id handed out (NULL when none were).
-- $1 at most this many transactions
WITH todo AS (
    SELECT tx, max_id, 4 * (max_id - min_id + 1) AS width
    FROM tasker.event_transactions
    WHERE base IS NULL
    ORDER BY max_id, tx
    LIMIT $1
), placed AS (
    SELECT tx, sum(width) OVER (ORDER BY max_id, tx) - width AS offset_in_batch FROM todo
), moved AS (
    UPDATE tasker.event_cursor
    SET next_id = next_id + (SELECT coalesce(sum(width), 0) FROM todo)
    WHERE EXISTS (SELECT 1 FROM todo)
    RETURNING next_id - (SELECT sum(width) FROM todo) AS first_id, next_id - 1 AS last_id
), stamped AS (
    UPDATE tasker.event_transactions e
    SET base = m.first_id + p.offset_in_batch
    FROM placed p, moved m
    WHERE e.tx = p.tx
    RETURNING 1
)
SELECT (SELECT count(*) FROM stamped) AS placed, (SELECT last_id FROM moved) AS last_id
