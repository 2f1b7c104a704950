"""Create email suppressions and attachments

Migration: create email suppressions and attachments
Service: email-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-14
Dependencies: []

Addresses that unsubscribed, bounced hard or complained must not be mailed again (per scope:
`all`, or one category such as `marketing`); the sender checks this list before each send.
Addresses are stored lower-cased and trimmed so that the check is one unique-index lookup.
Attachments of queued messages live in object storage; the table keeps their key, type, size
(at most 25 MiB) and SHA-256, and inline images their Content-ID.
"""

from migrator.revision import run_sql

revision = "20240414_002"
down_revision = "20240414_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS email.suppressions (
    id                uuid         NOT NULL DEFAULT gen_random_uuid(),
    address           varchar(255) NOT NULL,
    scope             varchar(64)  NOT NULL DEFAULT 'all',
    reason            varchar(16)  NOT NULL,
    user_id           uuid,
    source_message_id uuid,
    note              text,
    expires_at        timestamptz,
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT suppressions_pkey PRIMARY KEY (id),
    CONSTRAINT suppressions_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT suppressions_source_message_id_fkey FOREIGN KEY (source_message_id)
        REFERENCES email.queue (id) ON DELETE SET NULL,
    CONSTRAINT suppressions_address_scope_key UNIQUE (address, scope),
    CONSTRAINT suppressions_address_normalized CHECK (address = lower(btrim(address))),
    CONSTRAINT suppressions_address_format CHECK (address ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT suppressions_scope_format CHECK (scope ~ '^[a-z][a-z0-9_.-]*$'),
    CONSTRAINT suppressions_reason CHECK (reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'manual')),
    CONSTRAINT suppressions_expires_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE INDEX IF NOT EXISTS idx_suppressions_user_id ON email.suppressions (user_id);
CREATE INDEX IF NOT EXISTS idx_suppressions_source_message_id ON email.suppressions (source_message_id);

CREATE TABLE IF NOT EXISTS email.attachments (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    message_id   uuid         NOT NULL,
    filename     varchar(255) NOT NULL,
    content_type varchar(127) NOT NULL,
    size_bytes   bigint       NOT NULL,
    storage_key  text         NOT NULL,
    sha256       varchar(64)  NOT NULL,
    is_inline    boolean      NOT NULL DEFAULT false,
    content_id   varchar(255),
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT attachments_pkey PRIMARY KEY (id),
    CONSTRAINT attachments_message_id_fkey FOREIGN KEY (message_id)
        REFERENCES email.queue (id) ON DELETE CASCADE,
    CONSTRAINT attachments_message_id_filename_key UNIQUE (message_id, filename),
    CONSTRAINT attachments_filename_not_blank CHECK (length(btrim(filename)) > 0),
    CONSTRAINT attachments_content_type_format CHECK (content_type ~ '^[[:alnum:]!#$&^_.+-]+/[[:alnum:]!#$&^_.+-]+$'),
    CONSTRAINT attachments_size_range CHECK (size_bytes BETWEEN 0 AND 26214400),
    CONSTRAINT attachments_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT attachments_inline_has_content_id CHECK (NOT is_inline OR content_id IS NOT NULL)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS email.attachments;
DROP TABLE IF EXISTS email.suppressions;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
