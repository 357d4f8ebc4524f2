-- The event stream (GET /v1/events, GET /v1/tasks/{uuid}/events): every task and step transition is an event
-- whose id follows COMMIT order, so a client resuming after an id misses nothing and sees nothing twice.
--
-- Row ids cannot be those ids: transactions take ids from a sequence in one order and commit in another. So
-- every transaction that writes audit rows leaves one marker (`event_transactions`: its transaction id and the
-- lowest and highest row id it wrote), written by a statement trigger in that same transaction. A single
-- sequencer at a time (`sequence_events.sql`, under an advisory lock) takes the committed markers it has not
-- placed yet and gives each a `base`, one after the other. A transaction of span S = max_id - min_id + 1 owns
-- the ids base .. base + 4S - 1 in four bands (`event_band`), each row at base + band * S + id - min_id:
-- 0 task rows that do not end the task, 1 step rows that end an attempt (complete, error, waiting_for_retry,
-- cancelled, resolved_manually), 2 other step rows (enqueued, in_progress, ...), 3 task rows that end the task.
-- So within one transaction a task's creation comes before its steps, a step's completion before the
-- enqueueing of the steps it unblocked, and the task's final transition last, with the highest id. Ids never
-- change once given. Readers see only placed transactions, a prefix of the stream at any moment.
--
-- Both audit tables draw their ids from one sequence, so ids order writes across the two tables: a
-- transaction that read what another committed writes higher ids than that one wrote, and is placed after it.

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

CREATE TABLE IF NOT EXISTS tasker.event_transactions (
    tx          xid8 PRIMARY KEY,
    min_id      BIGINT NOT NULL,
    max_id      BIGINT NOT NULL,
    -- The first event id of the transaction; NULL until the sequencer places it. The transaction's ids are
    -- base .. base + 4 * (max_id - min_id + 1) - 1.
    base        BIGINT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_transactions_unplaced_idx ON tasker.event_transactions (max_id, tx)
    WHERE base IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS event_transactions_base_idx ON tasker.event_transactions (base);
-- For the retention sweep: markers are written in time order, so a BRIN index finds the old ones for nothing.
CREATE INDEX IF NOT EXISTS event_transactions_created_brin ON tasker.event_transactions USING brin (created_at);

-- The next event id to hand out (one row).
CREATE TABLE IF NOT EXISTS tasker.event_cursor (
    singleton  BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    next_id    BIGINT NOT NULL
);
INSERT INTO tasker.event_cursor (next_id) VALUES (1) ON CONFLICT DO NOTHING;

-- The band of an audit row in its transaction's ids (see above); `is_step` tells a step row from a task row.
CREATE OR REPLACE FUNCTION tasker.event_band(is_step BOOLEAN, to_state TEXT) RETURNS INT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN is_step THEN CASE WHEN to_state IN ('complete', 'error', 'waiting_for_retry', 'cancelled',
                                             'resolved_manually') THEN 1 ELSE 2 END
    WHEN to_state IN ('complete', 'error', 'cancelled', 'resolved_manually') THEN 3
    ELSE 0
END;

-- One marker per writing transaction, merged across its statements.
CREATE OR REPLACE FUNCTION tasker.mark_event_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tasker.event_transactions AS e (tx, min_id, max_id)
    SELECT pg_current_xact_id(), min(id), max(id) FROM written HAVING count(*) > 0
    ON CONFLICT (tx) DO UPDATE SET min_id = least(e.min_id, excluded.min_id),
                                   max_id = greatest(e.max_id, excluded.max_id);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS step_transitions_events ON tasker.step_transitions;
CREATE TRIGGER step_transitions_events AFTER INSERT ON tasker.step_transitions
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION tasker.mark_event_transaction();
DROP TRIGGER IF EXISTS task_transitions_events ON tasker.task_transitions;
CREATE TRIGGER task_transitions_events AFTER INSERT ON tasker.task_transitions
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION tasker.mark_event_transaction();
