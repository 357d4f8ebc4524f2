-- Earlier attempts' errors stay readable (issue 19 §4): the audit row that applies a failed outcome
-- (enqueued_for_orchestration → waiting_for_retry | error) keeps that attempt's error, with its attempt number and
-- time; a step's own `error` column holds only the last one. GET /v1/tasks/{uuid} serves them as `attempt_errors`.
ALTER TABLE tasker.step_transitions ADD COLUMN IF NOT EXISTS error JSONB;
