-- The audit trail is read by owner (a step's or a task's history, in order) and written four times per step.
-- A primary key on (owner, id) serves both the uniqueness of a row and the lookup by owner with ONE index,
-- instead of a key on `id` plus a separate index on the owner: one index entry less per audit row.
ALTER TABLE tasker.step_transitions DROP CONSTRAINT step_transitions_pkey;
ALTER TABLE tasker.step_transitions ADD PRIMARY KEY (step_uuid, id);
DROP INDEX IF EXISTS tasker.step_transitions_step_idx;

ALTER TABLE tasker.task_transitions DROP CONSTRAINT task_transitions_pkey;
ALTER TABLE tasker.task_transitions ADD PRIMARY KEY (task_uuid, id);
DROP INDEX IF EXISTS tasker.task_transitions_task_idx;

