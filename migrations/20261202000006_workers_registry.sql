-- The workers registry (issue 19 §3): each running worker records itself, refreshes `last_seen_at` every few
-- seconds (tasker_shared::presence) and deletes its row when it stops. A worker seen within the liveness window is
-- live; the server lists live workers (GET /v1/workers) and names the queues that have waiting messages and no live
-- worker (/health/ready, /metrics). `queues` are queue names as templates write them (a step's `queue`, or its
-- namespace), not pgmq table names.
CREATE TABLE IF NOT EXISTS tasker.workers (
    worker_id    TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    language     TEXT NOT NULL,
    queues       TEXT[] NOT NULL,
    concurrency  INT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
