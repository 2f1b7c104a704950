"""Add customers.email_normalized and backfill it in batches

Migration: add customers email_normalized (backfilled in batches)
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-20
Dependencies: []

Duplicate detection compares customers by their normalised email. The column arrives nullable
(a catalog-only change), then every existing row gets its value in slices of 5,000 keys, each
its own short transaction, so writers of crm.customers never wait behind one long UPDATE; a
killed run continues where it stopped. The revision is recorded once no row is left without a
value where it has an email.
"""

from migrator.revision import backfill, run_sql

revision = "20240420_001"
down_revision = "20240412_004"
branch_labels = ()
depends_on = None

UPGRADE = """
ALTER TABLE crm.customers ADD COLUMN IF NOT EXISTS email_normalized varchar(255);
"""

DOWNGRADE = """
ALTER TABLE crm.customers DROP COLUMN IF EXISTS email_normalized;
"""


def upgrade() -> None:
    run_sql(UPGRADE)
    backfill(
        "crm.customers",
        set="email_normalized = lower(btrim(email))",
        where="email IS NOT NULL AND email_normalized IS DISTINCT FROM lower(btrim(email))",
        batch_size=5000,
        target_batch_ms=200,
        validate_empty="SELECT id FROM crm.customers "
        "WHERE email IS NOT NULL AND email_normalized IS DISTINCT FROM lower(btrim(email))",
    )


def downgrade() -> None:
    run_sql(DOWNGRADE)
