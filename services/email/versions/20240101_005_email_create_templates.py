"""Create email templates

Migration: create email templates
Service: email-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20240101_005"
down_revision = None
branch_labels = ("email",)
depends_on = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS email;

CREATE TABLE IF NOT EXISTS email.templates (
    id         uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    name       varchar(100) NOT NULL,
    locale     varchar(16)  NOT NULL DEFAULT 'en-US',
    subject    varchar(255) NOT NULL,
    body_html  text         NOT NULL,
    body_text  text,
    version    integer      NOT NULL DEFAULT 1,
    created_at timestamptz  NOT NULL DEFAULT now(),
    updated_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT templates_name_locale_version_key UNIQUE (name, locale, version),
    CONSTRAINT templates_version_positive CHECK (version > 0)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS email.templates;
DROP SCHEMA IF EXISTS email;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
