"""The crm service's schema, as SQLAlchemy tables (what autogenerate and drift compare with).

crm.customers is the shape after the blue-green rename (20240301_003): `legal_name`, no `name`,
no trigger. Names of constraints the SQL leaves to PostgreSQL (customers' keys) are
PostgreSQL's own.
"""

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
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
    func,
    text,
)

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

EMAIL_FORMAT = "'^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$'"

customers = Table(
    "customers",
    metadata,
    uuid_id(),
    Column(
        "owner_id",
        Uuid,
        ForeignKey("auth.users.id", name="customers_owner_id_fkey"),
        nullable=False,
    ),
    Column(
        "assigned_to",
        Uuid,
        ForeignKey("user.profiles.user_id", name="customers_assigned_to_fkey", ondelete="SET NULL"),
    ),
    Column("email", String(255)),
    Column("phone", String(40)),
    Column("status", String(20), nullable=False, server_default=text("'lead'")),
    timestamp("created_at"),
    timestamp("updated_at"),
    Column("legal_name", String(200), nullable=False),
    Column("email_normalized", String(255)),
    PrimaryKeyConstraint("id", name="customers_pkey"),
    CheckConstraint(
        "status IN ('lead', 'prospect', 'customer', 'churned')", name="customers_status_valid"
    ),
    UniqueConstraint("owner_id", "email", name="customers_owner_email_key"),
    schema="crm",
)
Index("idx_customers_assigned_to", customers.c.assigned_to)
Index("idx_customers_email_lower", func.lower(customers.c.email))

contacts = Table(
    "contacts",
    metadata,
    uuid_id(),
    Column("customer_id", Uuid, nullable=False),
    Column("owner_id", Uuid, nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(255)),
    Column("phone", String(40)),
    Column("job_title", String(150)),
    Column("is_primary", Boolean, nullable=False, server_default=text("false")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="contacts_pkey"),
    ForeignKeyConstraint(
        ["customer_id"],
        ["crm.customers.id"],
        name="contacts_customer_id_fkey",
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(["owner_id"], ["auth.users.id"], name="contacts_owner_id_fkey"),
    UniqueConstraint("customer_id", "email", name="contacts_customer_email_key"),
    CheckConstraint(
        "length(btrim(first_name)) > 0 AND length(btrim(last_name)) > 0",
        name="contacts_name_not_blank",
    ),
    CheckConstraint(f"email IS NULL OR email ~* {EMAIL_FORMAT}", name="contacts_email_format"),
    schema="crm",
)
Index("idx_contacts_owner_id", contacts.c.owner_id)
Index(
    "idx_contacts_one_primary_per_customer",
    contacts.c.customer_id,
    unique=True,
    postgresql_where=contacts.c.is_primary,
)

deal_stages = Table(
    "deal_stages",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column("name", String(60), nullable=False),
    Column("position", Integer, nullable=False),
    Column("probability", Integer, nullable=False, server_default=text("0")),
    Column("is_won", Boolean, nullable=False, server_default=text("false")),
    Column("is_lost", Boolean, nullable=False, server_default=text("false")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="deal_stages_pkey"),
    UniqueConstraint("name", name="deal_stages_name_key"),
    UniqueConstraint("position", name="deal_stages_position_key"),
    CheckConstraint("position > 0", name="deal_stages_position_positive"),
    CheckConstraint("probability BETWEEN 0 AND 100", name="deal_stages_probability_range"),
    CheckConstraint("NOT (is_won AND is_lost)", name="deal_stages_not_won_and_lost"),
    schema="crm",
)

deals = Table(
    "deals",
    metadata,
    uuid_id(),
    Column("customer_id", Uuid, nullable=False),
    Column("contact_id", Uuid),
    Column("stage_id", BigInteger, nullable=False),
    Column("owner_id", Uuid, nullable=False),
    Column("title", String(200), nullable=False),
    Column("amount", Numeric(14, 2), nullable=False, server_default=text("0")),
    Column("currency", CHAR(3), nullable=False, server_default=text("'EUR'")),
    Column("expected_close_date", Date),
    Column("closed_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="deals_pkey"),
    ForeignKeyConstraint(
        ["customer_id"], ["crm.customers.id"], name="deals_customer_id_fkey", ondelete="CASCADE"
    ),
    ForeignKeyConstraint(
        ["contact_id"], ["crm.contacts.id"], name="deals_contact_id_fkey", ondelete="SET NULL"
    ),
    ForeignKeyConstraint(["stage_id"], ["crm.deal_stages.id"], name="deals_stage_id_fkey"),
    ForeignKeyConstraint(["owner_id"], ["auth.users.id"], name="deals_owner_id_fkey"),
    CheckConstraint("length(btrim(title)) > 0", name="deals_title_not_blank"),
    CheckConstraint("amount >= 0", name="deals_amount_not_negative"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="deals_currency_iso"),
    schema="crm",
)
Index("idx_deals_customer_id", deals.c.customer_id)
Index("idx_deals_contact_id", deals.c.contact_id)
Index("idx_deals_stage_id", deals.c.stage_id)
Index("idx_deals_owner_id_stage_id", deals.c.owner_id, deals.c.stage_id)

activities = Table(
    "activities",
    metadata,
    uuid_id(),
    Column("customer_id", Uuid, nullable=False),
    Column("contact_id", Uuid),
    Column("deal_id", Uuid),
    Column("owner_id", Uuid, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text),
    Column("due_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="activities_pkey"),
    ForeignKeyConstraint(
        ["customer_id"],
        ["crm.customers.id"],
        name="activities_customer_id_fkey",
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["contact_id"],
        ["crm.contacts.id"],
        name="activities_contact_id_fkey",
        ondelete="SET NULL",
    ),
    ForeignKeyConstraint(
        ["deal_id"], ["crm.deals.id"], name="activities_deal_id_fkey", ondelete="SET NULL"
    ),
    ForeignKeyConstraint(["owner_id"], ["auth.users.id"], name="activities_owner_id_fkey"),
    CheckConstraint(
        "kind::text IN ('call', 'email', 'meeting', 'note', 'task')", name="activities_kind_valid"
    ),
    CheckConstraint("length(btrim(subject)) > 0", name="activities_subject_not_blank"),
    schema="crm",
)
Index(
    "idx_activities_customer_id_created_at",
    activities.c.customer_id,
    activities.c.created_at.desc(),
)
Index("idx_activities_contact_id", activities.c.contact_id)
Index("idx_activities_deal_id", activities.c.deal_id)
Index("idx_activities_owner_id_due_at", activities.c.owner_id, activities.c.due_at)
