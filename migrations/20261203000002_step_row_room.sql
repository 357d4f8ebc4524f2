-- Room on each page of `workflow_steps` for the updates of its rows (docs/performance.md item 30).
--
-- A step row is inserted once and updated two or three times (enqueued, claimed, completed), always without
-- touching an indexed column. With full pages every such update moved the row to another page and added an entry
-- to both of its indexes (the primary key, and the unique (task_uuid, name) with its uniqueness check). With room
-- left on the page PostgreSQL keeps the new version beside the old one (a heap-only tuple) and writes no index
-- entry; the old versions are pruned from the page when it fills. Applies to pages written from now on.
ALTER TABLE tasker.workflow_steps SET (fillfactor = 60);
