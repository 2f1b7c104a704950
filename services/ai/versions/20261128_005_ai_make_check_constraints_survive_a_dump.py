"""Make ai's check constraints and partial index survive a dump

Migration: make check constraints survive a dump
Service: ai-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Why and how: see auth's 20261128_001 (the `::text IN` form survives a dump).

Replaces models_status_valid, datasets_format_valid, training_runs_status_valid,
training_runs_started_when_running, training_runs_finished_when_done,
deployments_environment_valid, deployments_status_valid and predictions_status_valid,
and rebuilds the partial index idx_training_runs_active (CREATE INDEX CONCURRENTLY
under a temporary name, DROP INDEX CONCURRENTLY of the old one, rename).

Each check is dropped and added again in one ALTER TABLE (the table is never without it),
NOT VALID so that the ALTER does not scan the table. The ALTERs commit before the
CONCURRENTLY statements of the index rebuild and the VALIDATE CONSTRAINT statements, which the
tool runs outside the revision's transaction: the scans hold only SHARE UPDATE EXCLUSIVE,
which lets reads and writes go on.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_005"
down_revision = "20240415_003"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
    "renaming-object": "the rebuilt index takes back the name of the one it replaces",
}

UPGRADE = """
ALTER TABLE ai.models
    DROP CONSTRAINT IF EXISTS models_status_valid,
    ADD CONSTRAINT models_status_valid
        CHECK (status::text IN ('draft', 'training', 'ready', 'retired')) NOT VALID;

ALTER TABLE ai.datasets
    DROP CONSTRAINT IF EXISTS datasets_format_valid,
    ADD CONSTRAINT datasets_format_valid
        CHECK (format::text IN ('csv', 'jsonl', 'parquet', 'text', 'images')) NOT VALID;

ALTER TABLE ai.training_runs
    DROP CONSTRAINT IF EXISTS training_runs_status_valid,
    ADD CONSTRAINT training_runs_status_valid
        CHECK (status::text IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')) NOT VALID;

ALTER TABLE ai.training_runs
    DROP CONSTRAINT IF EXISTS training_runs_started_when_running,
    ADD CONSTRAINT training_runs_started_when_running
        CHECK (status::text NOT IN ('running', 'succeeded') OR started_at IS NOT NULL) NOT VALID;

ALTER TABLE ai.training_runs
    DROP CONSTRAINT IF EXISTS training_runs_finished_when_done,
    ADD CONSTRAINT training_runs_finished_when_done
        CHECK (status::text NOT IN ('succeeded', 'failed', 'cancelled') OR finished_at IS NOT NULL) NOT VALID;

ALTER TABLE ai.deployments
    DROP CONSTRAINT IF EXISTS deployments_environment_valid,
    ADD CONSTRAINT deployments_environment_valid
        CHECK (environment::text IN ('development', 'staging', 'production')) NOT VALID;

ALTER TABLE ai.deployments
    DROP CONSTRAINT IF EXISTS deployments_status_valid,
    ADD CONSTRAINT deployments_status_valid
        CHECK (status::text IN ('pending', 'active', 'paused', 'failed', 'retired')) NOT VALID;

ALTER TABLE ai.predictions
    DROP CONSTRAINT IF EXISTS predictions_status_valid,
    ADD CONSTRAINT predictions_status_valid
        CHECK (status::text IN ('succeeded', 'failed')) NOT VALID;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_training_runs_active_new ON ai.training_runs (created_at)
    WHERE status::text IN ('queued', 'running');
DROP INDEX CONCURRENTLY IF EXISTS ai.idx_training_runs_active;
ALTER INDEX IF EXISTS ai.idx_training_runs_active_new RENAME TO idx_training_runs_active;

-- After the CONCURRENTLY statements: the ALTERs above have committed by now.
ALTER TABLE ai.models VALIDATE CONSTRAINT models_status_valid;
ALTER TABLE ai.datasets VALIDATE CONSTRAINT datasets_format_valid;
ALTER TABLE ai.training_runs VALIDATE CONSTRAINT training_runs_status_valid;
ALTER TABLE ai.training_runs VALIDATE CONSTRAINT training_runs_started_when_running;
ALTER TABLE ai.training_runs VALIDATE CONSTRAINT training_runs_finished_when_done;
ALTER TABLE ai.deployments VALIDATE CONSTRAINT deployments_environment_valid;
ALTER TABLE ai.deployments VALIDATE CONSTRAINT deployments_status_valid;
ALTER TABLE ai.predictions VALIDATE CONSTRAINT predictions_status_valid;
"""

DOWNGRADE = """
ALTER TABLE ai.models
    DROP CONSTRAINT IF EXISTS models_status_valid,
    ADD CONSTRAINT models_status_valid
        CHECK (status IN ('draft', 'training', 'ready', 'retired')) NOT VALID;

ALTER TABLE ai.datasets
    DROP CONSTRAINT IF EXISTS datasets_format_valid,
    ADD CONSTRAINT datasets_format_valid
        CHECK (format IN ('csv', 'jsonl', 'parquet', 'text', 'images')) NOT VALID;

ALTER TABLE ai.training_runs
    DROP CONSTRAINT IF EXISTS training_runs_status_valid,
    ADD CONSTRAINT training_runs_status_valid
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')) NOT VALID;

ALTER TABLE ai.training_runs
    DROP CONSTRAINT IF EXISTS training_runs_started_when_running,
    ADD CONSTRAINT training_runs_started_when_running
        CHECK (status NOT IN ('running', 'succeeded') OR started_at IS NOT NULL) NOT VALID;

ALTER TABLE ai.training_runs
    DROP CONSTRAINT IF EXISTS training_runs_finished_when_done,
    ADD CONSTRAINT training_runs_finished_when_done
        CHECK (status NOT IN ('succeeded', 'failed', 'cancelled') OR finished_at IS NOT NULL) NOT VALID;

ALTER TABLE ai.deployments
    DROP CONSTRAINT IF EXISTS deployments_environment_valid,
    ADD CONSTRAINT deployments_environment_valid
        CHECK (environment IN ('development', 'staging', 'production')) NOT VALID;

ALTER TABLE ai.deployments
    DROP CONSTRAINT IF EXISTS deployments_status_valid,
    ADD CONSTRAINT deployments_status_valid
        CHECK (status IN ('pending', 'active', 'paused', 'failed', 'retired')) NOT VALID;

ALTER TABLE ai.predictions
    DROP CONSTRAINT IF EXISTS predictions_status_valid,
    ADD CONSTRAINT predictions_status_valid
        CHECK (status IN ('succeeded', 'failed')) NOT VALID;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_training_runs_active_new ON ai.training_runs (created_at)
    WHERE status IN ('queued', 'running');
DROP INDEX CONCURRENTLY IF EXISTS ai.idx_training_runs_active;
ALTER INDEX IF EXISTS ai.idx_training_runs_active_new RENAME TO idx_training_runs_active;

-- After the CONCURRENTLY statements: the ALTERs above have committed by now.
ALTER TABLE ai.models VALIDATE CONSTRAINT models_status_valid;
ALTER TABLE ai.datasets VALIDATE CONSTRAINT datasets_format_valid;
ALTER TABLE ai.training_runs VALIDATE CONSTRAINT training_runs_status_valid;
ALTER TABLE ai.training_runs VALIDATE CONSTRAINT training_runs_started_when_running;
ALTER TABLE ai.training_runs VALIDATE CONSTRAINT training_runs_finished_when_done;
ALTER TABLE ai.deployments VALIDATE CONSTRAINT deployments_environment_valid;
ALTER TABLE ai.deployments VALIDATE CONSTRAINT deployments_status_valid;
ALTER TABLE ai.predictions VALIDATE CONSTRAINT predictions_status_valid;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
