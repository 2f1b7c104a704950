"""Create security policies

Migration: create security policies
Service: inosec-core
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20240101_008"
down_revision = None
branch_labels = ("inosec_core",)
depends_on = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS inosec_core;

CREATE TABLE IF NOT EXISTS inosec_core.security_policies (
    id          uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(150) NOT NULL,
    description text,
    severity    varchar(10)  NOT NULL DEFAULT 'medium',
    rules       jsonb        NOT NULL DEFAULT '[]'::jsonb,
    is_enabled  boolean      NOT NULL DEFAULT true,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT security_policies_name_key UNIQUE (name),
    CONSTRAINT security_policies_severity_valid CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT security_policies_rules_is_array CHECK (jsonb_typeof(rules) = 'array')
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS inosec_core.security_policies;
DROP SCHEMA IF EXISTS inosec_core;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
