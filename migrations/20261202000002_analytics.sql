-- Analytics reads the audit rows of a time window (GET /v1/analytics). Audit rows are appended in time order, so a
-- BRIN index on created_at finds a window's rows as a few ranges of the table: tiny, and nearly free to maintain.
CREATE INDEX IF NOT EXISTS step_transitions_created_brin ON tasker.step_transitions USING brin (created_at);
