-- Insert a template, or update it when its definition changed; returns its id either way.
-- An unchanged definition updates nothing (a second server start writes nothing).
WITH upserted AS (
    INSERT INTO tasker.task_templates (namespace, name, version, definition, content_hash)
    VALUES ($1, $2, $3, $4, md5($4::text))
    ON CONFLICT (namespace, name, version) DO UPDATE
        SET definition = EXCLUDED.definition, content_hash = EXCLUDED.content_hash, updated_at = now()
        WHERE tasker.task_templates.content_hash IS DISTINCT FROM EXCLUDED.content_hash
    RETURNING template_id
)
SELECT template_id FROM upserted
UNION ALL
SELECT template_id FROM tasker.task_templates WHERE namespace = $1 AND name = $2 AND version = $3
LIMIT 1
