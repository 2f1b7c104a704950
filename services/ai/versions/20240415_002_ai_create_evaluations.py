"""Create ai evaluations

Migration: create ai evaluations
Service: ai-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-15
Dependencies: []

What a training run produced is judged on held-out data: one row per metric of a run measured
on a dataset (accuracy, f1, loss, ...), so metrics can be compared across runs with plain SQL
and a run measured twice on the same dataset is refused. The dataset reference is RESTRICT like
the training run's: evaluation data must not vanish under the numbers it produced.
"""

from migrator.revision import run_sql

revision = "20240415_002"
down_revision = "20240415_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS ai.evaluations (
    id              uuid             NOT NULL DEFAULT gen_random_uuid(),
    training_run_id uuid             NOT NULL,
    dataset_id      uuid             NOT NULL,
    metric          varchar(50)      NOT NULL,
    value           double precision NOT NULL,
    details         jsonb            NOT NULL DEFAULT '{}'::jsonb,
    evaluated_at    timestamptz      NOT NULL DEFAULT now(),
    created_at      timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT evaluations_pkey PRIMARY KEY (id),
    CONSTRAINT evaluations_run_dataset_metric_key UNIQUE (training_run_id, dataset_id, metric),
    CONSTRAINT evaluations_training_run_id_fkey FOREIGN KEY (training_run_id)
        REFERENCES ai.training_runs (id) ON DELETE CASCADE,
    CONSTRAINT evaluations_dataset_id_fkey FOREIGN KEY (dataset_id)
        REFERENCES ai.datasets (id) ON DELETE RESTRICT,
    CONSTRAINT evaluations_metric_format CHECK (metric ~ '^[a-z][a-z0-9_@.]*$'),
    CONSTRAINT evaluations_details_is_object CHECK (jsonb_typeof(details) = 'object')
);

CREATE INDEX IF NOT EXISTS idx_evaluations_dataset_id_metric ON ai.evaluations (dataset_id, metric);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS ai.idx_evaluations_dataset_id_metric;
DROP TABLE IF EXISTS ai.evaluations;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
