-- Dead letters: the tasks in `error`, newest failure first (GET /v1/dlq, the tasker_dead_letter_tasks gauge).
-- Partial, so it holds only the failed tasks and costs the hot path nothing: a task enters it at its finalization
-- and leaves when an operator retries, resolves or cancels it.
CREATE INDEX IF NOT EXISTS tasks_dead_letter_idx ON tasker.tasks (completed_at DESC, task_uuid DESC)
    WHERE state = 'error';
