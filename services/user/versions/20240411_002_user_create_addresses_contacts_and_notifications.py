"""Create user addresses, contact methods and notification settings

Migration: create user addresses, contact methods and notification settings
Service: user-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-11
Dependencies: []

What a profile needs beyond its name: postal addresses (billing, shipping), further ways to
reach the user (phone, secondary email, chat) that must be verified before use, and per channel
and category notification settings with optional quiet hours. A user has at most one primary
address of each kind and one primary contact method of each kind (partial unique indexes).
"""

from migrator.revision import run_sql

revision = "20240411_002"
down_revision = "20240411_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS "user".addresses (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid         NOT NULL,
    kind         varchar(16)  NOT NULL DEFAULT 'postal',
    line1        varchar(200) NOT NULL,
    line2        varchar(200),
    city         varchar(100) NOT NULL,
    region       varchar(100),
    postal_code  varchar(20),
    country_code varchar(2)   NOT NULL,
    is_primary   boolean      NOT NULL DEFAULT false,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT addresses_pkey PRIMARY KEY (id),
    CONSTRAINT addresses_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES "user".profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT addresses_kind CHECK (kind IN ('postal', 'billing', 'shipping')),
    CONSTRAINT addresses_country_code_format CHECK (country_code ~ '^[A-Z]{2}$'),
    CONSTRAINT addresses_line1_not_blank CHECK (length(btrim(line1)) > 0)
);

CREATE INDEX IF NOT EXISTS idx_addresses_user_id ON "user".addresses (user_id);
CREATE UNIQUE INDEX IF NOT EXISTS uq_addresses_user_id_kind_primary
    ON "user".addresses (user_id, kind) WHERE is_primary;

CREATE TABLE IF NOT EXISTS "user".contact_methods (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id     uuid         NOT NULL,
    kind        varchar(16)  NOT NULL,
    value       varchar(255) NOT NULL,
    label       varchar(64),
    is_primary  boolean      NOT NULL DEFAULT false,
    verified_at timestamptz,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT contact_methods_pkey PRIMARY KEY (id),
    CONSTRAINT contact_methods_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES "user".profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT contact_methods_user_id_kind_value_key UNIQUE (user_id, kind, value),
    CONSTRAINT contact_methods_kind CHECK (kind IN ('email', 'phone', 'sms', 'slack', 'teams')),
    CONSTRAINT contact_methods_value_not_blank CHECK (length(btrim(value)) > 0),
    CONSTRAINT contact_methods_primary_is_verified CHECK (NOT is_primary OR verified_at IS NOT NULL)
);

CREATE UNIQUE INDEX IF NOT EXISTS uq_contact_methods_user_id_kind_primary
    ON "user".contact_methods (user_id, kind) WHERE is_primary;

CREATE TABLE IF NOT EXISTS "user".notification_settings (
    user_id           uuid        NOT NULL,
    channel           varchar(16) NOT NULL,
    category          varchar(64) NOT NULL,
    enabled           boolean     NOT NULL DEFAULT true,
    frequency         varchar(16) NOT NULL DEFAULT 'immediate',
    quiet_hours_start time,
    quiet_hours_end   time,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_settings_pkey PRIMARY KEY (user_id, channel, category),
    CONSTRAINT notification_settings_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES "user".profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT notification_settings_channel CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    CONSTRAINT notification_settings_category_format CHECK (category ~ '^[a-z][a-z0-9_.-]*$'),
    CONSTRAINT notification_settings_frequency
        CHECK (frequency IN ('immediate', 'hourly', 'daily', 'weekly')),
    CONSTRAINT notification_settings_quiet_hours_complete
        CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL))
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS "user".notification_settings;
DROP TABLE IF EXISTS "user".contact_methods;
DROP TABLE IF EXISTS "user".addresses;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
