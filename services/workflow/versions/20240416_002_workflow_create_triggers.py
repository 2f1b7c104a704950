"""Create workflow triggers

Migration: create workflow triggers
Service: workflow-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-16
Dependencies: ["20240101_001"]

What starts a workflow: a platform event, a cron schedule, a webhook, or a person. Schedules
need a cron expression and events an event type, which the checks enforce. Executions record
the trigger that started them (kept when the trigger is deleted, as history). The scheduler
reads the enabled schedules by next run and the event bus the enabled event triggers by type,
each through a partial index.
"""

from migrator.revision import run_sql

revision = "20240416_002"
down_revision = "20240416_001"
branch_labels = ()
depends_on = ("20240101_001",)

UPGRADE = """
-- Value lists compare as text (`status::text IN (...)`): PostgreSQL's rendering of a
-- varchar `IN` list reads back differently, so pg_dump and restore would alter it.
CREATE TABLE IF NOT EXISTS workflow.triggers (
    id              uuid         NOT NULL DEFAULT gen_random_uuid(),
    definition_id   uuid         NOT NULL,
    created_by      uuid,
    kind            varchar(20)  NOT NULL,
    event_type      varchar(150),
    cron_expression varchar(120),
    timezone        varchar(64)  NOT NULL DEFAULT 'UTC',
    config          jsonb        NOT NULL DEFAULT '{}'::jsonb,
    is_enabled      boolean      NOT NULL DEFAULT true,
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT triggers_pkey PRIMARY KEY (id),
    CONSTRAINT triggers_definition_id_fkey FOREIGN KEY (definition_id)
        REFERENCES workflow.definitions (id) ON DELETE CASCADE,
    CONSTRAINT triggers_created_by_fkey FOREIGN KEY (created_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT triggers_kind_valid CHECK (kind::text IN ('event', 'schedule', 'webhook', 'manual')),
    CONSTRAINT triggers_schedule_has_cron CHECK (kind <> 'schedule' OR cron_expression IS NOT NULL),
    CONSTRAINT triggers_event_has_type CHECK (kind <> 'event' OR event_type IS NOT NULL),
    CONSTRAINT triggers_config_is_object CHECK (jsonb_typeof(config) = 'object')
);

CREATE INDEX IF NOT EXISTS idx_triggers_definition_id ON workflow.triggers (definition_id);
CREATE INDEX IF NOT EXISTS idx_triggers_created_by ON workflow.triggers (created_by);
CREATE INDEX IF NOT EXISTS idx_triggers_enabled_event_type
    ON workflow.triggers (event_type) WHERE is_enabled AND kind = 'event';
CREATE INDEX IF NOT EXISTS idx_triggers_enabled_next_run_at
    ON workflow.triggers (next_run_at) WHERE is_enabled AND kind = 'schedule';

ALTER TABLE workflow.executions ADD COLUMN IF NOT EXISTS trigger_id uuid;
-- executions is a busy table by now: the foreign key is added NOT VALID (no scan under the
-- lock) and validated apart, and its index is built without blocking writes.
ALTER TABLE workflow.executions
    ADD CONSTRAINT executions_trigger_id_fkey FOREIGN KEY (trigger_id)
    REFERENCES workflow.triggers (id) ON DELETE SET NULL NOT VALID;
ALTER TABLE workflow.executions VALIDATE CONSTRAINT executions_trigger_id_fkey;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_executions_trigger_id
    ON workflow.executions (trigger_id);
"""

DOWNGRADE = """
DROP INDEX CONCURRENTLY IF EXISTS workflow.idx_executions_trigger_id;
ALTER TABLE workflow.executions DROP CONSTRAINT IF EXISTS executions_trigger_id_fkey;
ALTER TABLE workflow.executions DROP COLUMN IF EXISTS trigger_id;
DROP INDEX IF EXISTS workflow.idx_triggers_enabled_next_run_at;
DROP INDEX IF EXISTS workflow.idx_triggers_enabled_event_type;
DROP INDEX IF EXISTS workflow.idx_triggers_created_by;
DROP INDEX IF EXISTS workflow.idx_triggers_definition_id;
DROP TABLE IF EXISTS workflow.triggers;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
