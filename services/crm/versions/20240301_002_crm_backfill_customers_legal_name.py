"""Backfill customers.legal_name and prove it complete

Migration: backfill customers legal_name (expand 2 of 3: rename name to legal_name)
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-03-01
Dependencies: []

Blue-green rename, step 2 (expand): rows written before step 1 get their legal_name, and a
CHECK constraint, added NOT VALID (no long lock) and validated separately (no write lock),
proves no row lacks one. The contract step can then set NOT NULL without scanning the table.
"""

from migrator.revision import run_sql

revision = "20240301_002"
down_revision = "20240301_001"
branch_labels = ()
depends_on = None
phase = "expand"

UPGRADE = """
UPDATE crm.customers SET legal_name = name WHERE legal_name IS NULL;

ALTER TABLE crm.customers
    ADD CONSTRAINT customers_legal_name_present CHECK (legal_name IS NOT NULL) NOT VALID;

ALTER TABLE crm.customers VALIDATE CONSTRAINT customers_legal_name_present;
"""

DOWNGRADE = """
ALTER TABLE crm.customers DROP CONSTRAINT IF EXISTS customers_legal_name_present;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
