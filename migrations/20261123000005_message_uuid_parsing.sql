-- Queue messages are read inside the claim and result-batch statements, which must not fail on a malformed body
-- (one poison message would stop the whole queue). A uuid cast that errors would; this returns NULL instead.
-- A plain SQL function: inlined by the planner.
CREATE OR REPLACE FUNCTION tasker.try_uuid(value text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN value::uuid END
$$;
