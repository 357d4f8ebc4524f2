-- Core Tasker schema: templates, tasks, steps, edges and the append-only transition audit.
CREATE SCHEMA IF NOT EXISTS tasker;

CREATE TABLE tasker.namespaces (
    name        TEXT PRIMARY KEY,
    queue_name  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tasker.task_templates (
    template_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace     TEXT NOT NULL REFERENCES tasker.namespaces (name),
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    definition    JSONB NOT NULL,
    content_hash  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (namespace, name, version)
);

CREATE TABLE tasker.tasks (
    task_uuid        UUID PRIMARY KEY,
    template_id      BIGINT NOT NULL REFERENCES tasker.task_templates (template_id),
    namespace        TEXT NOT NULL,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    state            TEXT NOT NULL,
    context          JSONB NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    correlation_id   TEXT,
    tags             JSONB NOT NULL DEFAULT '[]',
    initiator        TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX tasks_idempotency_key_idx ON tasker.tasks (template_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Listing is newest first (UUIDv7 orders by creation time); filters by namespace and state.
CREATE INDEX tasks_namespace_idx ON tasker.tasks (namespace, task_uuid DESC);
CREATE INDEX tasks_state_idx ON tasker.tasks (state, task_uuid DESC);

CREATE TABLE tasker.workflow_steps (
    step_uuid         UUID PRIMARY KEY,
    task_uuid         UUID NOT NULL REFERENCES tasker.tasks (task_uuid),
    name              TEXT NOT NULL,
    handler           TEXT NOT NULL,
    position          INTEGER NOT NULL,
    state             TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    retryable         BOOLEAN NOT NULL DEFAULT TRUE,
    backoff_base_ms   INTEGER NOT NULL,
    backoff_max_ms    INTEGER NOT NULL,
    timeout_seconds   INTEGER NOT NULL,
    config            JSONB NOT NULL DEFAULT '{}',
    next_attempt_at   TIMESTAMPTZ,
    claim_token       UUID,
    claimed_by        TEXT,
    lease_expires_at  TIMESTAMPTZ,
    results           JSONB,
    error             JSONB,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at      TIMESTAMPTZ,
    UNIQUE (task_uuid, name)
);

CREATE TABLE tasker.workflow_step_edges (
    from_step_uuid  UUID NOT NULL REFERENCES tasker.workflow_steps (step_uuid),
    to_step_uuid    UUID NOT NULL REFERENCES tasker.workflow_steps (step_uuid),
    PRIMARY KEY (to_step_uuid, from_step_uuid)
);

CREATE TABLE tasker.task_transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_uuid   UUID NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX task_transitions_task_idx ON tasker.task_transitions (task_uuid);

CREATE TABLE tasker.step_transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step_uuid   UUID NOT NULL,
    task_uuid   UUID NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX step_transitions_step_idx ON tasker.step_transitions (step_uuid);
