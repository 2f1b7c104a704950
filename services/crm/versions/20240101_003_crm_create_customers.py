"""Create crm customers

Migration: create crm customers
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: ["20240101_001", "20240101_002"]
"""

from migrator.revision import run_sql

revision = "20240101_003"
down_revision = None
branch_labels = ("crm",)
depends_on = ("20240101_001", "20240101_002")

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS crm;

CREATE TABLE IF NOT EXISTS crm.customers (
    id          uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid         NOT NULL REFERENCES auth.users (id),
    assigned_to uuid         REFERENCES "user".profiles (user_id) ON DELETE SET NULL,
    name        varchar(200) NOT NULL,
    email       varchar(255),
    phone       varchar(40),
    status      varchar(20)  NOT NULL DEFAULT 'lead',
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT customers_status_valid CHECK (status IN ('lead', 'prospect', 'customer', 'churned')),
    CONSTRAINT customers_owner_email_key UNIQUE (owner_id, email)
);

CREATE INDEX IF NOT EXISTS idx_customers_assigned_to ON crm.customers (assigned_to);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS crm.customers;
DROP SCHEMA IF EXISTS crm;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
