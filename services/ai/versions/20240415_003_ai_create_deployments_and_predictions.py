"""Create ai deployments and predictions

Migration: create ai deployments and predictions
Service: ai-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-15
Dependencies: []

A ready model serves traffic through deployments, one per environment it runs in; a partial
unique index lets a model have any number of past deployments in an environment but only one
active one. Predictions are the append-only inference log of a deployment (bigint identity
keys, no updated_at) for auditing, latency tracking and building the next dataset. The
references to auth.users rely on 20240415_001's dependency on auth.
"""

from migrator.revision import run_sql

revision = "20240415_003"
down_revision = "20240415_002"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS ai.deployments (
    id              uuid         NOT NULL DEFAULT gen_random_uuid(),
    model_id        uuid         NOT NULL,
    training_run_id uuid,
    environment     varchar(20)  NOT NULL,
    status          varchar(20)  NOT NULL DEFAULT 'pending',
    endpoint_url    text,
    replicas        integer      NOT NULL DEFAULT 1,
    traffic_percent numeric(5,2) NOT NULL DEFAULT 100,
    config          jsonb        NOT NULL DEFAULT '{}'::jsonb,
    deployed_by     uuid,
    deployed_at     timestamptz,
    retired_at      timestamptz,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT deployments_pkey PRIMARY KEY (id),
    CONSTRAINT deployments_model_id_fkey FOREIGN KEY (model_id)
        REFERENCES ai.models (id) ON DELETE RESTRICT,
    CONSTRAINT deployments_training_run_id_fkey FOREIGN KEY (training_run_id)
        REFERENCES ai.training_runs (id) ON DELETE SET NULL,
    CONSTRAINT deployments_deployed_by_fkey FOREIGN KEY (deployed_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT deployments_environment_valid
        CHECK (environment IN ('development', 'staging', 'production')),
    CONSTRAINT deployments_status_valid
        CHECK (status IN ('pending', 'active', 'paused', 'failed', 'retired')),
    CONSTRAINT deployments_replicas_non_negative CHECK (replicas >= 0),
    CONSTRAINT deployments_traffic_percent_range CHECK (traffic_percent BETWEEN 0 AND 100),
    CONSTRAINT deployments_config_is_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT deployments_active_was_deployed CHECK (status <> 'active' OR deployed_at IS NOT NULL),
    CONSTRAINT deployments_retired_after_deployed CHECK (retired_at >= deployed_at)
);

CREATE INDEX IF NOT EXISTS idx_deployments_model_id_environment
    ON ai.deployments (model_id, environment);
CREATE UNIQUE INDEX IF NOT EXISTS uq_deployments_model_id_environment_active
    ON ai.deployments (model_id, environment) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS idx_deployments_training_run_id ON ai.deployments (training_run_id);
CREATE INDEX IF NOT EXISTS idx_deployments_deployed_by ON ai.deployments (deployed_by);

CREATE TABLE IF NOT EXISTS ai.predictions (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    deployment_id uuid        NOT NULL,
    requested_by  uuid,
    status        varchar(20) NOT NULL DEFAULT 'succeeded',
    request       jsonb       NOT NULL,
    response      jsonb,
    error_message text,
    latency_ms    integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT predictions_pkey PRIMARY KEY (id),
    CONSTRAINT predictions_deployment_id_fkey FOREIGN KEY (deployment_id)
        REFERENCES ai.deployments (id) ON DELETE CASCADE,
    CONSTRAINT predictions_requested_by_fkey FOREIGN KEY (requested_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT predictions_status_valid CHECK (status IN ('succeeded', 'failed')),
    CONSTRAINT predictions_response_when_succeeded
        CHECK (status <> 'succeeded' OR response IS NOT NULL),
    CONSTRAINT predictions_latency_ms_non_negative CHECK (latency_ms >= 0)
);

CREATE INDEX IF NOT EXISTS idx_predictions_deployment_id_created_at
    ON ai.predictions (deployment_id, created_at);
CREATE INDEX IF NOT EXISTS idx_predictions_requested_by ON ai.predictions (requested_by);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS ai.idx_predictions_requested_by;
DROP INDEX IF EXISTS ai.idx_predictions_deployment_id_created_at;
DROP TABLE IF EXISTS ai.predictions;
DROP INDEX IF EXISTS ai.idx_deployments_deployed_by;
DROP INDEX IF EXISTS ai.idx_deployments_training_run_id;
DROP INDEX IF EXISTS ai.uq_deployments_model_id_environment_active;
DROP INDEX IF EXISTS ai.idx_deployments_model_id_environment;
DROP TABLE IF EXISTS ai.deployments;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
