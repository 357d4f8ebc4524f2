-- Template versions can be retired (DELETE /v1/templates/{namespace}/{name}/{version}): a retired version takes no
-- new tasks; tasks created on it keep running on it.
ALTER TABLE tasker.task_templates ADD COLUMN IF NOT EXISTS active BOOLEAN NOT NULL DEFAULT true;
