"""Create auth sessions, API keys, password resets and the login audit

Migration: create auth sessions, api keys, password resets and login audit
Service: auth-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-10
Dependencies: []

What signing in needs besides the user row: refresh-token sessions (revocable, one per
device), personal API keys for integrations, one-time password-reset tokens, and an
append-only log of every sign-in attempt for security review and rate limiting. Secrets are
never stored, only their hashes; an API key is found by its public prefix.
"""

from migrator.revision import run_sql

revision = "20240410_002"
down_revision = "20240410_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS auth.sessions (
    id                 uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id            uuid         NOT NULL,
    refresh_token_hash varchar(128) NOT NULL,
    user_agent         text,
    ip_address         inet,
    last_used_at       timestamptz  NOT NULL DEFAULT now(),
    expires_at         timestamptz  NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     varchar(32),
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT sessions_refresh_token_hash_key UNIQUE (refresh_token_hash),
    CONSTRAINT sessions_expires_after_creation CHECK (expires_at > created_at),
    CONSTRAINT sessions_revoked_reason CHECK (
        revoked_reason IN ('logout', 'rotated', 'password_changed', 'admin', 'suspicious')
    ),
    CONSTRAINT sessions_revocation_complete CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON auth.sessions (user_id);
-- The clean-up job deletes expired sessions.
CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON auth.sessions (expires_at);

CREATE TABLE IF NOT EXISTS auth.api_keys (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid         NOT NULL,
    name         varchar(100) NOT NULL,
    prefix       varchar(16)  NOT NULL,
    key_hash     varchar(128) NOT NULL,
    scopes       text[]       NOT NULL DEFAULT '{}'::text[],
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_user_id_name_key UNIQUE (user_id, name),
    CONSTRAINT api_keys_name_not_blank CHECK (length(btrim(name)) > 0),
    CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^[A-Za-z0-9]{8,16}$'),
    CONSTRAINT api_keys_expires_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE TABLE IF NOT EXISTS auth.password_resets (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid         NOT NULL,
    token_hash   varchar(128) NOT NULL,
    requested_ip inet,
    expires_at   timestamptz  NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT password_resets_pkey PRIMARY KEY (id),
    CONSTRAINT password_resets_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT password_resets_token_hash_key UNIQUE (token_hash),
    CONSTRAINT password_resets_expires_after_creation CHECK (expires_at > created_at),
    CONSTRAINT password_resets_used_after_creation CHECK (used_at IS NULL OR used_at >= created_at)
);

CREATE INDEX IF NOT EXISTS idx_password_resets_user_id ON auth.password_resets (user_id);

CREATE TABLE IF NOT EXISTS auth.login_audit (
    id         bigint       GENERATED ALWAYS AS IDENTITY,
    user_id    uuid,
    session_id uuid,
    email      varchar(255) NOT NULL,
    outcome    varchar(32)  NOT NULL,
    ip_address inet,
    user_agent text,
    created_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT login_audit_pkey PRIMARY KEY (id),
    CONSTRAINT login_audit_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT login_audit_session_id_fkey FOREIGN KEY (session_id)
        REFERENCES auth.sessions (id) ON DELETE SET NULL,
    CONSTRAINT login_audit_outcome CHECK (
        outcome IN ('success', 'bad_password', 'unknown_user', 'inactive_user', 'locked_out', 'mfa_failed')
    )
);

-- A user's recent sign-ins; recent failures from one address (rate limiting); retention purge.
CREATE INDEX IF NOT EXISTS idx_login_audit_user_id_created_at ON auth.login_audit (user_id, created_at);
CREATE INDEX IF NOT EXISTS idx_login_audit_ip_address_created_at ON auth.login_audit (ip_address, created_at);
CREATE INDEX IF NOT EXISTS idx_login_audit_created_at ON auth.login_audit (created_at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS auth.login_audit;
DROP TABLE IF EXISTS auth.password_resets;
DROP TABLE IF EXISTS auth.api_keys;
DROP TABLE IF EXISTS auth.sessions;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
