-- Lock one task row for an operator action (cancel, retry, resolve) and read what the action depends on. The
-- result processor takes the same lock (take_result_batch.sql) before it settles a task, so an action and a
-- settle of the same task run one after the other, and the action's next statement sees every earlier settle.
-- $1 task_uuid
SELECT state, namespace FROM tasker.tasks WHERE task_uuid = $1 FOR UPDATE
