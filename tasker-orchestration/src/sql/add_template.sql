-- Register a template version through the API. A new version is inserted (created = true). An existing one is
-- left as it is, and `same` says whether its content is the one given; a retired version with the same content is
-- made active again. No row comes back when a concurrent request inserted it after this statement's snapshot.
-- A new version is announced on <templates_channel> (payload: the namespace), so that workers can serve it.
-- $1 namespace, $2 name, $3 version, $4 definition
WITH inserted AS (
    INSERT INTO tasker.task_templates (namespace, name, version, definition, content_hash)
    VALUES ($1, $2, $3, $4, md5($4::text))
    ON CONFLICT (namespace, name, version) DO NOTHING
    RETURNING template_id
), existing AS (
    SELECT template_id, content_hash = md5($4::text) AS same
    FROM tasker.task_templates
    WHERE namespace = $1 AND name = $2 AND version = $3 AND NOT EXISTS (SELECT 1 FROM inserted)
), reactivated AS (
    UPDATE tasker.task_templates t SET active = true, updated_at = now()
    FROM existing e WHERE t.template_id = e.template_id AND e.same AND NOT t.active
), announced AS (
    SELECT count(pg_notify('{templates_channel}', $1)) AS n FROM inserted
)
SELECT true AS created, true AS same FROM inserted, announced
UNION ALL
SELECT false, same FROM existing
