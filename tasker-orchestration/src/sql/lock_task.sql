-- Lock one task row for an operator action (cancel, retry, resolve) and read what the action depends on (its
-- state, namespace, the queues its steps go to, and its concurrency gate). The
-- result processor takes the same lock (take_result_batch.sql) before it settles a task, so an action and a
-- settle of the same task run one after the other, and the action's next statement sees every earlier settle.
-- $1 task_uuid
SELECT state, namespace, COALESCE(queues, ARRAY[namespace]) AS queues, concurrency_gate
FROM tasker.tasks WHERE task_uuid = $1 FOR UPDATE
