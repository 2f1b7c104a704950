"""The user service's schema, as SQLAlchemy tables (what autogenerate and drift compare with).

The schema is named `user`, a reserved word: SQL must quote it ("user".profiles); SQLAlchemy
quotes it by itself.
"""

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects import postgresql

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

# 20240101_002: profiles and preferences (their keys are unnamed in the SQL: PostgreSQL's names).
profiles = Table(
    "profiles",
    metadata,
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="profiles_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("display_name", String(120), nullable=False),
    Column("locale", String(16), nullable=False, server_default=text("'en-US'")),
    Column("timezone", String(64), nullable=False, server_default=text("'UTC'")),
    Column("avatar_url", Text),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("user_id", name="profiles_pkey"),
    CheckConstraint("length(btrim(display_name)) > 0", name="profiles_display_name_not_blank"),
    schema="user",
)

preferences = Table(
    "preferences",
    metadata,
    Column(
        "user_id",
        Uuid,
        ForeignKey("user.profiles.user_id", name="preferences_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(100), nullable=False),
    Column("value", postgresql.JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    timestamp("updated_at"),
    PrimaryKeyConstraint("user_id", "key", name="preferences_pkey"),
    schema="user",
)

# 20240411_001: teams and their members.
teams = Table(
    "teams",
    metadata,
    uuid_id(),
    Column("slug", String(64), nullable=False),
    Column("name", String(120), nullable=False),
    Column("description", Text),
    Column(
        "owner_id",
        Uuid,
        ForeignKey("auth.users.id", name="teams_owner_id_fkey", ondelete="RESTRICT"),
        nullable=False,
    ),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="teams_pkey"),
    UniqueConstraint("slug", name="teams_slug_key"),
    CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="teams_slug_format"),
    CheckConstraint("length(btrim(name)) > 0", name="teams_name_not_blank"),
    schema="user",
)
Index("idx_teams_owner_id", teams.c.owner_id)

team_members = Table(
    "team_members",
    metadata,
    Column(
        "team_id",
        Uuid,
        ForeignKey("user.teams.id", name="team_members_team_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "user_id",
        Uuid,
        ForeignKey("user.profiles.user_id", name="team_members_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("role", String(16), nullable=False, server_default=text("'member'")),
    Column(
        "invited_by",
        Uuid,
        ForeignKey("auth.users.id", name="team_members_invited_by_fkey", ondelete="SET NULL"),
    ),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("team_id", "user_id", name="team_members_pkey"),
    CheckConstraint("role IN ('owner', 'admin', 'member', 'viewer')", name="team_members_role"),
    schema="user",
)
Index("idx_team_members_user_id", team_members.c.user_id)

# 20240411_002: addresses, contact methods, notification settings.
addresses = Table(
    "addresses",
    metadata,
    uuid_id(),
    Column(
        "user_id",
        Uuid,
        ForeignKey("user.profiles.user_id", name="addresses_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(16), nullable=False, server_default=text("'postal'")),
    Column("line1", String(200), nullable=False),
    Column("line2", String(200)),
    Column("city", String(100), nullable=False),
    Column("region", String(100)),
    Column("postal_code", String(20)),
    Column("country_code", String(2), nullable=False),
    Column("is_primary", Boolean, nullable=False, server_default=text("false")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="addresses_pkey"),
    CheckConstraint("kind IN ('postal', 'billing', 'shipping')", name="addresses_kind"),
    CheckConstraint("country_code ~ '^[A-Z]{2}$'", name="addresses_country_code_format"),
    CheckConstraint("length(btrim(line1)) > 0", name="addresses_line1_not_blank"),
    schema="user",
)
Index("idx_addresses_user_id", addresses.c.user_id)
Index(
    "uq_addresses_user_id_kind_primary",
    addresses.c.user_id,
    addresses.c.kind,
    unique=True,
    postgresql_where=addresses.c.is_primary,
)

contact_methods = Table(
    "contact_methods",
    metadata,
    uuid_id(),
    Column(
        "user_id",
        Uuid,
        ForeignKey(
            "user.profiles.user_id", name="contact_methods_user_id_fkey", ondelete="CASCADE"
        ),
        nullable=False,
    ),
    Column("kind", String(16), nullable=False),
    Column("value", String(255), nullable=False),
    Column("label", String(64)),
    Column("is_primary", Boolean, nullable=False, server_default=text("false")),
    Column("verified_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="contact_methods_pkey"),
    UniqueConstraint("user_id", "kind", "value", name="contact_methods_user_id_kind_value_key"),
    CheckConstraint(
        "kind IN ('email', 'phone', 'sms', 'slack', 'teams')", name="contact_methods_kind"
    ),
    CheckConstraint("length(btrim(value)) > 0", name="contact_methods_value_not_blank"),
    CheckConstraint(
        "NOT is_primary OR verified_at IS NOT NULL", name="contact_methods_primary_is_verified"
    ),
    schema="user",
)
Index(
    "uq_contact_methods_user_id_kind_primary",
    contact_methods.c.user_id,
    contact_methods.c.kind,
    unique=True,
    postgresql_where=contact_methods.c.is_primary,
)

notification_settings = Table(
    "notification_settings",
    metadata,
    Column(
        "user_id",
        Uuid,
        ForeignKey(
            "user.profiles.user_id", name="notification_settings_user_id_fkey", ondelete="CASCADE"
        ),
        nullable=False,
    ),
    Column("channel", String(16), nullable=False),
    Column("category", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("frequency", String(16), nullable=False, server_default=text("'immediate'")),
    Column("quiet_hours_start", Time),
    Column("quiet_hours_end", Time),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("user_id", "channel", "category", name="notification_settings_pkey"),
    CheckConstraint(
        "channel IN ('email', 'sms', 'push', 'in_app')", name="notification_settings_channel"
    ),
    CheckConstraint(
        "category ~ '^[a-z][a-z0-9_.-]*$'", name="notification_settings_category_format"
    ),
    CheckConstraint(
        "frequency IN ('immediate', 'hourly', 'daily', 'weekly')",
        name="notification_settings_frequency",
    ),
    CheckConstraint(
        "(quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)",
        name="notification_settings_quiet_hours_complete",
    ),
    schema="user",
)
