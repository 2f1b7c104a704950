"""Create users table

Migration: create users table
Service: auth-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20240101_001"
down_revision = None
branch_labels = ("auth",)
depends_on = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.users (
    id            uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    email         varchar(255) NOT NULL,
    password_hash text         NOT NULL,
    is_active     boolean      NOT NULL DEFAULT true,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_format CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$')
);

-- Logins look users up case-insensitively; built without blocking writes to the table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower ON auth.users (lower(email));
"""

DOWNGRADE = """
DROP INDEX CONCURRENTLY IF EXISTS auth.idx_users_email_lower;
DROP TABLE IF EXISTS auth.users;
DROP SCHEMA IF EXISTS auth;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
