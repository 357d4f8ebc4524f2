-- Events are turned into tasks under a short claim (`claimed_until`) instead of a row lock held while the tasks are
-- created: creating them takes other pooled connections, and a transaction holding one connection while waiting for
-- another can exhaust a small pool. A claim that outlives its server (a crash) expires and is taken again.
ALTER TABLE tasker.emitted_events ADD COLUMN IF NOT EXISTS claimed_until TIMESTAMPTZ;
