-- The live workers of the registry (seen within the liveness window), by id. $1 liveness window (s)
SELECT worker_id, host, language, queues, concurrency, started_at, last_seen_at
FROM tasker.workers
WHERE last_seen_at > now() - make_interval(secs => $1)
ORDER BY worker_id
