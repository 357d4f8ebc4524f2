-- Register a template file's template: insert it, or find the version already registered. Returns its id and
-- whether the registered definition is this one (a version is immutable: a file whose content differs from the
-- version registered under its name is refused by the caller, naming the file). An unchanged template writes
-- nothing (a second server start writes nothing).
WITH inserted AS (
    INSERT INTO tasker.task_templates (namespace, name, version, definition, content_hash)
    VALUES ($1, $2, $3, $4, md5($4::text))
    ON CONFLICT (namespace, name, version) DO NOTHING
    RETURNING template_id, true AS same
)
SELECT template_id, same FROM inserted
UNION ALL
-- The statement's snapshot does not see its own insert: this row is the one registered before.
SELECT template_id, content_hash = md5($4::text) FROM tasker.task_templates
WHERE namespace = $1 AND name = $2 AND version = $3
LIMIT 1
