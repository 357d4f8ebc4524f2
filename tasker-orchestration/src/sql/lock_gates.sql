-- Lock the concurrency gates $1 (text[]: `namespace/name` of templates with limits) for the rest of the
-- transaction, in name order so that two transactions locking several gates never deadlock. Every change to
-- who holds a gate's slots happens under this lock; the caller counts the holders in its NEXT statement, whose
-- snapshot then shows every change committed before the lock was granted.
SELECT count(pg_advisory_xact_lock(hashtextextended('tasker.concurrency_gate:' || g.gate, 0)))
FROM (SELECT DISTINCT gate FROM unnest($1::text[]) AS u(gate) ORDER BY gate) g
