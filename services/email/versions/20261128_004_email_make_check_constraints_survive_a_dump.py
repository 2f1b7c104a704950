"""Make email's check constraints survive a dump

Migration: make check constraints survive a dump
Service: email-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Why and how: see auth's 20261128_001 (the `::text IN` form survives a dump).

Replaces queue_status, delivery_events_event_type, delivery_events_bounce_type and
suppressions_reason.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_004"
down_revision = "20240414_002"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
}

UPGRADE = """
ALTER TABLE email.queue
    DROP CONSTRAINT IF EXISTS queue_status,
    ADD CONSTRAINT queue_status
        CHECK (status::text IN ('pending', 'sending', 'sent', 'failed', 'cancelled')) NOT VALID;

ALTER TABLE email.delivery_events
    DROP CONSTRAINT IF EXISTS delivery_events_event_type,
    ADD CONSTRAINT delivery_events_event_type
        CHECK (event_type::text IN ('sent', 'delivered', 'deferred', 'bounced', 'opened', 'clicked', 'complained', 'failed')) NOT VALID;

ALTER TABLE email.delivery_events
    DROP CONSTRAINT IF EXISTS delivery_events_bounce_type,
    ADD CONSTRAINT delivery_events_bounce_type
        CHECK ((event_type = 'bounced') = (bounce_type IS NOT NULL) AND (bounce_type IS NULL OR bounce_type::text IN ('hard', 'soft'))) NOT VALID;

ALTER TABLE email.suppressions
    DROP CONSTRAINT IF EXISTS suppressions_reason,
    ADD CONSTRAINT suppressions_reason
        CHECK (reason::text IN ('unsubscribed', 'hard_bounce', 'complaint', 'manual')) NOT VALID;

ALTER TABLE email.queue VALIDATE CONSTRAINT queue_status;
ALTER TABLE email.delivery_events VALIDATE CONSTRAINT delivery_events_event_type;
ALTER TABLE email.delivery_events VALIDATE CONSTRAINT delivery_events_bounce_type;
ALTER TABLE email.suppressions VALIDATE CONSTRAINT suppressions_reason;
"""

DOWNGRADE = """
ALTER TABLE email.queue
    DROP CONSTRAINT IF EXISTS queue_status,
    ADD CONSTRAINT queue_status
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')) NOT VALID;

ALTER TABLE email.delivery_events
    DROP CONSTRAINT IF EXISTS delivery_events_event_type,
    ADD CONSTRAINT delivery_events_event_type
        CHECK (event_type IN ('sent', 'delivered', 'deferred', 'bounced', 'opened', 'clicked', 'complained', 'failed')) NOT VALID;

ALTER TABLE email.delivery_events
    DROP CONSTRAINT IF EXISTS delivery_events_bounce_type,
    ADD CONSTRAINT delivery_events_bounce_type
        CHECK ((event_type = 'bounced') = (bounce_type IS NOT NULL) AND (bounce_type IS NULL OR bounce_type IN ('hard', 'soft'))) NOT VALID;

ALTER TABLE email.suppressions
    DROP CONSTRAINT IF EXISTS suppressions_reason,
    ADD CONSTRAINT suppressions_reason
        CHECK (reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'manual')) NOT VALID;

ALTER TABLE email.queue VALIDATE CONSTRAINT queue_status;
ALTER TABLE email.delivery_events VALIDATE CONSTRAINT delivery_events_event_type;
ALTER TABLE email.delivery_events VALIDATE CONSTRAINT delivery_events_bounce_type;
ALTER TABLE email.suppressions VALIDATE CONSTRAINT suppressions_reason;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
