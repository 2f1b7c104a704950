"""Create erp invoices

Migration: create erp invoices
Service: erp-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-13
Dependencies: ["20240101_001"]

Invoices for sales orders, issued by an auth user. An invoiced order cannot be deleted (its
invoices are legal records); the checks tie the status to its dates (issued unless a draft,
paid exactly when paid_at is set) and the total to its parts.
"""

from migrator.revision import run_sql

revision = "20240413_003"
down_revision = "20240413_002"
branch_labels = ()
depends_on = ("20240101_001",)

UPGRADE = """
-- Value lists compare as text (`status::text IN (...)`): PostgreSQL's rendering of a
-- varchar `IN` list reads back differently, so pg_dump and restore would alter it.
CREATE TABLE IF NOT EXISTS erp.invoices (
    id              uuid          NOT NULL DEFAULT gen_random_uuid(),
    invoice_number  varchar(32)   NOT NULL,
    order_id        uuid          NOT NULL,
    issued_by       uuid          NOT NULL,
    status          varchar(20)   NOT NULL DEFAULT 'draft',
    currency        char(3)       NOT NULL DEFAULT 'EUR',
    subtotal_amount numeric(14,2) NOT NULL DEFAULT 0,
    tax_amount      numeric(14,2) NOT NULL DEFAULT 0,
    total_amount    numeric(14,2) NOT NULL DEFAULT 0,
    issued_at       timestamptz,
    due_date        date,
    paid_at         timestamptz,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT invoices_pkey PRIMARY KEY (id),
    CONSTRAINT invoices_invoice_number_key UNIQUE (invoice_number),
    CONSTRAINT invoices_order_id_fkey FOREIGN KEY (order_id) REFERENCES erp.sales_orders (id),
    CONSTRAINT invoices_issued_by_fkey FOREIGN KEY (issued_by) REFERENCES auth.users (id),
    CONSTRAINT invoices_status_valid CHECK (status::text IN ('draft', 'issued', 'paid', 'void')),
    CONSTRAINT invoices_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT invoices_amounts_not_negative CHECK (subtotal_amount >= 0 AND tax_amount >= 0),
    CONSTRAINT invoices_total_is_sum CHECK (total_amount = subtotal_amount + tax_amount),
    CONSTRAINT invoices_issued_unless_draft CHECK (status = 'draft' OR issued_at IS NOT NULL),
    CONSTRAINT invoices_paid_at_iff_paid CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS idx_invoices_order_id ON erp.invoices (order_id);
CREATE INDEX IF NOT EXISTS idx_invoices_issued_by ON erp.invoices (issued_by);

-- Dunning: the issued, unpaid invoices by due date.
CREATE INDEX IF NOT EXISTS idx_invoices_open_due_date
    ON erp.invoices (due_date) WHERE status = 'issued';
"""

DOWNGRADE = """
DROP INDEX IF EXISTS erp.idx_invoices_open_due_date;
DROP INDEX IF EXISTS erp.idx_invoices_issued_by;
DROP INDEX IF EXISTS erp.idx_invoices_order_id;
DROP TABLE IF EXISTS erp.invoices;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
