"""Create user teams and team members

Migration: create user teams and team members
Service: user-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-11
Dependencies: []

Users work in teams: a team has a URL slug, an owning account and members with a role. An
account that owns a team cannot be deleted until ownership moves (ON DELETE RESTRICT); members
leave their teams with their profile.
"""

from migrator.revision import run_sql

revision = "20240411_001"
down_revision = "20240101_002"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS "user".teams (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    slug        varchar(64)  NOT NULL,
    name        varchar(120) NOT NULL,
    description text,
    owner_id    uuid         NOT NULL,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT teams_pkey PRIMARY KEY (id),
    CONSTRAINT teams_owner_id_fkey FOREIGN KEY (owner_id)
        REFERENCES auth.users (id) ON DELETE RESTRICT,
    CONSTRAINT teams_slug_key UNIQUE (slug),
    CONSTRAINT teams_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT teams_name_not_blank CHECK (length(btrim(name)) > 0)
);

CREATE INDEX IF NOT EXISTS idx_teams_owner_id ON "user".teams (owner_id);

CREATE TABLE IF NOT EXISTS "user".team_members (
    team_id    uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    role       varchar(16) NOT NULL DEFAULT 'member',
    invited_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_members_pkey PRIMARY KEY (team_id, user_id),
    CONSTRAINT team_members_team_id_fkey FOREIGN KEY (team_id)
        REFERENCES "user".teams (id) ON DELETE CASCADE,
    CONSTRAINT team_members_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES "user".profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT team_members_invited_by_fkey FOREIGN KEY (invited_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT team_members_role CHECK (role IN ('owner', 'admin', 'member', 'viewer'))
);

-- "Which teams is this user in?" (the primary key serves "who is in this team?").
CREATE INDEX IF NOT EXISTS idx_team_members_user_id ON "user".team_members (user_id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS "user".team_members;
DROP TABLE IF EXISTS "user".teams;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
