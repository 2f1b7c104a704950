"""Create ai datasets and training runs

Migration: create ai datasets and training runs
Service: ai-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-15
Dependencies: ["20240101_001"]

A model is only as good as the data it was trained on, so datasets become versioned rows of
their own (name and version unique, content pinned by a checksum) and every training run records
which model it trains on which dataset, with what hyperparameters, and how it ended. Owners and
the users who start runs are auth users; the references go NULL when a user is deleted, so the
lineage of a model outlives the people who built it.
"""

from migrator.revision import run_sql

revision = "20240415_001"
down_revision = "20240101_006"
branch_labels = ()
depends_on = ("20240101_001",)

UPGRADE = """
CREATE TABLE IF NOT EXISTS ai.datasets (
    id             uuid         NOT NULL DEFAULT gen_random_uuid(),
    name           varchar(150) NOT NULL,
    version        varchar(50)  NOT NULL,
    description    text,
    source_uri     text         NOT NULL,
    format         varchar(20)  NOT NULL DEFAULT 'jsonl',
    row_count      bigint,
    size_bytes     bigint,
    checksum       varchar(64),
    feature_schema jsonb        NOT NULL DEFAULT '{}'::jsonb,
    owner_id       uuid,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT datasets_pkey PRIMARY KEY (id),
    CONSTRAINT datasets_name_version_key UNIQUE (name, version),
    CONSTRAINT datasets_owner_id_fkey FOREIGN KEY (owner_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT datasets_format_valid
        CHECK (format IN ('csv', 'jsonl', 'parquet', 'text', 'images')),
    CONSTRAINT datasets_row_count_non_negative CHECK (row_count >= 0),
    CONSTRAINT datasets_size_bytes_non_negative CHECK (size_bytes >= 0),
    CONSTRAINT datasets_checksum_sha256 CHECK (checksum ~ '^[0-9a-f]{64}$'),
    CONSTRAINT datasets_feature_schema_is_object CHECK (jsonb_typeof(feature_schema) = 'object')
);

CREATE INDEX IF NOT EXISTS idx_datasets_owner_id ON ai.datasets (owner_id);

CREATE TABLE IF NOT EXISTS ai.training_runs (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    model_id        uuid        NOT NULL,
    dataset_id      uuid        NOT NULL,
    triggered_by    uuid,
    status          varchar(20) NOT NULL DEFAULT 'queued',
    hyperparameters jsonb       NOT NULL DEFAULT '{}'::jsonb,
    metrics         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error_message   text,
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT training_runs_pkey PRIMARY KEY (id),
    CONSTRAINT training_runs_model_id_fkey FOREIGN KEY (model_id)
        REFERENCES ai.models (id) ON DELETE CASCADE,
    CONSTRAINT training_runs_dataset_id_fkey FOREIGN KEY (dataset_id)
        REFERENCES ai.datasets (id) ON DELETE RESTRICT,
    CONSTRAINT training_runs_triggered_by_fkey FOREIGN KEY (triggered_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT training_runs_status_valid
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT training_runs_hyperparameters_is_object
        CHECK (jsonb_typeof(hyperparameters) = 'object'),
    CONSTRAINT training_runs_metrics_is_object CHECK (jsonb_typeof(metrics) = 'object'),
    CONSTRAINT training_runs_started_when_running
        CHECK (status NOT IN ('running', 'succeeded') OR started_at IS NOT NULL),
    CONSTRAINT training_runs_finished_when_done
        CHECK (status NOT IN ('succeeded', 'failed', 'cancelled') OR finished_at IS NOT NULL),
    CONSTRAINT training_runs_finished_after_started
        CHECK (finished_at >= started_at)
);

CREATE INDEX IF NOT EXISTS idx_training_runs_model_id ON ai.training_runs (model_id, created_at);
CREATE INDEX IF NOT EXISTS idx_training_runs_dataset_id ON ai.training_runs (dataset_id);
CREATE INDEX IF NOT EXISTS idx_training_runs_triggered_by ON ai.training_runs (triggered_by);
CREATE INDEX IF NOT EXISTS idx_training_runs_active ON ai.training_runs (created_at)
    WHERE status IN ('queued', 'running');
"""

DOWNGRADE = """
DROP INDEX IF EXISTS ai.idx_training_runs_active;
DROP INDEX IF EXISTS ai.idx_training_runs_triggered_by;
DROP INDEX IF EXISTS ai.idx_training_runs_dataset_id;
DROP INDEX IF EXISTS ai.idx_training_runs_model_id;
DROP TABLE IF EXISTS ai.training_runs;
DROP INDEX IF EXISTS ai.idx_datasets_owner_id;
DROP TABLE IF EXISTS ai.datasets;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
