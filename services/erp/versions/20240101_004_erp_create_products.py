"""Create erp products

Migration: create erp products
Service: erp-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20240101_004"
down_revision = None
branch_labels = ("erp",)
depends_on = None

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS erp;

CREATE TABLE IF NOT EXISTS erp.products (
    id          uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    sku         varchar(64)   NOT NULL,
    name        varchar(200)  NOT NULL,
    description text,
    unit_price  numeric(12,2) NOT NULL,
    currency    char(3)       NOT NULL DEFAULT 'EUR',
    is_active   boolean       NOT NULL DEFAULT true,
    created_at  timestamptz   NOT NULL DEFAULT now(),
    updated_at  timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT products_sku_key UNIQUE (sku),
    CONSTRAINT products_unit_price_not_negative CHECK (unit_price >= 0),
    CONSTRAINT products_currency_iso CHECK (currency ~ '^[A-Z]{3}$')
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS erp.products;
DROP SCHEMA IF EXISTS erp;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
