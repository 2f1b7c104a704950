"""Index crm customers by lower-case e-mail

Migration: index crm customers email lower concurrently
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-12
Dependencies: []

Sales look customers up by e-mail address whatever its case (de-duplication, inbound mail
matching). crm.customers already holds production rows, so the index is built CONCURRENTLY:
without blocking writes to the table. The tool runs both statements outside the revision's
transaction, and rebuilds the index should an interrupted build have left it INVALID.
"""

from migrator.revision import run_sql

revision = "20240412_004"
down_revision = "20240412_003"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_customers_email_lower ON crm.customers (lower(email));
"""

DOWNGRADE = """
DROP INDEX CONCURRENTLY IF EXISTS crm.idx_customers_email_lower;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
