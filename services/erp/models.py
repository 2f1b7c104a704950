"""The erp service's schema, as SQLAlchemy tables (what autogenerate and drift compare with)."""

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

products = Table(
    "products",
    metadata,
    uuid_id(),
    Column("sku", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("unit_price", Numeric(12, 2), nullable=False),
    Column("currency", CHAR(3), nullable=False, server_default=text("'EUR'")),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="products_pkey"),
    UniqueConstraint("sku", name="products_sku_key"),
    CheckConstraint("unit_price >= 0", name="products_unit_price_not_negative"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="products_currency_iso"),
    schema="erp",
)

warehouses = Table(
    "warehouses",
    metadata,
    uuid_id(),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("address", Text),
    Column("country_code", CHAR(2), nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="warehouses_pkey"),
    UniqueConstraint("code", name="warehouses_code_key"),
    CheckConstraint("code ~ '^[A-Z0-9][A-Z0-9_-]*$'", name="warehouses_code_format"),
    CheckConstraint("country_code ~ '^[A-Z]{2}$'", name="warehouses_country_code_iso"),
    schema="erp",
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("product_id", Uuid, nullable=False),
    Column("warehouse_id", Uuid, nullable=False),
    Column("quantity_on_hand", Integer, nullable=False, server_default=text("0")),
    Column("quantity_reserved", Integer, nullable=False, server_default=text("0")),
    Column("reorder_point", Integer, nullable=False, server_default=text("0")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("product_id", "warehouse_id", name="stock_levels_pkey"),
    ForeignKeyConstraint(
        ["product_id"],
        ["erp.products.id"],
        name="stock_levels_product_id_fkey",
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["warehouse_id"],
        ["erp.warehouses.id"],
        name="stock_levels_warehouse_id_fkey",
        ondelete="CASCADE",
    ),
    CheckConstraint("quantity_on_hand >= 0", name="stock_levels_on_hand_not_negative"),
    CheckConstraint(
        "quantity_reserved >= 0 AND quantity_reserved <= quantity_on_hand",
        name="stock_levels_reserved_within_on_hand",
    ),
    CheckConstraint("reorder_point >= 0", name="stock_levels_reorder_point_not_negative"),
    schema="erp",
)
Index("idx_stock_levels_warehouse_id", stock_levels.c.warehouse_id)

sales_orders = Table(
    "sales_orders",
    metadata,
    uuid_id(),
    Column("order_number", String(32), nullable=False),
    Column("owner_id", Uuid, nullable=False),
    Column("warehouse_id", Uuid),
    Column("customer_name", String(200), nullable=False),
    Column("customer_email", String(255)),
    Column("billing_address", Text),
    Column("shipping_address", Text),
    Column("status", String(20), nullable=False, server_default=text("'draft'")),
    Column("currency", CHAR(3), nullable=False, server_default=text("'EUR'")),
    Column("total_amount", Numeric(14, 2), nullable=False, server_default=text("0")),
    Column("notes", Text),
    Column("ordered_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="sales_orders_pkey"),
    UniqueConstraint("order_number", name="sales_orders_order_number_key"),
    ForeignKeyConstraint(["owner_id"], ["auth.users.id"], name="sales_orders_owner_id_fkey"),
    ForeignKeyConstraint(
        ["warehouse_id"],
        ["erp.warehouses.id"],
        name="sales_orders_warehouse_id_fkey",
        ondelete="SET NULL",
    ),
    CheckConstraint(
        "status::text IN ('draft', 'confirmed', 'shipped', 'delivered', 'cancelled')",
        name="sales_orders_status_valid",
    ),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="sales_orders_currency_iso"),
    CheckConstraint("total_amount >= 0", name="sales_orders_total_not_negative"),
    CheckConstraint(
        "status::text IN ('draft', 'cancelled') OR ordered_at IS NOT NULL",
        name="sales_orders_ordered_unless_draft",
    ),
    schema="erp",
)
Index("idx_sales_orders_owner_id", sales_orders.c.owner_id)
Index("idx_sales_orders_warehouse_id", sales_orders.c.warehouse_id)
Index("idx_sales_orders_status_ordered_at", sales_orders.c.status, sales_orders.c.ordered_at)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("line_number", Integer, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("description", Text),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
    Column("discount_percent", Numeric(5, 2), nullable=False, server_default=text("0")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="order_lines_pkey"),
    ForeignKeyConstraint(
        ["order_id"],
        ["erp.sales_orders.id"],
        name="order_lines_order_id_fkey",
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(["product_id"], ["erp.products.id"], name="order_lines_product_id_fkey"),
    UniqueConstraint("order_id", "line_number", name="order_lines_order_id_line_number_key"),
    CheckConstraint("line_number > 0", name="order_lines_line_number_positive"),
    CheckConstraint("quantity > 0", name="order_lines_quantity_positive"),
    CheckConstraint("unit_price >= 0", name="order_lines_unit_price_not_negative"),
    CheckConstraint("discount_percent BETWEEN 0 AND 100", name="order_lines_discount_range"),
    schema="erp",
)
Index("idx_order_lines_product_id", order_lines.c.product_id)

invoices = Table(
    "invoices",
    metadata,
    uuid_id(),
    Column("invoice_number", String(32), nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("issued_by", Uuid, nullable=False),
    Column("status", String(20), nullable=False, server_default=text("'draft'")),
    Column("currency", CHAR(3), nullable=False, server_default=text("'EUR'")),
    Column("subtotal_amount", Numeric(14, 2), nullable=False, server_default=text("0")),
    Column("tax_amount", Numeric(14, 2), nullable=False, server_default=text("0")),
    Column("total_amount", Numeric(14, 2), nullable=False, server_default=text("0")),
    Column("issued_at", DateTime(timezone=True)),
    Column("due_date", Date),
    Column("paid_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="invoices_pkey"),
    UniqueConstraint("invoice_number", name="invoices_invoice_number_key"),
    ForeignKeyConstraint(["order_id"], ["erp.sales_orders.id"], name="invoices_order_id_fkey"),
    ForeignKeyConstraint(["issued_by"], ["auth.users.id"], name="invoices_issued_by_fkey"),
    CheckConstraint(
        "status::text IN ('draft', 'issued', 'paid', 'void')", name="invoices_status_valid"
    ),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="invoices_currency_iso"),
    CheckConstraint(
        "subtotal_amount >= 0 AND tax_amount >= 0", name="invoices_amounts_not_negative"
    ),
    CheckConstraint("total_amount = subtotal_amount + tax_amount", name="invoices_total_is_sum"),
    CheckConstraint(
        "status = 'draft' OR issued_at IS NOT NULL", name="invoices_issued_unless_draft"
    ),
    CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name="invoices_paid_at_iff_paid"),
    schema="erp",
)
Index("idx_invoices_order_id", invoices.c.order_id)
Index("idx_invoices_issued_by", invoices.c.issued_by)
Index(
    "idx_invoices_open_due_date",
    invoices.c.due_date,
    postgresql_where=text("status = 'issued'"),
)
