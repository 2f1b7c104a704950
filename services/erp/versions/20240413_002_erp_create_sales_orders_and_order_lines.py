"""Create erp sales orders and order lines

Migration: create erp sales orders and order lines
Service: erp-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-13
Dependencies: ["20240101_001"]

Sales orders, owned by the auth user who handles them, shipped from one warehouse, and their
lines (a product, a quantity, the price agreed). The buyer is recorded by name and address on
the order itself: erp keeps no reference into crm, so each service can be deployed and rolled
back on its own. Products that order lines use cannot be deleted.
"""

from migrator.revision import run_sql

revision = "20240413_002"
down_revision = "20240413_001"
branch_labels = ()
depends_on = ("20240101_001",)

UPGRADE = """
-- Value lists compare as text (`status::text IN (...)`): PostgreSQL's rendering of a
-- varchar `IN` list reads back differently, so pg_dump and restore would alter it.
CREATE TABLE IF NOT EXISTS erp.sales_orders (
    id               uuid          NOT NULL DEFAULT gen_random_uuid(),
    order_number     varchar(32)   NOT NULL,
    owner_id         uuid          NOT NULL,
    warehouse_id     uuid,
    customer_name    varchar(200)  NOT NULL,
    customer_email   varchar(255),
    billing_address  text,
    shipping_address text,
    status           varchar(20)   NOT NULL DEFAULT 'draft',
    currency         char(3)       NOT NULL DEFAULT 'EUR',
    total_amount     numeric(14,2) NOT NULL DEFAULT 0,
    notes            text,
    ordered_at       timestamptz,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT sales_orders_pkey PRIMARY KEY (id),
    CONSTRAINT sales_orders_order_number_key UNIQUE (order_number),
    CONSTRAINT sales_orders_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES auth.users (id),
    CONSTRAINT sales_orders_warehouse_id_fkey FOREIGN KEY (warehouse_id)
        REFERENCES erp.warehouses (id) ON DELETE SET NULL,
    CONSTRAINT sales_orders_status_valid
        CHECK (status::text IN ('draft', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    CONSTRAINT sales_orders_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT sales_orders_total_not_negative CHECK (total_amount >= 0),
    CONSTRAINT sales_orders_ordered_unless_draft
        CHECK (status::text IN ('draft', 'cancelled') OR ordered_at IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS idx_sales_orders_owner_id ON erp.sales_orders (owner_id);
CREATE INDEX IF NOT EXISTS idx_sales_orders_warehouse_id ON erp.sales_orders (warehouse_id);
CREATE INDEX IF NOT EXISTS idx_sales_orders_status_ordered_at
    ON erp.sales_orders (status, ordered_at);

CREATE TABLE IF NOT EXISTS erp.order_lines (
    id               bigint        GENERATED ALWAYS AS IDENTITY,
    order_id         uuid          NOT NULL,
    line_number      integer       NOT NULL,
    product_id       uuid          NOT NULL,
    description      text,
    quantity         integer       NOT NULL,
    unit_price       numeric(12,2) NOT NULL,
    discount_percent numeric(5,2)  NOT NULL DEFAULT 0,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT order_lines_pkey PRIMARY KEY (id),
    CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id)
        REFERENCES erp.sales_orders (id) ON DELETE CASCADE,
    CONSTRAINT order_lines_product_id_fkey FOREIGN KEY (product_id) REFERENCES erp.products (id),
    CONSTRAINT order_lines_order_id_line_number_key UNIQUE (order_id, line_number),
    CONSTRAINT order_lines_line_number_positive CHECK (line_number > 0),
    CONSTRAINT order_lines_quantity_positive CHECK (quantity > 0),
    CONSTRAINT order_lines_unit_price_not_negative CHECK (unit_price >= 0),
    CONSTRAINT order_lines_discount_range CHECK (discount_percent BETWEEN 0 AND 100)
);

CREATE INDEX IF NOT EXISTS idx_order_lines_product_id ON erp.order_lines (product_id);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS erp.idx_order_lines_product_id;
DROP TABLE IF EXISTS erp.order_lines;
DROP INDEX IF EXISTS erp.idx_sales_orders_status_ordered_at;
DROP INDEX IF EXISTS erp.idx_sales_orders_warehouse_id;
DROP INDEX IF EXISTS erp.idx_sales_orders_owner_id;
DROP TABLE IF EXISTS erp.sales_orders;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
