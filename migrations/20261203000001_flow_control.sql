-- Flow control (docs/scheduling.md): concurrency limits per template and key, and rate limits per step key.
--
-- A task of a template with `concurrency:` carries its gate (`namespace/name`), its key value under the keyed
-- limit, and the limits of its template version. It holds a slot while `steps_in_process`; over a limit it waits
-- `queued`. Admission locks the gate (an advisory lock on its name) and counts the holders.
ALTER TABLE tasker.tasks ADD COLUMN IF NOT EXISTS concurrency_gate TEXT;
ALTER TABLE tasker.tasks ADD COLUMN IF NOT EXISTS concurrency_key TEXT;
ALTER TABLE tasker.tasks ADD COLUMN IF NOT EXISTS max_running INT;
ALTER TABLE tasker.tasks ADD COLUMN IF NOT EXISTS max_running_per_key INT;
-- Holders and waiters of a gate; no entry for a task without limits or a finished one.
CREATE INDEX IF NOT EXISTS tasks_concurrency_idx ON tasker.tasks (concurrency_gate, concurrency_key)
    WHERE concurrency_gate IS NOT NULL AND state IN ('queued', 'steps_in_process');

-- A step with `rate_limit:` carries its bucket's key. The bucket: `tokens` as of `refilled_at`, refilled at
-- `per_second` up to `burst` (the last registered template naming the key sets both); `last_grant` is what the
-- latest claim took; `waits` counts the step messages put back for want of a token.
ALTER TABLE tasker.workflow_steps ADD COLUMN IF NOT EXISTS rate_key TEXT;
CREATE TABLE IF NOT EXISTS tasker.rate_limits (
    key         TEXT PRIMARY KEY,
    per_second  DOUBLE PRECISION NOT NULL CHECK (per_second > 0),
    burst       DOUBLE PRECISION NOT NULL CHECK (burst >= 1),
    tokens      DOUBLE PRECISION NOT NULL,
    refilled_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    last_grant  INT NOT NULL DEFAULT 0,
    waits       BIGINT NOT NULL DEFAULT 0
);
