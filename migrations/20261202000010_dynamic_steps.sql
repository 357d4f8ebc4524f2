-- Dynamic workflows (issue 14): a step's type when it is not `standard` (`decision`, `batchable`,
-- `batch_worker`, `convergence`), so that the result processor reads the result of a completed decision or
-- batchable step and creates what it asks for; and a batch worker instance's work item (`ctx.batch`).
ALTER TABLE tasker.workflow_steps ADD COLUMN IF NOT EXISTS kind TEXT;
ALTER TABLE tasker.workflow_steps ADD COLUMN IF NOT EXISTS batch JSONB;
