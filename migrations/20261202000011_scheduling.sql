-- Scheduling (issue 15): delayed tasks, cron schedules and events that start tasks.

-- A task created with a future `run_at` waits in state `scheduled`; the scheduler starts it then.
ALTER TABLE tasker.tasks ADD COLUMN IF NOT EXISTS run_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS tasks_scheduled_idx ON tasker.tasks (run_at) WHERE state = 'scheduled';

-- Cron schedules, from the API or declared by templates (`source_key` names the template's entry).
CREATE TABLE IF NOT EXISTS tasker.schedules (
    schedule_id   UUID PRIMARY KEY,
    namespace     TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       TEXT,
    cron          TEXT NOT NULL,
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    context       JSONB NOT NULL DEFAULT '{}',
    overlap       TEXT NOT NULL DEFAULT 'allow',
    catch_up      TEXT NOT NULL DEFAULT 'none',
    priority      INTEGER,
    paused        BOOLEAN NOT NULL DEFAULT false,
    next_fire_at  TIMESTAMPTZ,
    source_key    TEXT UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS schedules_due_idx ON tasker.schedules (next_fire_at) WHERE NOT paused;

-- One row per fire time: the task it started, or why it was skipped.
CREATE TABLE IF NOT EXISTS tasker.schedule_fires (
    schedule_id  UUID NOT NULL REFERENCES tasker.schedules (schedule_id) ON DELETE CASCADE,
    fire_time    TIMESTAMPTZ NOT NULL,
    task_uuid    UUID,
    skipped      BOOLEAN NOT NULL DEFAULT false,
    reason       TEXT,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, fire_time)
);

-- Events that start tasks: an outbox, written by POST /v1/events or by tasker.emit_event in the caller's own
-- transaction. The scheduler turns each into one task per subscribed template, once (`processed_at`, `outcome`).
CREATE TABLE IF NOT EXISTS tasker.emitted_events (
    event_id      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name          TEXT NOT NULL,
    key           TEXT NOT NULL UNIQUE,
    payload       JSONB NOT NULL DEFAULT '{}',
    emitted_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at  TIMESTAMPTZ,
    outcome       JSONB
);
CREATE INDEX IF NOT EXISTS emitted_events_waiting_idx ON tasker.emitted_events (emitted_at) WHERE processed_at IS NULL;

-- Emit an event from SQL (a trigger on an application's table, say): it exists only if the caller's transaction
-- commits. A key already emitted is not emitted again; either way the event's id is returned. The notification
-- (delivered at commit) wakes the servers' schedulers.
CREATE OR REPLACE FUNCTION tasker.emit_event(event_name TEXT, event_key TEXT, event_payload JSONB DEFAULT '{}')
RETURNS UUID LANGUAGE plpgsql AS $$
DECLARE
    id UUID;
BEGIN
    IF event_name IS NULL OR length(event_name) = 0 OR event_key IS NULL OR length(event_key) = 0 THEN
        RAISE EXCEPTION 'tasker.emit_event needs a name and a key';
    END IF;
    INSERT INTO tasker.emitted_events (name, key, payload)
    VALUES (event_name, event_key, COALESCE(event_payload, '{}'))
    ON CONFLICT (key) DO NOTHING
    RETURNING event_id INTO id;
    IF id IS NULL THEN
        SELECT e.event_id INTO id FROM tasker.emitted_events e WHERE e.key = event_key;
    ELSE
        PERFORM pg_notify('tasker_emitted_events', '');
    END IF;
    RETURN id;
END;
$$;
