-- Analytics, part 2: per template version, the tasks created since $2 that completed or failed, and the
-- creation-to-completion time of the completed ones.
-- $1 lowest task_uuid, $2 since, $3 namespace (NULL: all)
SELECT namespace, name, version,
       count(*) FILTER (WHERE state = 'complete') AS completed,
       count(*) FILTER (WHERE state = 'error') AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at) * 1000)
           FILTER (WHERE state = 'complete') AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at) * 1000)
           FILTER (WHERE state = 'complete') AS p95_ms
FROM tasker.tasks
WHERE task_uuid >= $1 AND created_at >= $2 AND ($3::text IS NULL OR namespace = $3)
GROUP BY namespace, name, version
ORDER BY namespace, name, version
