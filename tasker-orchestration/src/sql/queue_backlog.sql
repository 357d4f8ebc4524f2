-- Each step queue's backlog and its live consumers, in ONE statement: the backlog CTE holds one SELECT per step queue
-- (queue_backlog.rs), giving its name as templates write it, its messages (`depth`), those visible now (`ready`:
-- not held by a worker, not a retry waiting for its time) and the age of its oldest message. `consumers` counts
-- the live workers (seen within $1 s) that list the queue. $2: the queue names, indexed by those SELECTs.
WITH backlog AS (
    {backlog}
), live AS (
    SELECT q.queue, count(*) AS n
    FROM tasker.workers w, unnest(w.queues) AS q(queue)
    WHERE w.last_seen_at > now() - make_interval(secs => $1)
    GROUP BY q.queue
)
SELECT b.queue, b.depth, b.ready, b.oldest_age_seconds, COALESCE(l.n, 0) AS consumers
FROM backlog b
LEFT JOIN live l ON l.queue = b.queue
ORDER BY b.queue
