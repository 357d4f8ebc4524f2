-- Dependencies live in `workflow_steps.depends_on` (20261123000002); the edge table duplicated them, was
-- written once per edge at task creation (with two foreign-key checks each) and read by nothing.
DROP TABLE IF EXISTS tasker.workflow_step_edges;
