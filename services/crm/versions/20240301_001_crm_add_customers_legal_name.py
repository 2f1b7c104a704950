"""Add customers.legal_name, kept in step with name

Migration: add customers legal_name (expand 1 of 3: rename name to legal_name)
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-03-01
Dependencies: []

Blue-green rename, step 1 (expand): the new column arrives next to the old one, and a trigger
copies whichever one a writer sets into the other, so the running (old) code writing `name` and
the new code writing `legal_name` both work while both versions are deployed.
"""

from migrator.revision import run_sql

revision = "20240301_001"
down_revision = "20240101_003"
branch_labels = ()
depends_on = None
phase = "expand"

UPGRADE = """
ALTER TABLE crm.customers ADD COLUMN IF NOT EXISTS legal_name varchar(200);

CREATE OR REPLACE FUNCTION crm.customers_sync_legal_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.legal_name := coalesce(NEW.legal_name, NEW.name);
        NEW.name := coalesce(NEW.name, NEW.legal_name);
    ELSIF NEW.name IS DISTINCT FROM OLD.name THEN
        NEW.legal_name := NEW.name;
    ELSIF NEW.legal_name IS DISTINCT FROM OLD.legal_name THEN
        NEW.name := NEW.legal_name;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER customers_sync_legal_name
    BEFORE INSERT OR UPDATE ON crm.customers
    FOR EACH ROW EXECUTE FUNCTION crm.customers_sync_legal_name();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS customers_sync_legal_name ON crm.customers;
DROP FUNCTION IF EXISTS crm.customers_sync_legal_name();
ALTER TABLE crm.customers DROP COLUMN IF EXISTS legal_name;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
