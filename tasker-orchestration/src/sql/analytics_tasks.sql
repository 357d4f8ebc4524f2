-- Analytics, part 1: the tasks created since $2 (found by primary key: task ids are UUIDv7, time-ordered, and $1 is
-- the smallest id of that millisecond) by current state, and per minute the tasks created, completed and failed.
-- $1 lowest task_uuid, $2 since, $3 namespace (NULL: all)
WITH t AS MATERIALIZED (
    SELECT state, created_at, completed_at
    FROM tasker.tasks
    WHERE task_uuid >= $1 AND created_at >= $2 AND ($3::text IS NULL OR namespace = $3)
), per_minute AS (
    SELECT minute, sum(created)::bigint AS created, sum(completed)::bigint AS completed, sum(failed)::bigint AS failed
    FROM (SELECT date_trunc('minute', created_at) AS minute, 1 AS created, 0 AS completed, 0 AS failed FROM t
          UNION ALL
          SELECT date_trunc('minute', completed_at), 0, (state = 'complete')::int, (state = 'error')::int
          FROM t WHERE state IN ('complete', 'error')) e
    GROUP BY minute
)
SELECT (SELECT count(*) FROM t) AS created,
       (SELECT count(*) FROM t WHERE state = 'complete') AS complete,
       (SELECT count(*) FROM t WHERE state = 'error') AS error,
       (SELECT count(*) FROM t WHERE state = 'cancelled') AS cancelled,
       (SELECT count(*) FROM t WHERE state NOT IN ('complete', 'error', 'cancelled')) AS running,
       coalesce((SELECT jsonb_agg(jsonb_build_object('minute', minute, 'created', created, 'completed', completed,
                                                     'failed', failed) ORDER BY minute)
                 FROM per_minute), '[]') AS per_minute
