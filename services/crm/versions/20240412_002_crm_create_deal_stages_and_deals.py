"""Create crm deal stages and deals

Migration: create crm deal stages and deals
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-12
Dependencies: []

The sales pipeline: deal_stages is the ordered list of stages (reference data, with the
platform's default pipeline inserted here so that a new installation can record deals at once),
and a deal is an opportunity with one customer, at one stage, owned by an auth user. A stage
that deals still use cannot be deleted; deleting a customer deletes its deals.
"""

from migrator.revision import run_sql

revision = "20240412_002"
down_revision = "20240412_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS crm.deal_stages (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    name        varchar(60) NOT NULL,
    position    integer     NOT NULL,
    probability integer     NOT NULL DEFAULT 0,
    is_won      boolean     NOT NULL DEFAULT false,
    is_lost     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deal_stages_pkey PRIMARY KEY (id),
    CONSTRAINT deal_stages_name_key UNIQUE (name),
    CONSTRAINT deal_stages_position_key UNIQUE (position),
    CONSTRAINT deal_stages_position_positive CHECK (position > 0),
    CONSTRAINT deal_stages_probability_range CHECK (probability BETWEEN 0 AND 100),
    CONSTRAINT deal_stages_not_won_and_lost CHECK (NOT (is_won AND is_lost))
);

INSERT INTO crm.deal_stages (name, position, probability, is_won, is_lost) VALUES
    ('qualification', 1, 10, false, false),
    ('proposal', 2, 40, false, false),
    ('negotiation', 3, 70, false, false),
    ('won', 4, 100, true, false),
    ('lost', 5, 0, false, true)
ON CONFLICT (name) DO NOTHING;

CREATE TABLE IF NOT EXISTS crm.deals (
    id                  uuid          NOT NULL DEFAULT gen_random_uuid(),
    customer_id         uuid          NOT NULL,
    contact_id          uuid,
    stage_id            bigint        NOT NULL,
    owner_id            uuid          NOT NULL,
    title               varchar(200)  NOT NULL,
    amount              numeric(14,2) NOT NULL DEFAULT 0,
    currency            char(3)       NOT NULL DEFAULT 'EUR',
    expected_close_date date,
    closed_at           timestamptz,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT deals_pkey PRIMARY KEY (id),
    CONSTRAINT deals_customer_id_fkey FOREIGN KEY (customer_id)
        REFERENCES crm.customers (id) ON DELETE CASCADE,
    CONSTRAINT deals_contact_id_fkey FOREIGN KEY (contact_id)
        REFERENCES crm.contacts (id) ON DELETE SET NULL,
    CONSTRAINT deals_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES crm.deal_stages (id),
    CONSTRAINT deals_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES auth.users (id),
    CONSTRAINT deals_title_not_blank CHECK (length(btrim(title)) > 0),
    CONSTRAINT deals_amount_not_negative CHECK (amount >= 0),
    CONSTRAINT deals_currency_iso CHECK (currency ~ '^[A-Z]{3}$')
);

CREATE INDEX IF NOT EXISTS idx_deals_customer_id ON crm.deals (customer_id);
CREATE INDEX IF NOT EXISTS idx_deals_contact_id ON crm.deals (contact_id);
CREATE INDEX IF NOT EXISTS idx_deals_stage_id ON crm.deals (stage_id);
CREATE INDEX IF NOT EXISTS idx_deals_owner_id_stage_id ON crm.deals (owner_id, stage_id);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS crm.idx_deals_owner_id_stage_id;
DROP INDEX IF EXISTS crm.idx_deals_stage_id;
DROP INDEX IF EXISTS crm.idx_deals_contact_id;
DROP INDEX IF EXISTS crm.idx_deals_customer_id;
DROP TABLE IF EXISTS crm.deals;
DROP TABLE IF EXISTS crm.deal_stages;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
