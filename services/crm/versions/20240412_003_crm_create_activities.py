"""Create crm activities

Migration: create crm activities
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-12
Dependencies: []

The timeline of a customer: calls, e-mails, meetings, notes and tasks, each owned by the auth
user who logged it, optionally about one contact and one deal. Deleting the contact or the deal
keeps the activity on the customer's timeline; deleting the customer deletes it.
"""

from migrator.revision import run_sql

revision = "20240412_003"
down_revision = "20240412_002"
branch_labels = ()
depends_on = None

UPGRADE = """
-- Value lists compare as text (`status::text IN (...)`): PostgreSQL's rendering of a
-- varchar `IN` list reads back differently, so pg_dump and restore would alter it.
CREATE TABLE IF NOT EXISTS crm.activities (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    customer_id  uuid         NOT NULL,
    contact_id   uuid,
    deal_id      uuid,
    owner_id     uuid         NOT NULL,
    kind         varchar(20)  NOT NULL,
    subject      varchar(200) NOT NULL,
    body         text,
    due_at       timestamptz,
    completed_at timestamptz,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT activities_pkey PRIMARY KEY (id),
    CONSTRAINT activities_customer_id_fkey FOREIGN KEY (customer_id)
        REFERENCES crm.customers (id) ON DELETE CASCADE,
    CONSTRAINT activities_contact_id_fkey FOREIGN KEY (contact_id)
        REFERENCES crm.contacts (id) ON DELETE SET NULL,
    CONSTRAINT activities_deal_id_fkey FOREIGN KEY (deal_id)
        REFERENCES crm.deals (id) ON DELETE SET NULL,
    CONSTRAINT activities_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES auth.users (id),
    CONSTRAINT activities_kind_valid
        CHECK (kind::text IN ('call', 'email', 'meeting', 'note', 'task')),
    CONSTRAINT activities_subject_not_blank CHECK (length(btrim(subject)) > 0)
);

CREATE INDEX IF NOT EXISTS idx_activities_customer_id_created_at
    ON crm.activities (customer_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_activities_contact_id ON crm.activities (contact_id);
CREATE INDEX IF NOT EXISTS idx_activities_deal_id ON crm.activities (deal_id);
CREATE INDEX IF NOT EXISTS idx_activities_owner_id_due_at ON crm.activities (owner_id, due_at);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS crm.idx_activities_owner_id_due_at;
DROP INDEX IF EXISTS crm.idx_activities_deal_id;
DROP INDEX IF EXISTS crm.idx_activities_contact_id;
DROP INDEX IF EXISTS crm.idx_activities_customer_id_created_at;
DROP TABLE IF EXISTS crm.activities;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
