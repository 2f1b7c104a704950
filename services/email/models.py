"""The email service's schema, as SQLAlchemy tables (what autogenerate and drift compare with)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects import postgresql

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

# 20240101_005: templates (the primary key is unnamed in the SQL: PostgreSQL's name).
templates = Table(
    "templates",
    metadata,
    uuid_id(),
    Column("name", String(100), nullable=False),
    Column("locale", String(16), nullable=False, server_default=text("'en-US'")),
    Column("subject", String(255), nullable=False),
    Column("body_html", Text, nullable=False),
    Column("body_text", Text),
    Column("version", Integer, nullable=False, server_default=text("1")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="templates_pkey"),
    UniqueConstraint("name", "locale", "version", name="templates_name_locale_version_key"),
    CheckConstraint("version > 0", name="templates_version_positive"),
    schema="email",
)

# 20240414_001: the outgoing queue and its delivery events.
queue = Table(
    "queue",
    metadata,
    uuid_id(),
    Column(
        "template_id",
        Uuid,
        ForeignKey("email.templates.id", name="queue_template_id_fkey", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column(
        "recipient_user_id",
        Uuid,
        ForeignKey("auth.users.id", name="queue_recipient_user_id_fkey", ondelete="SET NULL"),
    ),
    Column("to_address", String(255), nullable=False),
    Column("from_address", String(255), nullable=False),
    Column("reply_to", String(255)),
    Column("variables", postgresql.JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", String(16), nullable=False, server_default=text("'pending'")),
    Column("priority", SmallInteger, nullable=False, server_default=text("5")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False, server_default=text("5")),
    Column("scheduled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("provider_message_id", String(255)),
    Column("idempotency_key", String(128)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="queue_pkey"),
    UniqueConstraint("provider_message_id", name="queue_provider_message_id_key"),
    UniqueConstraint("idempotency_key", name="queue_idempotency_key_key"),
    CheckConstraint(
        "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name="queue_status"
    ),
    CheckConstraint("priority BETWEEN 0 AND 9", name="queue_priority_range"),
    CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="queue_attempts_range"),
    CheckConstraint("max_attempts BETWEEN 1 AND 20", name="queue_max_attempts_range"),
    CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="queue_sent_has_sent_at"),
    CheckConstraint(
        "to_address ~ '^[^@[:space:]]+@[^@[:space:]]+$'", name="queue_to_address_format"
    ),
    CheckConstraint(
        "from_address ~ '^[^@[:space:]]+@[^@[:space:]]+$'", name="queue_from_address_format"
    ),
    schema="email",
)
Index(
    "idx_queue_pending_scheduled_at",
    queue.c.priority,
    queue.c.scheduled_at,
    postgresql_where=text("status = 'pending'"),
)
Index("idx_queue_template_id", queue.c.template_id)
Index("idx_queue_recipient_user_id", queue.c.recipient_user_id)

delivery_events = Table(
    "delivery_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column(
        "message_id",
        Uuid,
        ForeignKey("email.queue.id", name="delivery_events_message_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_type", String(16), nullable=False),
    Column("bounce_type", String(8)),
    Column("provider_event_id", String(255)),
    Column("details", postgresql.JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    timestamp("created_at"),
    PrimaryKeyConstraint("id", name="delivery_events_pkey"),
    UniqueConstraint("provider_event_id", name="delivery_events_provider_event_id_key"),
    CheckConstraint(
        "event_type IN ('sent', 'delivered', 'deferred', 'bounced', 'opened', 'clicked',"
        " 'complained', 'failed')",
        name="delivery_events_event_type",
    ),
    CheckConstraint(
        "(event_type = 'bounced') = (bounce_type IS NOT NULL)"
        " AND (bounce_type IS NULL OR bounce_type IN ('hard', 'soft'))",
        name="delivery_events_bounce_type",
    ),
    schema="email",
)
Index(
    "idx_delivery_events_message_id_occurred_at",
    delivery_events.c.message_id,
    delivery_events.c.occurred_at,
)
Index(
    "idx_delivery_events_event_type_occurred_at",
    delivery_events.c.event_type,
    delivery_events.c.occurred_at,
)

# 20240414_002: suppressions and attachments.
suppressions = Table(
    "suppressions",
    metadata,
    uuid_id(),
    Column("address", String(255), nullable=False),
    Column("scope", String(64), nullable=False, server_default=text("'all'")),
    Column("reason", String(16), nullable=False),
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="suppressions_user_id_fkey", ondelete="SET NULL"),
    ),
    Column(
        "source_message_id",
        Uuid,
        ForeignKey(
            "email.queue.id", name="suppressions_source_message_id_fkey", ondelete="SET NULL"
        ),
    ),
    Column("note", Text),
    Column("expires_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="suppressions_pkey"),
    UniqueConstraint("address", "scope", name="suppressions_address_scope_key"),
    CheckConstraint("address = lower(btrim(address))", name="suppressions_address_normalized"),
    CheckConstraint(
        "address ~ '^[^@[:space:]]+@[^@[:space:]]+$'", name="suppressions_address_format"
    ),
    CheckConstraint("scope ~ '^[a-z][a-z0-9_.-]*$'", name="suppressions_scope_format"),
    CheckConstraint(
        "reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'manual')",
        name="suppressions_reason",
    ),
    CheckConstraint(
        "expires_at IS NULL OR expires_at > created_at", name="suppressions_expires_after_creation"
    ),
    schema="email",
)
Index("idx_suppressions_user_id", suppressions.c.user_id)
Index("idx_suppressions_source_message_id", suppressions.c.source_message_id)

attachments = Table(
    "attachments",
    metadata,
    uuid_id(),
    Column(
        "message_id",
        Uuid,
        ForeignKey("email.queue.id", name="attachments_message_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("storage_key", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("is_inline", Boolean, nullable=False, server_default=text("false")),
    Column("content_id", String(255)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="attachments_pkey"),
    UniqueConstraint("message_id", "filename", name="attachments_message_id_filename_key"),
    CheckConstraint("length(btrim(filename)) > 0", name="attachments_filename_not_blank"),
    CheckConstraint(
        "content_type ~ '^[[:alnum:]!#$&^_.+-]+/[[:alnum:]!#$&^_.+-]+$'",
        name="attachments_content_type_format",
    ),
    CheckConstraint("size_bytes BETWEEN 0 AND 26214400", name="attachments_size_range"),
    CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="attachments_sha256_format"),
    CheckConstraint(
        "NOT is_inline OR content_id IS NOT NULL", name="attachments_inline_has_content_id"
    ),
    schema="email",
)
