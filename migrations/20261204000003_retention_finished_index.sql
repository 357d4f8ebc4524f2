-- The retention sweep finds old finished tasks by when they finished: complete and cancelled ones through this
-- partial index, failed ones through tasks_dead_letter_idx. (Walking the primary key instead read, on every batch,
-- every task kept ahead of them: running ones, and failed ones kept longer under `keep_failed_tasks`.) A task enters
-- it when it is finalized, an update that writes every index of `tasks` already.
CREATE INDEX IF NOT EXISTS tasks_finished_idx ON tasker.tasks (completed_at) WHERE state IN ('complete', 'cancelled');
