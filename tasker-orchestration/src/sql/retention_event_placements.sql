-- Delete one batch of event placements older than $1 whose audit rows are all gone (the sweep deleted their
-- tasks), in ONE statement: found through event_placements_placed_brin, their rows looked for through the `tx`
-- indexes. A placement whose transaction still has a row keeps that row's event id.
-- $1 cutoff, $2 batch size
WITH gone AS (
    SELECT p.tx
    FROM tasker.event_placements p
    WHERE p.placed_at < $1
      AND NOT EXISTS (SELECT 1 FROM tasker.step_transitions st WHERE st.tx = p.tx)
      AND NOT EXISTS (SELECT 1 FROM tasker.task_transitions tt WHERE tt.tx = p.tx)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM tasker.event_placements p USING gone g WHERE p.tx = g.tx
