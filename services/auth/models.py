"""The auth service's schema, as SQLAlchemy tables (what autogenerate and drift compare with)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
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

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=text("gen_random_uuid()")),
    Column("email", String(255), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    timestamp("created_at"),
    timestamp("updated_at"),
    UniqueConstraint("email", name="users_email_key"),
    CheckConstraint(
        "email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$'", name="users_email_format"
    ),
    schema="auth",
)
Index("idx_users_email_lower", func.lower(users.c.email))

# 20240410_001: role-based access control.
roles = Table(
    "roles",
    metadata,
    uuid_id(),
    Column("name", String(64), nullable=False),
    Column("description", Text),
    Column("is_system", Boolean, nullable=False, server_default=text("false")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="roles_pkey"),
    UniqueConstraint("name", name="roles_name_key"),
    CheckConstraint("name ~ '^[a-z][a-z0-9_.-]*$'", name="roles_name_format"),
    schema="auth",
)

role_permissions = Table(
    "role_permissions",
    metadata,
    Column(
        "role_id",
        Uuid,
        ForeignKey("auth.roles.id", name="role_permissions_role_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("permission", String(128), nullable=False),
    timestamp("created_at"),
    PrimaryKeyConstraint("role_id", "permission", name="role_permissions_pkey"),
    CheckConstraint(
        "permission ~ '^[a-z][a-z0-9_.-]*:[a-z*][a-z0-9_*-]*$'",
        name="role_permissions_permission_format",
    ),
    schema="auth",
)

user_roles = Table(
    "user_roles",
    metadata,
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="user_roles_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "role_id",
        Uuid,
        ForeignKey("auth.roles.id", name="user_roles_role_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "granted_by",
        Uuid,
        ForeignKey("auth.users.id", name="user_roles_granted_by_fkey", ondelete="SET NULL"),
    ),
    Column("expires_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("user_id", "role_id", name="user_roles_pkey"),
    CheckConstraint(
        "expires_at IS NULL OR expires_at > created_at", name="user_roles_expires_after_grant"
    ),
    schema="auth",
)
Index("idx_user_roles_role_id", user_roles.c.role_id)

# 20240410_002: sessions, API keys, password resets, the login audit.
sessions = Table(
    "sessions",
    metadata,
    uuid_id(),
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="sessions_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("refresh_token_hash", String(128), nullable=False),
    Column("user_agent", Text),
    Column("ip_address", postgresql.INET),
    Column("last_used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", String(32)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="sessions_pkey"),
    UniqueConstraint("refresh_token_hash", name="sessions_refresh_token_hash_key"),
    CheckConstraint("expires_at > created_at", name="sessions_expires_after_creation"),
    CheckConstraint(
        "revoked_reason IN ('logout', 'rotated', 'password_changed', 'admin', 'suspicious')",
        name="sessions_revoked_reason",
    ),
    CheckConstraint(
        "(revoked_at IS NULL) = (revoked_reason IS NULL)", name="sessions_revocation_complete"
    ),
    schema="auth",
)
Index("idx_sessions_user_id", sessions.c.user_id)
Index("idx_sessions_expires_at", sessions.c.expires_at)

api_keys = Table(
    "api_keys",
    metadata,
    uuid_id(),
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="api_keys_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(128), nullable=False),
    Column("scopes", postgresql.ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("last_used_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="api_keys_pkey"),
    UniqueConstraint("prefix", name="api_keys_prefix_key"),
    UniqueConstraint("key_hash", name="api_keys_key_hash_key"),
    UniqueConstraint("user_id", "name", name="api_keys_user_id_name_key"),
    CheckConstraint("length(btrim(name)) > 0", name="api_keys_name_not_blank"),
    CheckConstraint("prefix ~ '^[A-Za-z0-9]{8,16}$'", name="api_keys_prefix_format"),
    CheckConstraint(
        "expires_at IS NULL OR expires_at > created_at", name="api_keys_expires_after_creation"
    ),
    schema="auth",
)

password_resets = Table(
    "password_resets",
    metadata,
    uuid_id(),
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="password_resets_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("token_hash", String(128), nullable=False),
    Column("requested_ip", postgresql.INET),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="password_resets_pkey"),
    UniqueConstraint("token_hash", name="password_resets_token_hash_key"),
    CheckConstraint("expires_at > created_at", name="password_resets_expires_after_creation"),
    CheckConstraint(
        "used_at IS NULL OR used_at >= created_at", name="password_resets_used_after_creation"
    ),
    schema="auth",
)
Index("idx_password_resets_user_id", password_resets.c.user_id)

login_audit = Table(
    "login_audit",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column(
        "user_id",
        Uuid,
        ForeignKey("auth.users.id", name="login_audit_user_id_fkey", ondelete="SET NULL"),
    ),
    Column(
        "session_id",
        Uuid,
        ForeignKey("auth.sessions.id", name="login_audit_session_id_fkey", ondelete="SET NULL"),
    ),
    Column("email", String(255), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("ip_address", postgresql.INET),
    Column("user_agent", Text),
    timestamp("created_at"),
    PrimaryKeyConstraint("id", name="login_audit_pkey"),
    CheckConstraint(
        "outcome IN ('success', 'bad_password', 'unknown_user', 'inactive_user', 'locked_out',"
        " 'mfa_failed')",
        name="login_audit_outcome",
    ),
    schema="auth",
)
Index("idx_login_audit_user_id_created_at", login_audit.c.user_id, login_audit.c.created_at)
Index("idx_login_audit_ip_address_created_at", login_audit.c.ip_address, login_audit.c.created_at)
Index("idx_login_audit_created_at", login_audit.c.created_at)

# 20240410_003: the originals of the emails the normalisation changed, kept until its downgrade
# restores them.
email_normalization_originals = Table(
    "email_normalization_originals",
    metadata,
    Column(
        "user_id",
        Uuid,
        ForeignKey(
            "auth.users.id",
            name="email_normalization_originals_user_id_fkey",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    Column("email", String(255), nullable=False),
    timestamp("created_at"),
    PrimaryKeyConstraint("user_id", name="email_normalization_originals_pkey"),
    schema="auth",
)
