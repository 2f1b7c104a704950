"""Make auth's check constraints survive a dump

Migration: make check constraints survive a dump
Service: auth-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Early revisions wrote value lists on varchar columns as `col IN ('a', 'b')`. PostgreSQL
stores that as `(col)::text = ANY ((ARRAY['a'::varchar, ...])::text[])`; pg_dump writes it
out and the restored server reads it back as `ARRAY[('a'::varchar)::text, ...]`, so a
restored catalog no longer reads like the one the revisions build. Written as
`col::text IN ('a', 'b')` (as later revisions do), the stored form survives a dump
unchanged. Names and meanings stay as they were.

Replaces sessions_revoked_reason and login_audit_outcome.

Each check is dropped and added again in one ALTER TABLE (the table is never without it),
NOT VALID so that the ALTER does not scan the table, then validated: the tool runs each
VALIDATE CONSTRAINT after the ALTERs before it have committed, so its scan holds only SHARE
UPDATE EXCLUSIVE, which lets reads and writes go on.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_001"
down_revision = "20240410_003"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
}

UPGRADE = """
ALTER TABLE auth.sessions
    DROP CONSTRAINT IF EXISTS sessions_revoked_reason,
    ADD CONSTRAINT sessions_revoked_reason
        CHECK (revoked_reason::text IN ('logout', 'rotated', 'password_changed', 'admin', 'suspicious')) NOT VALID;

ALTER TABLE auth.login_audit
    DROP CONSTRAINT IF EXISTS login_audit_outcome,
    ADD CONSTRAINT login_audit_outcome
        CHECK (outcome::text IN ('success', 'bad_password', 'unknown_user', 'inactive_user', 'locked_out', 'mfa_failed')) NOT VALID;

ALTER TABLE auth.sessions VALIDATE CONSTRAINT sessions_revoked_reason;
ALTER TABLE auth.login_audit VALIDATE CONSTRAINT login_audit_outcome;
"""

DOWNGRADE = """
ALTER TABLE auth.sessions
    DROP CONSTRAINT IF EXISTS sessions_revoked_reason,
    ADD CONSTRAINT sessions_revoked_reason
        CHECK (revoked_reason IN ('logout', 'rotated', 'password_changed', 'admin', 'suspicious')) NOT VALID;

ALTER TABLE auth.login_audit
    DROP CONSTRAINT IF EXISTS login_audit_outcome,
    ADD CONSTRAINT login_audit_outcome
        CHECK (outcome IN ('success', 'bad_password', 'unknown_user', 'inactive_user', 'locked_out', 'mfa_failed')) NOT VALID;

ALTER TABLE auth.sessions VALIDATE CONSTRAINT sessions_revoked_reason;
ALTER TABLE auth.login_audit VALIDATE CONSTRAINT login_audit_outcome;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
