-- Any upstream step readable by name (issue 19 §4), without walking the DAG at every claim: each step records, when
-- it is created, the steps above its direct dependencies (`upstream`: ancestors that are not parents; NULL when
-- there are none). The claim reads their results with key lookups, like the direct dependencies' (walking
-- `depends_on` recursively at each claim cost about a sixth of the engine's throughput).
ALTER TABLE tasker.workflow_steps ADD COLUMN IF NOT EXISTS upstream UUID[];
