"""Make crm's check constraints survive a dump

Migration: make check constraints survive a dump
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Early revisions wrote value lists on varchar columns as `col IN ('a', 'b')`. PostgreSQL
stores that as `(col)::text = ANY ((ARRAY['a'::varchar, ...])::text[])`; pg_dump writes it
out and the restored server reads it back as `ARRAY[('a'::varchar)::text, ...]`, so a
restored catalog no longer reads like the one the revisions build. Written as
`col::text IN ('a', 'b')` (as later revisions do), the stored form survives a dump
unchanged. Names and meanings stay as they were.

Replaces customers_status_valid.

Each check is dropped and added again in one ALTER TABLE (the table is never without it),
NOT VALID so that the ALTER does not scan the table, then validated: the tool runs each
VALIDATE CONSTRAINT after the ALTERs before it have committed, so its scan holds only SHARE
UPDATE EXCLUSIVE, which lets reads and writes go on.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_003"
down_revision = "20240420_001"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
}

UPGRADE = """
ALTER TABLE crm.customers
    DROP CONSTRAINT IF EXISTS customers_status_valid,
    ADD CONSTRAINT customers_status_valid
        CHECK (status::text IN ('lead', 'prospect', 'customer', 'churned')) NOT VALID;

ALTER TABLE crm.customers VALIDATE CONSTRAINT customers_status_valid;
"""

DOWNGRADE = """
ALTER TABLE crm.customers
    DROP CONSTRAINT IF EXISTS customers_status_valid,
    ADD CONSTRAINT customers_status_valid
        CHECK (status IN ('lead', 'prospect', 'customer', 'churned')) NOT VALID;

ALTER TABLE crm.customers VALIDATE CONSTRAINT customers_status_valid;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
