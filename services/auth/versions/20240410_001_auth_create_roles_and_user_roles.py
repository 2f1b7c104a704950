"""Create auth roles, role permissions and user roles

Migration: create auth roles, role permissions and user roles
Service: auth-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-10
Dependencies: []

Role-based access control: a role is a named set of permission strings (`crm.customers:read`),
granted to users, optionally until a given time. System roles (admin, member) are seeded by the
auth service and cannot be deleted from the UI; who granted a role is kept for audit, and
survives the deletion of the granting account as NULL.
"""

from migrator.revision import run_sql

revision = "20240410_001"
down_revision = "20240101_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS auth.roles (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    name        varchar(64)  NOT NULL,
    description text,
    is_system   boolean      NOT NULL DEFAULT false,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT roles_pkey PRIMARY KEY (id),
    CONSTRAINT roles_name_key UNIQUE (name),
    CONSTRAINT roles_name_format CHECK (name ~ '^[a-z][a-z0-9_.-]*$')
);

CREATE TABLE IF NOT EXISTS auth.role_permissions (
    role_id    uuid         NOT NULL,
    permission varchar(128) NOT NULL,
    created_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT role_permissions_pkey PRIMARY KEY (role_id, permission),
    CONSTRAINT role_permissions_role_id_fkey FOREIGN KEY (role_id)
        REFERENCES auth.roles (id) ON DELETE CASCADE,
    CONSTRAINT role_permissions_permission_format
        CHECK (permission ~ '^[a-z][a-z0-9_.-]*:[a-z*][a-z0-9_*-]*$')
);

CREATE TABLE IF NOT EXISTS auth.user_roles (
    user_id    uuid        NOT NULL,
    role_id    uuid        NOT NULL,
    granted_by uuid,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role_id),
    CONSTRAINT user_roles_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT user_roles_role_id_fkey FOREIGN KEY (role_id)
        REFERENCES auth.roles (id) ON DELETE CASCADE,
    CONSTRAINT user_roles_granted_by_fkey FOREIGN KEY (granted_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT user_roles_expires_after_grant CHECK (expires_at IS NULL OR expires_at > created_at)
);

-- "Who has this role?" (the primary key serves "which roles has this user?").
CREATE INDEX IF NOT EXISTS idx_user_roles_role_id ON auth.user_roles (role_id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS auth.user_roles;
DROP TABLE IF EXISTS auth.role_permissions;
DROP TABLE IF EXISTS auth.roles;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
