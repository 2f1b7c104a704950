"""Create user profiles and preferences

Migration: create user profiles and preferences
Service: user-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: ["20240101_001"]
"""

from migrator.revision import run_sql

revision = "20240101_002"
down_revision = None
branch_labels = ("user",)
depends_on = ("20240101_001",)

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS "user";

CREATE TABLE IF NOT EXISTS "user".profiles (
    user_id      uuid         PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    display_name varchar(120) NOT NULL,
    locale       varchar(16)  NOT NULL DEFAULT 'en-US',
    timezone     varchar(64)  NOT NULL DEFAULT 'UTC',
    avatar_url   text,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT profiles_display_name_not_blank CHECK (length(btrim(display_name)) > 0)
);

CREATE TABLE IF NOT EXISTS "user".preferences (
    user_id    uuid         NOT NULL REFERENCES "user".profiles (user_id) ON DELETE CASCADE,
    key        varchar(100) NOT NULL,
    value      jsonb        NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS "user".preferences;
DROP TABLE IF EXISTS "user".profiles;
DROP SCHEMA IF EXISTS "user";
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
