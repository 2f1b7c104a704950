"""The ai service's schema, as SQLAlchemy tables (what autogenerate and drift compare with)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
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

models = Table(
    "models",
    metadata,
    uuid_id(),
    Column("name", String(100), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("version", String(50), nullable=False),
    Column("status", String(20), nullable=False, server_default=text("'draft'")),
    Column("parameters", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="models_pkey"),
    UniqueConstraint("name", "version", name="models_name_version_key"),
    CheckConstraint(
        "status IN ('draft', 'training', 'ready', 'retired')", name="models_status_valid"
    ),
    schema="ai",
)

datasets = Table(
    "datasets",
    metadata,
    uuid_id(),
    Column("name", String(150), nullable=False),
    Column("version", String(50), nullable=False),
    Column("description", Text),
    Column("source_uri", Text, nullable=False),
    Column("format", String(20), nullable=False, server_default=text("'jsonl'")),
    Column("row_count", BigInteger),
    Column("size_bytes", BigInteger),
    Column("checksum", String(64)),
    Column("feature_schema", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column(
        "owner_id",
        Uuid,
        ForeignKey("auth.users.id", name="datasets_owner_id_fkey", ondelete="SET NULL"),
    ),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="datasets_pkey"),
    UniqueConstraint("name", "version", name="datasets_name_version_key"),
    CheckConstraint(
        "format IN ('csv', 'jsonl', 'parquet', 'text', 'images')", name="datasets_format_valid"
    ),
    CheckConstraint("row_count >= 0", name="datasets_row_count_non_negative"),
    CheckConstraint("size_bytes >= 0", name="datasets_size_bytes_non_negative"),
    CheckConstraint("checksum ~ '^[0-9a-f]{64}$'", name="datasets_checksum_sha256"),
    CheckConstraint(
        "jsonb_typeof(feature_schema) = 'object'", name="datasets_feature_schema_is_object"
    ),
    schema="ai",
)
Index("idx_datasets_owner_id", datasets.c.owner_id)

training_runs = Table(
    "training_runs",
    metadata,
    uuid_id(),
    Column(
        "model_id",
        Uuid,
        ForeignKey("ai.models.id", name="training_runs_model_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "dataset_id",
        Uuid,
        ForeignKey("ai.datasets.id", name="training_runs_dataset_id_fkey", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column(
        "triggered_by",
        Uuid,
        ForeignKey("auth.users.id", name="training_runs_triggered_by_fkey", ondelete="SET NULL"),
    ),
    Column("status", String(20), nullable=False, server_default=text("'queued'")),
    Column("hyperparameters", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("metrics", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error_message", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="training_runs_pkey"),
    CheckConstraint(
        "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
        name="training_runs_status_valid",
    ),
    CheckConstraint(
        "jsonb_typeof(hyperparameters) = 'object'", name="training_runs_hyperparameters_is_object"
    ),
    CheckConstraint("jsonb_typeof(metrics) = 'object'", name="training_runs_metrics_is_object"),
    CheckConstraint(
        "status NOT IN ('running', 'succeeded') OR started_at IS NOT NULL",
        name="training_runs_started_when_running",
    ),
    CheckConstraint(
        "status NOT IN ('succeeded', 'failed', 'cancelled') OR finished_at IS NOT NULL",
        name="training_runs_finished_when_done",
    ),
    CheckConstraint("finished_at >= started_at", name="training_runs_finished_after_started"),
    schema="ai",
)
Index("idx_training_runs_model_id", training_runs.c.model_id, training_runs.c.created_at)
Index("idx_training_runs_dataset_id", training_runs.c.dataset_id)
Index("idx_training_runs_triggered_by", training_runs.c.triggered_by)
Index(
    "idx_training_runs_active",
    training_runs.c.created_at,
    postgresql_where=text("status IN ('queued', 'running')"),
)

evaluations = Table(
    "evaluations",
    metadata,
    uuid_id(),
    Column(
        "training_run_id",
        Uuid,
        ForeignKey(
            "ai.training_runs.id", name="evaluations_training_run_id_fkey", ondelete="CASCADE"
        ),
        nullable=False,
    ),
    Column(
        "dataset_id",
        Uuid,
        ForeignKey("ai.datasets.id", name="evaluations_dataset_id_fkey", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("metric", String(50), nullable=False),
    Column("value", Double, nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    timestamp("evaluated_at"),
    timestamp("created_at"),
    PrimaryKeyConstraint("id", name="evaluations_pkey"),
    UniqueConstraint(
        "training_run_id", "dataset_id", "metric", name="evaluations_run_dataset_metric_key"
    ),
    CheckConstraint("metric ~ '^[a-z][a-z0-9_@.]*$'", name="evaluations_metric_format"),
    CheckConstraint("jsonb_typeof(details) = 'object'", name="evaluations_details_is_object"),
    schema="ai",
)
Index("idx_evaluations_dataset_id_metric", evaluations.c.dataset_id, evaluations.c.metric)

deployments = Table(
    "deployments",
    metadata,
    uuid_id(),
    Column(
        "model_id",
        Uuid,
        ForeignKey("ai.models.id", name="deployments_model_id_fkey", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column(
        "training_run_id",
        Uuid,
        ForeignKey(
            "ai.training_runs.id", name="deployments_training_run_id_fkey", ondelete="SET NULL"
        ),
    ),
    Column("environment", String(20), nullable=False),
    Column("status", String(20), nullable=False, server_default=text("'pending'")),
    Column("endpoint_url", Text),
    Column("replicas", Integer, nullable=False, server_default=text("1")),
    Column("traffic_percent", Numeric(5, 2), nullable=False, server_default=text("100")),
    Column("config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column(
        "deployed_by",
        Uuid,
        ForeignKey("auth.users.id", name="deployments_deployed_by_fkey", ondelete="SET NULL"),
    ),
    Column("deployed_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="deployments_pkey"),
    CheckConstraint(
        "environment IN ('development', 'staging', 'production')",
        name="deployments_environment_valid",
    ),
    CheckConstraint(
        "status IN ('pending', 'active', 'paused', 'failed', 'retired')",
        name="deployments_status_valid",
    ),
    CheckConstraint("replicas >= 0", name="deployments_replicas_non_negative"),
    CheckConstraint("traffic_percent BETWEEN 0 AND 100", name="deployments_traffic_percent_range"),
    CheckConstraint("jsonb_typeof(config) = 'object'", name="deployments_config_is_object"),
    CheckConstraint(
        "status <> 'active' OR deployed_at IS NOT NULL", name="deployments_active_was_deployed"
    ),
    CheckConstraint("retired_at >= deployed_at", name="deployments_retired_after_deployed"),
    schema="ai",
)
Index("idx_deployments_model_id_environment", deployments.c.model_id, deployments.c.environment)
Index(
    "uq_deployments_model_id_environment_active",
    deployments.c.model_id,
    deployments.c.environment,
    unique=True,
    postgresql_where=text("status = 'active'"),
)
Index("idx_deployments_training_run_id", deployments.c.training_run_id)
Index("idx_deployments_deployed_by", deployments.c.deployed_by)

predictions = Table(
    "predictions",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column(
        "deployment_id",
        Uuid,
        ForeignKey("ai.deployments.id", name="predictions_deployment_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "requested_by",
        Uuid,
        ForeignKey("auth.users.id", name="predictions_requested_by_fkey", ondelete="SET NULL"),
    ),
    Column("status", String(20), nullable=False, server_default=text("'succeeded'")),
    Column("request", JSONB, nullable=False),
    Column("response", JSONB),
    Column("error_message", Text),
    Column("latency_ms", Integer),
    timestamp("created_at"),
    PrimaryKeyConstraint("id", name="predictions_pkey"),
    CheckConstraint("status IN ('succeeded', 'failed')", name="predictions_status_valid"),
    CheckConstraint(
        "status <> 'succeeded' OR response IS NOT NULL",
        name="predictions_response_when_succeeded",
    ),
    CheckConstraint("latency_ms >= 0", name="predictions_latency_ms_non_negative"),
    schema="ai",
)
Index(
    "idx_predictions_deployment_id_created_at",
    predictions.c.deployment_id,
    predictions.c.created_at,
)
Index("idx_predictions_requested_by", predictions.c.requested_by)
