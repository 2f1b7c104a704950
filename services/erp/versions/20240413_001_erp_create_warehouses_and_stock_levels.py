"""Create erp warehouses and stock levels

Migration: create erp warehouses and stock levels
Service: erp-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-13
Dependencies: []

Inventory: the warehouses goods are kept in, and per product and warehouse how many units are
on hand and how many of those orders have reserved. The checks keep the counts consistent
(never negative, never more reserved than on hand) whatever code writes them.
"""

from migrator.revision import run_sql

revision = "20240413_001"
down_revision = "20240101_004"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS erp.warehouses (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    code         varchar(32)  NOT NULL,
    name         varchar(200) NOT NULL,
    address      text,
    country_code char(2)      NOT NULL,
    is_active    boolean      NOT NULL DEFAULT true,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT warehouses_pkey PRIMARY KEY (id),
    CONSTRAINT warehouses_code_key UNIQUE (code),
    CONSTRAINT warehouses_code_format CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]*$'),
    CONSTRAINT warehouses_country_code_iso CHECK (country_code ~ '^[A-Z]{2}$')
);

CREATE TABLE IF NOT EXISTS erp.stock_levels (
    product_id        uuid        NOT NULL,
    warehouse_id      uuid        NOT NULL,
    quantity_on_hand  integer     NOT NULL DEFAULT 0,
    quantity_reserved integer     NOT NULL DEFAULT 0,
    reorder_point     integer     NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_levels_pkey PRIMARY KEY (product_id, warehouse_id),
    CONSTRAINT stock_levels_product_id_fkey FOREIGN KEY (product_id)
        REFERENCES erp.products (id) ON DELETE CASCADE,
    CONSTRAINT stock_levels_warehouse_id_fkey FOREIGN KEY (warehouse_id)
        REFERENCES erp.warehouses (id) ON DELETE CASCADE,
    CONSTRAINT stock_levels_on_hand_not_negative CHECK (quantity_on_hand >= 0),
    CONSTRAINT stock_levels_reserved_within_on_hand
        CHECK (quantity_reserved >= 0 AND quantity_reserved <= quantity_on_hand),
    CONSTRAINT stock_levels_reorder_point_not_negative CHECK (reorder_point >= 0)
);

-- The primary key serves lookups by product; this one serves a warehouse's inventory.
CREATE INDEX IF NOT EXISTS idx_stock_levels_warehouse_id ON erp.stock_levels (warehouse_id);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS erp.idx_stock_levels_warehouse_id;
DROP TABLE IF EXISTS erp.stock_levels;
DROP TABLE IF EXISTS erp.warehouses;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
