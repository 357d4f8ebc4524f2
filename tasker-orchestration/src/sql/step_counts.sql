-- How many steps of each listed task are in each state. $1 task uuids
SELECT task_uuid, state, count(*) AS n
FROM tasker.workflow_steps
WHERE task_uuid = ANY($1)
GROUP BY task_uuid, state
