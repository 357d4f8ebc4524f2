-- The placed events of one task after $2, in id order; rows are found by the task (its audit rows' keys), their
-- ids through their transactions' placements. Every row also carries `position` (the stream's end in the same
-- snapshot: every event up to it that belongs to the task is here) and `last_task_state` (the task's latest
-- placed task event, whatever $2 is, so a client resuming after the final event learns that it has ended).
-- One row with NULL `id` when there are no events after $2.
-- $1 task_uuid, $2 after this event id
WITH events AS (
    SELECT t.base + (t.max_id - t.min_id + 1) * tasker.event_band(true, st.to_state) + st.id - t.min_id AS id,
           'step' AS kind, st.task_uuid, st.step_uuid, s.name AS step_name,
           st.from_state, st.to_state, st.reason, st.created_at AS at
    FROM tasker.workflow_steps s
    JOIN tasker.step_transitions st ON st.step_uuid = s.step_uuid
    JOIN tasker.event_placements t ON t.tx = st.tx
    WHERE s.task_uuid = $1
    UNION ALL
    SELECT t.base + (t.max_id - t.min_id + 1) * tasker.event_band(false, tt.to_state) + tt.id - t.min_id, 'task', tt.task_uuid, NULL, NULL,
           tt.from_state, tt.to_state, tt.reason, tt.created_at
    FROM tasker.task_transitions tt
    JOIN tasker.event_placements t ON t.tx = tt.tx
    WHERE tt.task_uuid = $1
), head AS (
    SELECT (SELECT next_id - 1 FROM tasker.event_cursor) AS position,
           (SELECT to_state FROM events WHERE kind = 'task' ORDER BY id DESC LIMIT 1) AS last_task_state
)
SELECT h.position, h.last_task_state, e.id, e.kind, e.task_uuid, k.namespace, e.step_uuid, e.step_name, e.from_state,
       e.to_state, e.reason, e.at
FROM head h
LEFT JOIN (SELECT * FROM events WHERE id > $2) e ON true
LEFT JOIN tasker.tasks k ON k.task_uuid = e.task_uuid
ORDER BY e.id
