-- Delete one batch of event markers (`event_transactions`) older than $1 whose audit rows are all gone (the
-- sweep deleted their tasks), in ONE statement: found through event_transactions_created_brin, their rows
-- looked for through the `tx` indexes. A marker whose transaction still has a row keeps that row's event id.
-- $1 cutoff, $2 batch size
WITH gone AS (
    SELECT e.tx
    FROM tasker.event_transactions e
    WHERE e.created_at < $1 AND e.base IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM tasker.step_transitions st WHERE st.tx = e.tx)
      AND NOT EXISTS (SELECT 1 FROM tasker.task_transitions tt WHERE tt.tx = e.tx)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM tasker.event_transactions e USING gone g WHERE e.tx = g.tx
