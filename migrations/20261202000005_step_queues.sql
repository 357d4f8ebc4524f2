-- Steps routed to their own queues (issue 19): a template step may name `queue:`, so that one workflow mixes
-- languages or sends a heavy step to its own worker pool.
-- * `workflow_steps.queue`: the queue the step's messages go to, as templates write it (pgmq queue
--   `worker_<queue>_queue`); NULL means the task's namespace, which is what every step had before.
-- * `tasks.queues`: every queue the task's steps go to, sorted; NULL means only the namespace. Whoever sends the
--   task's step messages (the result processor, operator actions) reads it from the task row it locks anyway, and
--   builds one send per queue.
ALTER TABLE tasker.workflow_steps ADD COLUMN IF NOT EXISTS queue TEXT;
ALTER TABLE tasker.tasks ADD COLUMN IF NOT EXISTS queues TEXT[];

-- Raised by a statement that routed a step message to a queue it has no send for (see settle_result_batch.sql):
-- the transaction fails and nothing is lost, instead of the message being silently dropped.
CREATE OR REPLACE FUNCTION tasker.unrouted_step(queue TEXT) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a step message for queue `%` has no send in this statement', queue;
END
$$;
