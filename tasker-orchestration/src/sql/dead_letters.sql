-- A page of dead letters: tasks in `error`, newest failure first, each with its failed steps.
-- $1 namespace (NULL: every namespace), $2/$3 the cursor (failed_at, task_uuid of the previous page's last entry;
-- NULL: from the newest), $4 page size
WITH page AS (
    SELECT t.task_uuid, t.namespace, t.name, t.completed_at AS failed_at
    FROM tasker.tasks t
    WHERE t.state = 'error'
      AND ($1::text IS NULL OR t.namespace = $1)
      AND ($2::timestamptz IS NULL OR (t.completed_at, t.task_uuid) < ($2, $3::uuid))
    ORDER BY t.completed_at DESC, t.task_uuid DESC
    LIMIT $4
)
SELECT p.task_uuid, p.namespace, p.name, p.failed_at,
       coalesce(jsonb_agg(jsonb_build_object('step_uuid', s.step_uuid, 'name', s.name, 'attempts', s.attempts,
                                             'error', s.error) ORDER BY s.position)
                FILTER (WHERE s.step_uuid IS NOT NULL), '[]') AS steps
FROM page p
LEFT JOIN tasker.workflow_steps s ON s.task_uuid = p.task_uuid AND s.state = 'error'
GROUP BY p.task_uuid, p.namespace, p.name, p.failed_at
ORDER BY p.failed_at DESC, p.task_uuid DESC
