"""Create workflow definitions

Migration: create workflow definitions
Service: workflow-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20240101_007"
down_revision = None
branch_labels = ("workflow",)
depends_on = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS workflow;

CREATE TABLE IF NOT EXISTS workflow.definitions (
    id          uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(150) NOT NULL,
    version     integer      NOT NULL DEFAULT 1,
    definition  jsonb        NOT NULL,
    is_active   boolean      NOT NULL DEFAULT true,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT definitions_name_version_key UNIQUE (name, version),
    CONSTRAINT definitions_version_positive CHECK (version > 0),
    CONSTRAINT definitions_definition_is_object CHECK (jsonb_typeof(definition) = 'object')
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS workflow.definitions;
DROP SCHEMA IF EXISTS workflow;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
