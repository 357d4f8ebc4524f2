-- The event stream (GET /v1/events, GET /v1/tasks/{uuid}/events): every task and step transition is an event
-- whose id follows COMMIT order, so a client resuming after an id misses nothing and sees nothing twice.
--
-- Row ids cannot be those ids: transactions take ids from a sequence in one order and commit in another. So each
-- audit row records the transaction that wrote it (`tx`), and a single sequencer at a time
-- (`sequence_events.sql`, under an advisory lock) places every committed transaction it has not placed yet: it
-- gives each the next range of ids, one after the other, in order of the highest row id the transaction wrote (a
-- transaction that saw another's commit wrote higher ids, so it comes after), and records it in
-- `event_placements`. The writers do nothing more than fill `tx`: nothing is added to the step path but a column
-- and its index.
--
-- A transaction of span S = max_id - min_id + 1 owns the ids base .. base + 4S - 1 in four bands (`event_band`),
-- each row at base + band * S + id - min_id: 0 task rows that do not end the task, 1 step rows that end an attempt
-- (complete, error, waiting_for_retry, cancelled, resolved_manually), 2 other step rows (enqueued, in_progress,
-- ...), 3 task rows that end the task. So within one transaction a task's creation comes before its steps, a step's
-- completion before the enqueueing of the steps it unblocked, and the task's final transition last, with the
-- highest id. Ids never change once given. Readers see only placed transactions: a prefix of the stream.
--
-- Both audit tables draw their ids from one sequence, so ids order writes across the two tables.

CREATE SEQUENCE IF NOT EXISTS tasker.transition_ids;
SELECT setval('tasker.transition_ids',
              greatest((SELECT coalesce(max(id), 0) FROM tasker.step_transitions),
                       (SELECT coalesce(max(id), 0) FROM tasker.task_transitions)) + 1, false);
ALTER TABLE tasker.step_transitions ALTER COLUMN id DROP IDENTITY IF EXISTS;
ALTER TABLE tasker.step_transitions ALTER COLUMN id SET DEFAULT nextval('tasker.transition_ids');
ALTER TABLE tasker.task_transitions ALTER COLUMN id DROP IDENTITY IF EXISTS;
ALTER TABLE tasker.task_transitions ALTER COLUMN id SET DEFAULT nextval('tasker.transition_ids');
ALTER SEQUENCE tasker.transition_ids OWNED BY tasker.step_transitions.id;

-- The writing transaction of each audit row (NULL on rows written before this migration: they have no event).
ALTER TABLE tasker.step_transitions ADD COLUMN IF NOT EXISTS tx xid8;
ALTER TABLE tasker.step_transitions ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS step_transitions_tx_idx ON tasker.step_transitions (tx) WHERE tx IS NOT NULL;
ALTER TABLE tasker.task_transitions ADD COLUMN IF NOT EXISTS tx xid8;
ALTER TABLE tasker.task_transitions ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS task_transitions_tx_idx ON tasker.task_transitions (tx) WHERE tx IS NOT NULL;

-- One row per placed transaction (insert-only; the retention sweep deletes those no audit row needs).
CREATE TABLE IF NOT EXISTS tasker.event_placements (
    tx         xid8 PRIMARY KEY,
    -- The transaction's ids are base .. base + 4 * (max_id - min_id + 1) - 1.
    base       BIGINT NOT NULL UNIQUE,
    min_id     BIGINT NOT NULL,
    max_id     BIGINT NOT NULL,
    placed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_placements_placed_brin ON tasker.event_placements USING brin (placed_at);

-- The next event id to hand out, and the horizon: every transaction below it is placed (or wrote no audit row,
-- or rolled back), so the sequencer looks for new ones only from there (one row).
CREATE TABLE IF NOT EXISTS tasker.event_cursor (
    singleton  BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    next_id    BIGINT NOT NULL,
    horizon    xid8 NOT NULL
);
INSERT INTO tasker.event_cursor (next_id, horizon) VALUES (1, pg_current_xact_id()) ON CONFLICT DO NOTHING;

-- The band of an audit row in its transaction's ids (see above); `is_step` tells a step row from a task row.
CREATE OR REPLACE FUNCTION tasker.event_band(is_step BOOLEAN, to_state TEXT) RETURNS INT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN is_step THEN CASE WHEN to_state IN ('complete', 'error', 'waiting_for_retry', 'cancelled',
                                             'resolved_manually') THEN 1 ELSE 2 END
    WHEN to_state IN ('complete', 'error', 'cancelled', 'resolved_manually') THEN 3
    ELSE 0
END;
