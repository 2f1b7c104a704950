"""Create ai models

Migration: create ai models
Service: ai-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20240101_006"
down_revision = None
branch_labels = ("ai",)
depends_on = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS ai;

CREATE TABLE IF NOT EXISTS ai.models (
    id         uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    name       varchar(100) NOT NULL,
    provider   varchar(50)  NOT NULL,
    version    varchar(50)  NOT NULL,
    status     varchar(20)  NOT NULL DEFAULT 'draft',
    parameters jsonb        NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz  NOT NULL DEFAULT now(),
    updated_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT models_name_version_key UNIQUE (name, version),
    CONSTRAINT models_status_valid CHECK (status IN ('draft', 'training', 'ready', 'retired'))
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS ai.models;
DROP SCHEMA IF EXISTS ai;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
