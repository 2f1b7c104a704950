"""Make crm's check constraints survive a dump

Migration: make check constraints survive a dump
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Why and how: see auth's 20261128_001 (the `::text IN` form survives a dump).

Replaces customers_status_valid.

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
