"""Create crm contacts

Migration: create crm contacts
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-12
Dependencies: []

A customer is a company; sales talk to people there. Contacts belong to one customer (and go
with it), are owned by the auth user who manages them, and at most one per customer is its
primary contact, which a partial unique index guarantees.
"""

from migrator.revision import run_sql

revision = "20240412_001"
down_revision = "20240301_003"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS crm.contacts (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    customer_id uuid         NOT NULL,
    owner_id    uuid         NOT NULL,
    first_name  varchar(100) NOT NULL,
    last_name   varchar(100) NOT NULL,
    email       varchar(255),
    phone       varchar(40),
    job_title   varchar(150),
    is_primary  boolean      NOT NULL DEFAULT false,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT contacts_pkey PRIMARY KEY (id),
    CONSTRAINT contacts_customer_id_fkey FOREIGN KEY (customer_id)
        REFERENCES crm.customers (id) ON DELETE CASCADE,
    CONSTRAINT contacts_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES auth.users (id),
    CONSTRAINT contacts_customer_email_key UNIQUE (customer_id, email),
    CONSTRAINT contacts_name_not_blank
        CHECK (length(btrim(first_name)) > 0 AND length(btrim(last_name)) > 0),
    CONSTRAINT contacts_email_format
        CHECK (email IS NULL OR email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$')
);

CREATE INDEX IF NOT EXISTS idx_contacts_owner_id ON crm.contacts (owner_id);

-- At most one primary contact per customer.
CREATE UNIQUE INDEX IF NOT EXISTS idx_contacts_one_primary_per_customer
    ON crm.contacts (customer_id) WHERE is_primary;
"""

DOWNGRADE = """
DROP INDEX IF EXISTS crm.idx_contacts_one_primary_per_customer;
DROP INDEX IF EXISTS crm.idx_contacts_owner_id;
DROP TABLE IF EXISTS crm.contacts;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
