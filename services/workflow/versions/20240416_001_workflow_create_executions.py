"""Create workflow executions and execution steps

Migration: create workflow executions and execution steps
Service: workflow-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-16
Dependencies: ["20240101_001"]

Each run of a workflow definition is an execution (started by an auth user, or by the system
when started_by is empty), and each step it runs, every attempt of it, is an execution step.
A definition with executions cannot be deleted: deactivate it instead. The runner polls for
pending and running executions, which a partial index keeps cheap however long the history.
"""

from migrator.revision import run_sql

revision = "20240416_001"
down_revision = "20240101_007"
branch_labels = ()
depends_on = ("20240101_001",)

UPGRADE = """
-- Value lists compare as text (`status::text IN (...)`): PostgreSQL's rendering of a
-- varchar `IN` list reads back differently, so pg_dump and restore would alter it.
CREATE TABLE IF NOT EXISTS workflow.executions (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    definition_id uuid        NOT NULL,
    started_by    uuid,
    status        varchar(20) NOT NULL DEFAULT 'pending',
    input         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    output        jsonb,
    error         text,
    started_at    timestamptz,
    finished_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT executions_pkey PRIMARY KEY (id),
    CONSTRAINT executions_definition_id_fkey FOREIGN KEY (definition_id)
        REFERENCES workflow.definitions (id),
    CONSTRAINT executions_started_by_fkey FOREIGN KEY (started_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT executions_status_valid
        CHECK (status::text IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT executions_input_is_object CHECK (jsonb_typeof(input) = 'object'),
    CONSTRAINT executions_finished_unless_active
        CHECK (status::text IN ('pending', 'running') OR finished_at IS NOT NULL),
    CONSTRAINT executions_finished_after_start
        CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at)
);

CREATE INDEX IF NOT EXISTS idx_executions_definition_id_created_at
    ON workflow.executions (definition_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_executions_started_by ON workflow.executions (started_by);
CREATE INDEX IF NOT EXISTS idx_executions_active
    ON workflow.executions (status, created_at) WHERE status::text IN ('pending', 'running');

CREATE TABLE IF NOT EXISTS workflow.execution_steps (
    id           bigint       GENERATED ALWAYS AS IDENTITY,
    execution_id uuid         NOT NULL,
    position     integer      NOT NULL,
    step_key     varchar(100) NOT NULL,
    attempt      integer      NOT NULL DEFAULT 1,
    status       varchar(20)  NOT NULL DEFAULT 'pending',
    input        jsonb,
    output       jsonb,
    error        text,
    started_at   timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT execution_steps_pkey PRIMARY KEY (id),
    CONSTRAINT execution_steps_execution_id_fkey FOREIGN KEY (execution_id)
        REFERENCES workflow.executions (id) ON DELETE CASCADE,
    CONSTRAINT execution_steps_execution_id_position_attempt_key
        UNIQUE (execution_id, position, attempt),
    CONSTRAINT execution_steps_status_valid
        CHECK (status::text IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    CONSTRAINT execution_steps_position_not_negative CHECK (position >= 0),
    CONSTRAINT execution_steps_attempt_positive CHECK (attempt > 0),
    CONSTRAINT execution_steps_finished_after_start
        CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS workflow.execution_steps;
DROP INDEX IF EXISTS workflow.idx_executions_active;
DROP INDEX IF EXISTS workflow.idx_executions_started_by;
DROP INDEX IF EXISTS workflow.idx_executions_definition_id_created_at;
DROP TABLE IF EXISTS workflow.executions;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
