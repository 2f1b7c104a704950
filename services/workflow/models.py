"""The workflow service's schema, as SQLAlchemy tables (what autogenerate and drift compare
with)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

definitions = Table(
    "definitions",
    metadata,
    uuid_id(),
    Column("name", String(150), nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("definition", JSONB, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="definitions_pkey"),
    UniqueConstraint("name", "version", name="definitions_name_version_key"),
    CheckConstraint("version > 0", name="definitions_version_positive"),
    CheckConstraint("jsonb_typeof(definition) = 'object'", name="definitions_definition_is_object"),
    schema="workflow",
)

triggers = Table(
    "triggers",
    metadata,
    uuid_id(),
    Column("definition_id", Uuid, nullable=False),
    Column("created_by", Uuid),
    Column("kind", String(20), nullable=False),
    Column("event_type", String(150)),
    Column("cron_expression", String(120)),
    Column("timezone", String(64), nullable=False, server_default=text("'UTC'")),
    Column("config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("is_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("next_run_at", DateTime(timezone=True)),
    Column("last_run_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="triggers_pkey"),
    ForeignKeyConstraint(
        ["definition_id"],
        ["workflow.definitions.id"],
        name="triggers_definition_id_fkey",
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["created_by"], ["auth.users.id"], name="triggers_created_by_fkey", ondelete="SET NULL"
    ),
    CheckConstraint(
        "kind::text IN ('event', 'schedule', 'webhook', 'manual')", name="triggers_kind_valid"
    ),
    CheckConstraint(
        "kind <> 'schedule' OR cron_expression IS NOT NULL", name="triggers_schedule_has_cron"
    ),
    CheckConstraint("kind <> 'event' OR event_type IS NOT NULL", name="triggers_event_has_type"),
    CheckConstraint("jsonb_typeof(config) = 'object'", name="triggers_config_is_object"),
    schema="workflow",
)
Index("idx_triggers_definition_id", triggers.c.definition_id)
Index("idx_triggers_created_by", triggers.c.created_by)
Index(
    "idx_triggers_enabled_event_type",
    triggers.c.event_type,
    postgresql_where=text("is_enabled AND kind = 'event'"),
)
Index(
    "idx_triggers_enabled_next_run_at",
    triggers.c.next_run_at,
    postgresql_where=text("is_enabled AND kind = 'schedule'"),
)

executions = Table(
    "executions",
    metadata,
    uuid_id(),
    Column("definition_id", Uuid, nullable=False),
    Column("started_by", Uuid),
    Column("status", String(20), nullable=False, server_default=text("'pending'")),
    Column("input", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("output", JSONB),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    Column("trigger_id", Uuid),  # added by 20240416_002, with workflow.triggers
    PrimaryKeyConstraint("id", name="executions_pkey"),
    ForeignKeyConstraint(
        ["definition_id"], ["workflow.definitions.id"], name="executions_definition_id_fkey"
    ),
    ForeignKeyConstraint(
        ["started_by"], ["auth.users.id"], name="executions_started_by_fkey", ondelete="SET NULL"
    ),
    ForeignKeyConstraint(
        ["trigger_id"],
        ["workflow.triggers.id"],
        name="executions_trigger_id_fkey",
        ondelete="SET NULL",
    ),
    CheckConstraint(
        "status::text IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')",
        name="executions_status_valid",
    ),
    CheckConstraint("jsonb_typeof(input) = 'object'", name="executions_input_is_object"),
    CheckConstraint(
        "status::text IN ('pending', 'running') OR finished_at IS NOT NULL",
        name="executions_finished_unless_active",
    ),
    CheckConstraint(
        "finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
        name="executions_finished_after_start",
    ),
    schema="workflow",
)
Index(
    "idx_executions_definition_id_created_at",
    executions.c.definition_id,
    executions.c.created_at.desc(),
)
Index("idx_executions_started_by", executions.c.started_by)
Index(
    "idx_executions_active",
    executions.c.status,
    executions.c.created_at,
    postgresql_where=text("status::text IN ('pending', 'running')"),
)
Index("idx_executions_trigger_id", executions.c.trigger_id)

execution_steps = Table(
    "execution_steps",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column("execution_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),
    Column("step_key", String(100), nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("status", String(20), nullable=False, server_default=text("'pending'")),
    Column("input", JSONB),
    Column("output", JSONB),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="execution_steps_pkey"),
    ForeignKeyConstraint(
        ["execution_id"],
        ["workflow.executions.id"],
        name="execution_steps_execution_id_fkey",
        ondelete="CASCADE",
    ),
    UniqueConstraint(
        "execution_id",
        "position",
        "attempt",
        name="execution_steps_execution_id_position_attempt_key",
    ),
    CheckConstraint(
        "status::text IN ('pending', 'running', 'succeeded', 'failed', 'skipped')",
        name="execution_steps_status_valid",
    ),
    CheckConstraint("position >= 0", name="execution_steps_position_not_negative"),
    CheckConstraint("attempt > 0", name="execution_steps_attempt_positive"),
    CheckConstraint(
        "finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
        name="execution_steps_finished_after_start",
    ),
    schema="workflow",
)
