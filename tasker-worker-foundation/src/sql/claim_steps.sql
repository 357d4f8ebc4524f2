-- Read and claim in ONE statement (one round trip, atomic). `<queue_table>` is the queue's pgmq table.
--
-- Reads up to $1 visible messages in visibility order, skipping messages another reader has locked. A step
-- message is visible from `now - (priority - 1) * <seconds per level>` (settle_steps.sql), so this is
-- highest priority first, first in first out within a priority, and a step that has waited
-- `scheduling.max_priority_wait` is level with a fresh priority-5 one. `ORDER BY vt` alone walks pgmq's index on
-- `vt` and stops at the batch size; a tie-breaker column would sort every visible message of a backlog instead. The first
-- message of each step claims it when the step is claimable: `enqueued`, a retry that is due, or
-- `in_progress` whose lease has expired (its worker died) with attempts left. A claimed step gets a fresh
-- claim token, counts an attempt, gets a lease of $3 seconds and an audit row; its message stays hidden for
-- the lease (pgmq's visibility timeout). Steps are locked in step_uuid order so concurrent claimers never
-- deadlock. Every other message read is deleted: a duplicate, a body naming no step, or a step that is done,
-- cancelled or held under a live lease. The one exception is a step whose lease expired on its LAST attempt:
-- its message is left in place and returned as `expired`, for fail_exhausted_leases.sql.
--
-- A `step_uuid` that is not a uuid fails the statement (nothing claimed); the caller then drops such bodies
-- (`tasker_shared::messaging::drop_malformed`) and claims again.
--
-- clock_timestamp(), not now(): pgmq judges visibility by the clock, and so must we.
-- The task's state is not consulted: a task leaves `steps_in_process` only when none of its steps is enqueued,
-- waiting for a retry or in progress, so the step's own state says it all. (Joining `tasks` there also let the
-- planner, with statistics lagging behind a burst, drive the claim from every live task.)
--
-- Rows: one `read` row (msg_id = messages read; next_visible_ms = how long until the queue's next hidden message,
-- a delayed retry or an expiring lease, becomes visible, since no notification fires then: the statement's snapshot
-- does not show the leases it sets itself, so those count through `claimed`; NULL when the batch came back full,
-- since the caller then claims again at once), then one `claimed` row per claimed step (what its handler
-- needs: its direct dependencies' results, and those of the steps further upstream, recorded on the step at its
-- creation as `upstream`; a batch worker instance's work item, `batch`) and one `expired` row per step left for fail_exhausted_leases.sql.
--
-- Rate limits: a claimable step with a `rate_key` draws a token from its bucket (tasker.rate_limits, refilled
-- at `per_second` up to `burst` since its last draw); the bucket's row lock orders concurrent claimers, and its
-- update sees the row as the last claimer left it. A step that gets no token is not claimed and counts no
-- attempt: it reserves a future token instead (the bucket goes below zero), and its message is put back marked
-- `rate_reserved`, visible when that token is due (`held`); claimed then, it draws nothing. Reservations queue
-- first come first served, and a held message is read twice at most. The bucket counts the waits. A key with no
-- bucket row is not limited.
-- $1 batch size, $2 worker id, $3 lease seconds
WITH next AS (
    SELECT msg_id, message
    FROM {queue_table}
    WHERE vt <= clock_timestamp()
    ORDER BY vt
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), first_message AS (
    SELECT DISTINCT ON (step_uuid) step_uuid, msg_id, reserved
    FROM (SELECT msg_id, (message->>'step_uuid')::uuid AS step_uuid, message ? 'rate_reserved' AS reserved
          FROM next) n
    WHERE step_uuid IS NOT NULL
    ORDER BY step_uuid, msg_id
), candidates AS (
    SELECT s.step_uuid, s.state AS from_state, f.msg_id, CASE WHEN NOT f.reserved THEN s.rate_key END AS rate_key
    FROM tasker.workflow_steps s
    JOIN first_message f ON f.step_uuid = s.step_uuid
    WHERE s.state = 'enqueued'
       OR (s.state = 'waiting_for_retry' AND s.next_attempt_at <= clock_timestamp())
       OR (s.state = 'in_progress' AND s.lease_expires_at < clock_timestamp() AND s.attempts < s.max_attempts)
    ORDER BY s.step_uuid
    FOR UPDATE OF s
), wanted AS (
    SELECT rate_key, count(*)::int AS n FROM candidates WHERE rate_key IS NOT NULL GROUP BY rate_key
), bucket AS (
    -- Locked in key order (concurrent claimers drawing from several buckets never deadlock); FOR UPDATE reads the
    -- row as the last claimer committed it.
    SELECT b.key, w.n, clock_timestamp() AS at,
           LEAST(b.burst, b.tokens + b.per_second
                 * GREATEST(EXTRACT(EPOCH FROM clock_timestamp() - b.refilled_at)::float8, 0)) AS available
    FROM tasker.rate_limits b
    JOIN wanted w ON w.rate_key = b.key
    ORDER BY b.key
    FOR UPDATE OF b
), drawn AS (
    UPDATE tasker.rate_limits b
    SET tokens = k.available - k.n,
        last_grant = LEAST(k.n, GREATEST(floor(k.available), 0))::int,
        waits = b.waits + (k.n - LEAST(k.n, GREATEST(floor(k.available), 0)))::bigint,
        refilled_at = k.at
    FROM bucket k
    WHERE b.key = k.key
    RETURNING b.key, b.last_grant, k.available, b.per_second
), held AS (
    -- The rn-th step of a key needs the bucket at rn tokens: it had `available`, and gains per_second a second.
    SELECT r.step_uuid, r.msg_id, (r.rn - d.available) / d.per_second AS wait_seconds
    FROM (SELECT step_uuid, msg_id, rate_key, row_number() OVER (PARTITION BY rate_key ORDER BY msg_id) AS rn
          FROM candidates WHERE rate_key IS NOT NULL) r
    JOIN drawn d ON d.key = r.rate_key
    WHERE r.rn > d.last_grant
), claimed AS (
    UPDATE tasker.workflow_steps s
    SET state = 'in_progress',
        attempts = s.attempts + 1,
        claim_token = gen_random_uuid(),
        claimed_by = $2,
        lease_expires_at = now() + make_interval(secs => $3),
        updated_at = now()
    FROM candidates c
    WHERE s.step_uuid = c.step_uuid AND NOT EXISTS (SELECT 1 FROM held h WHERE h.step_uuid = c.step_uuid)
    RETURNING s.step_uuid, s.task_uuid, s.name, s.handler, s.attempts, s.max_attempts, s.timeout_seconds,
              s.config, s.claim_token, s.depends_on, s.upstream, s.backoff_base_ms, s.backoff_max_ms, s.checkpoint,
              s.batch, c.from_state, c.msg_id
), audit AS (
    INSERT INTO tasker.step_transitions (step_uuid, task_uuid, from_state, to_state, reason)
    SELECT step_uuid, task_uuid, from_state, 'in_progress', 'claimed by ' || $2 FROM claimed
), expired AS (
    SELECT f.step_uuid, f.msg_id
    FROM first_message f
    JOIN tasker.workflow_steps s ON s.step_uuid = f.step_uuid
    WHERE s.state = 'in_progress' AND s.lease_expires_at < clock_timestamp() AND s.attempts >= s.max_attempts
), leased AS (
    UPDATE {queue_table} m
    SET vt = clock_timestamp() + make_interval(secs => $3), read_ct = m.read_ct + 1, last_read_at = clock_timestamp()
    FROM claimed c
    WHERE m.msg_id = c.msg_id
), put_back AS (
    UPDATE {queue_table} m
    SET vt = clock_timestamp() + make_interval(secs => h.wait_seconds),
        message = m.message || '{"rate_reserved": true}'::jsonb
    FROM held h
    WHERE m.msg_id = h.msg_id
), dropped AS (
    DELETE FROM {queue_table} m
    USING next n
    WHERE m.msg_id = n.msg_id
      AND NOT EXISTS (SELECT 1 FROM claimed c WHERE c.msg_id = n.msg_id)
      AND NOT EXISTS (SELECT 1 FROM expired e WHERE e.msg_id = n.msg_id)
      AND NOT EXISTS (SELECT 1 FROM held h WHERE h.msg_id = n.msg_id)
)
SELECT 'read' AS kind, count(*) AS msg_id, NULL::uuid AS step_uuid, NULL::uuid AS task_uuid, NULL::text AS name,
       NULL::text AS handler, NULL::int AS attempts, NULL::int AS max_attempts, NULL::int AS timeout_seconds,
       NULL::jsonb AS config, NULL::uuid AS claim_token, NULL::jsonb AS context, NULL::jsonb AS dependency_results,
       NULL::jsonb AS upstream_results, NULL::int AS backoff_base_ms, NULL::int AS backoff_max_ms,
       NULL::text AS namespace, NULL::jsonb AS checkpoint, NULL::jsonb AS batch,
       CASE WHEN count(*) < $1 THEN
           (EXTRACT(EPOCH FROM (LEAST((SELECT min(vt) FROM {queue_table} WHERE vt > clock_timestamp()),
                                      (SELECT clock_timestamp() + make_interval(secs => $3) FROM claimed LIMIT 1),
                                      (SELECT clock_timestamp() + make_interval(secs => min(wait_seconds)) FROM held))
                                - clock_timestamp())) * 1000)::float8
       END AS next_visible_ms
FROM next
UNION ALL
SELECT 'claimed', c.msg_id, c.step_uuid, c.task_uuid, c.name, c.handler, c.attempts, c.max_attempts,
       c.timeout_seconds, c.config, c.claim_token, t.context,
       COALESCE((SELECT jsonb_object_agg(p.name, p.results)
                 FROM tasker.workflow_steps p
                 WHERE p.step_uuid = ANY(c.depends_on)), '{}'::jsonb),
       COALESCE((SELECT jsonb_object_agg(a.name, a.results)
                 FROM tasker.workflow_steps a
                 WHERE a.step_uuid = ANY(c.upstream)), '{}'::jsonb),
       c.backoff_base_ms, c.backoff_max_ms, t.namespace, c.checkpoint, c.batch,
       NULL
FROM claimed c
JOIN tasker.tasks t ON t.task_uuid = c.task_uuid
UNION ALL
SELECT 'expired', e.msg_id, e.step_uuid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
FROM expired e
UNION ALL
SELECT 'held', count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL
FROM held
HAVING count(*) > 0
