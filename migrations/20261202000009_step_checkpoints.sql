-- Checkpoints (issue 14): a long step saves its progress while its claim holds (`ctx.save_checkpoint`), and its
-- next attempt (after a retry, a crash or a lease expiry) reads it back. Kept after the step completes; served as
-- `checkpoint` on the step in GET /v1/tasks/{uuid}.
ALTER TABLE tasker.workflow_steps ADD COLUMN IF NOT EXISTS checkpoint JSONB;
