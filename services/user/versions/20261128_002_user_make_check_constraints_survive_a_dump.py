"""Make user's check constraints survive a dump

Migration: make check constraints survive a dump
Service: user-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Why and how: see auth's 20261128_001 (the `::text IN` form survives a dump).

Replaces team_members_role, addresses_kind, contact_methods_kind,
notification_settings_channel and notification_settings_frequency.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_002"
down_revision = "20240411_002"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
}

UPGRADE = """
ALTER TABLE "user".team_members
    DROP CONSTRAINT IF EXISTS team_members_role,
    ADD CONSTRAINT team_members_role
        CHECK (role::text IN ('owner', 'admin', 'member', 'viewer')) NOT VALID;

ALTER TABLE "user".addresses
    DROP CONSTRAINT IF EXISTS addresses_kind,
    ADD CONSTRAINT addresses_kind
        CHECK (kind::text IN ('postal', 'billing', 'shipping')) NOT VALID;

ALTER TABLE "user".contact_methods
    DROP CONSTRAINT IF EXISTS contact_methods_kind,
    ADD CONSTRAINT contact_methods_kind
        CHECK (kind::text IN ('email', 'phone', 'sms', 'slack', 'teams')) NOT VALID;

ALTER TABLE "user".notification_settings
    DROP CONSTRAINT IF EXISTS notification_settings_channel,
    ADD CONSTRAINT notification_settings_channel
        CHECK (channel::text IN ('email', 'sms', 'push', 'in_app')) NOT VALID;

ALTER TABLE "user".notification_settings
    DROP CONSTRAINT IF EXISTS notification_settings_frequency,
    ADD CONSTRAINT notification_settings_frequency
        CHECK (frequency::text IN ('immediate', 'hourly', 'daily', 'weekly')) NOT VALID;

ALTER TABLE "user".team_members VALIDATE CONSTRAINT team_members_role;
ALTER TABLE "user".addresses VALIDATE CONSTRAINT addresses_kind;
ALTER TABLE "user".contact_methods VALIDATE CONSTRAINT contact_methods_kind;
ALTER TABLE "user".notification_settings VALIDATE CONSTRAINT notification_settings_channel;
ALTER TABLE "user".notification_settings VALIDATE CONSTRAINT notification_settings_frequency;
"""

DOWNGRADE = """
ALTER TABLE "user".team_members
    DROP CONSTRAINT IF EXISTS team_members_role,
    ADD CONSTRAINT team_members_role
        CHECK (role IN ('owner', 'admin', 'member', 'viewer')) NOT VALID;

ALTER TABLE "user".addresses
    DROP CONSTRAINT IF EXISTS addresses_kind,
    ADD CONSTRAINT addresses_kind
        CHECK (kind IN ('postal', 'billing', 'shipping')) NOT VALID;

ALTER TABLE "user".contact_methods
    DROP CONSTRAINT IF EXISTS contact_methods_kind,
    ADD CONSTRAINT contact_methods_kind
        CHECK (kind IN ('email', 'phone', 'sms', 'slack', 'teams')) NOT VALID;

ALTER TABLE "user".notification_settings
    DROP CONSTRAINT IF EXISTS notification_settings_channel,
    ADD CONSTRAINT notification_settings_channel
        CHECK (channel IN ('email', 'sms', 'push', 'in_app')) NOT VALID;

ALTER TABLE "user".notification_settings
    DROP CONSTRAINT IF EXISTS notification_settings_frequency,
    ADD CONSTRAINT notification_settings_frequency
        CHECK (frequency IN ('immediate', 'hourly', 'daily', 'weekly')) NOT VALID;

ALTER TABLE "user".team_members VALIDATE CONSTRAINT team_members_role;
ALTER TABLE "user".addresses VALIDATE CONSTRAINT addresses_kind;
ALTER TABLE "user".contact_methods VALIDATE CONSTRAINT contact_methods_kind;
ALTER TABLE "user".notification_settings VALIDATE CONSTRAINT notification_settings_channel;
ALTER TABLE "user".notification_settings VALIDATE CONSTRAINT notification_settings_frequency;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
