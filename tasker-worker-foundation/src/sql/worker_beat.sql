-- A worker's presence beat (presence.rs): record or refresh its row in the workers registry. The first beat
-- inserts the row (and, with $7, deletes rows of workers not seen for a day: crashed, never deregistered); later
-- beats refresh `last_seen_at` and the queues (which grow when a template registered later is served).
-- $1 worker_id, $2 host, $3 language, $4 queues, $5 concurrency, $6 first beat?, $7 forget rows older than (s)
WITH forgotten AS (
    DELETE FROM tasker.workers
    WHERE $6 AND last_seen_at < now() - make_interval(secs => $7) AND worker_id <> $1
)
INSERT INTO tasker.workers AS w (worker_id, host, language, queues, concurrency, started_at, last_seen_at)
VALUES ($1, $2, $3, $4, $5, now(), now())
ON CONFLICT (worker_id) DO UPDATE
SET host = excluded.host, language = excluded.language, queues = excluded.queues,
    concurrency = excluded.concurrency, last_seen_at = now(),
    -- A restarted process reusing a fixed worker_id starts anew.
    started_at = CASE WHEN $6 THEN now() ELSE w.started_at END
