"""Create the email queue and delivery events

Migration: create email queue and delivery events
Service: email-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-14
Dependencies: ["20240101_001"]

Outgoing mail goes through a queue: each message names the template version it renders and
the variables to render it with, and is retried by the sender up to its max_attempts. The
provider's webhooks append delivery events (sent, delivered, bounced, opened, ...) per message,
at most once per provider event id. A message may name the account it was sent to
(auth.users), hence the dependency on auth's first revision.
"""

from migrator.revision import run_sql

revision = "20240414_001"
down_revision = "20240101_005"
branch_labels = ()
depends_on = ("20240101_001",)
lint_accept = {"prefer-bigint-over-smallint": "priority is 0 to 9 by its CHECK constraint"}

UPGRADE = """
CREATE TABLE IF NOT EXISTS email.queue (
    id                  uuid         NOT NULL DEFAULT gen_random_uuid(),
    template_id         uuid         NOT NULL,
    recipient_user_id   uuid,
    to_address          varchar(255) NOT NULL,
    from_address        varchar(255) NOT NULL,
    reply_to            varchar(255),
    variables           jsonb        NOT NULL DEFAULT '{}'::jsonb,
    status              varchar(16)  NOT NULL DEFAULT 'pending',
    priority            smallint     NOT NULL DEFAULT 5,
    attempts            integer      NOT NULL DEFAULT 0,
    max_attempts        integer      NOT NULL DEFAULT 5,
    scheduled_at        timestamptz  NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    last_error          text,
    provider_message_id varchar(255),
    idempotency_key     varchar(128),
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT queue_pkey PRIMARY KEY (id),
    CONSTRAINT queue_template_id_fkey FOREIGN KEY (template_id)
        REFERENCES email.templates (id) ON DELETE RESTRICT,
    CONSTRAINT queue_recipient_user_id_fkey FOREIGN KEY (recipient_user_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT queue_provider_message_id_key UNIQUE (provider_message_id),
    CONSTRAINT queue_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT queue_status CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    CONSTRAINT queue_priority_range CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT queue_attempts_range CHECK (attempts >= 0 AND attempts <= max_attempts),
    CONSTRAINT queue_max_attempts_range CHECK (max_attempts BETWEEN 1 AND 20),
    CONSTRAINT queue_sent_has_sent_at CHECK (status <> 'sent' OR sent_at IS NOT NULL),
    CONSTRAINT queue_to_address_format CHECK (to_address ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT queue_from_address_format CHECK (from_address ~ '^[^@[:space:]]+@[^@[:space:]]+$')
);

-- The sender picks pending messages that are due; the index stays small as messages leave.
CREATE INDEX IF NOT EXISTS idx_queue_pending_scheduled_at
    ON email.queue (priority, scheduled_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_queue_template_id ON email.queue (template_id);
CREATE INDEX IF NOT EXISTS idx_queue_recipient_user_id ON email.queue (recipient_user_id);

CREATE TABLE IF NOT EXISTS email.delivery_events (
    id                bigint       GENERATED ALWAYS AS IDENTITY,
    message_id        uuid         NOT NULL,
    event_type        varchar(16)  NOT NULL,
    bounce_type       varchar(8),
    provider_event_id varchar(255),
    details           jsonb        NOT NULL DEFAULT '{}'::jsonb,
    occurred_at       timestamptz  NOT NULL,
    created_at        timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT delivery_events_pkey PRIMARY KEY (id),
    CONSTRAINT delivery_events_message_id_fkey FOREIGN KEY (message_id)
        REFERENCES email.queue (id) ON DELETE CASCADE,
    CONSTRAINT delivery_events_provider_event_id_key UNIQUE (provider_event_id),
    CONSTRAINT delivery_events_event_type CHECK (
        event_type IN ('sent', 'delivered', 'deferred', 'bounced', 'opened', 'clicked', 'complained', 'failed')
    ),
    CONSTRAINT delivery_events_bounce_type CHECK (
        (event_type = 'bounced') = (bounce_type IS NOT NULL) AND (bounce_type IS NULL OR bounce_type IN ('hard', 'soft'))
    )
);

CREATE INDEX IF NOT EXISTS idx_delivery_events_message_id_occurred_at
    ON email.delivery_events (message_id, occurred_at);
-- Delivery statistics per event type over a period.
CREATE INDEX IF NOT EXISTS idx_delivery_events_event_type_occurred_at
    ON email.delivery_events (event_type, occurred_at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS email.delivery_events;
DROP TABLE IF EXISTS email.queue;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
