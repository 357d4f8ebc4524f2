-- Keep the hot statements' plans independent of statistics, which lag far behind a burst of new tasks:
--
-- 1. Each step carries the uuids of the steps it depends on, so readiness and dependency results are
--    primary-key lookups (`step_uuid = ANY(depends_on)`) rather than joins through the edges table that a
--    planner with stale statistics turns into hash joins over every step. `workflow_step_edges` stays the
--    normalised record of the DAG.
-- 2. The (state, task_uuid) index on tasks let such a planner drive claims and finalization from every live
--    task instead of the few at hand. Listing tasks by state now walks the primary key newest-first with a
--    filter, which stays cheap for the states people page through.
ALTER TABLE tasker.workflow_steps ADD COLUMN depends_on UUID[] NOT NULL DEFAULT '{}';
UPDATE tasker.workflow_steps s
SET depends_on = d.parents
FROM (SELECT to_step_uuid, array_agg(from_step_uuid) AS parents FROM tasker.workflow_step_edges GROUP BY 1) d
WHERE s.step_uuid = d.to_step_uuid;
DROP INDEX IF EXISTS tasker.tasks_state_idx;
