-- Save a step's checkpoint in ONE statement, only while the claim holds (a zombie's checkpoint matches nothing),
-- and renew the lease like a heartbeat: the row's expiry and its message's visibility together.
-- <queue_table>: the step's queue. $1 step_uuid, $2 claim_token, $3 checkpoint, $4 lease seconds, $5 msg_id
WITH saved AS (
    UPDATE tasker.workflow_steps
    SET checkpoint = $3, lease_expires_at = now() + make_interval(secs => $4), updated_at = now()
    WHERE step_uuid = $1 AND claim_token = $2 AND state = 'in_progress'
    RETURNING step_uuid
), leased AS (
    UPDATE {queue_table} m
    SET vt = clock_timestamp() + make_interval(secs => $4)
    WHERE m.msg_id = $5 AND EXISTS (SELECT 1 FROM saved)
)
SELECT count(*) FROM saved
