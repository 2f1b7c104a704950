"""Drop customers.name now that legal_name replaces it

Migration: drop customers name (contract 3 of 3: rename name to legal_name)
Service: crm-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-03-01
Dependencies: []

Blue-green rename, step 3 (contract): run only once no deployed code reads or writes `name`.
SET NOT NULL uses the validated CHECK of step 2 instead of scanning the table.
"""

from migrator.revision import run_sql

revision = "20240301_003"
down_revision = "20240301_002"
branch_labels = ()
depends_on = None
phase = "contract"
lint_accept = {
    "adding-not-nullable-field": "the validated CHECK (legal_name IS NOT NULL) of 20240301_002 "
    "lets PostgreSQL 12+ set NOT NULL without scanning the table",
    "ban-drop-constraint": "a contract step: the CHECK is superseded by NOT NULL",
    "ban-drop-function": "a contract step: the sync trigger's function has no caller left",
    "ban-drop-column": "a contract step: run once no deployed code reads customers.name",
    "constraint-missing-not-valid": "the rollback restores the CHECK exactly as it was; rows "
    "all satisfy it, since legal_name is NOT NULL until then",
}

UPGRADE = """
ALTER TABLE crm.customers ALTER COLUMN legal_name SET NOT NULL;
ALTER TABLE crm.customers DROP CONSTRAINT IF EXISTS customers_legal_name_present;
DROP TRIGGER IF EXISTS customers_sync_legal_name ON crm.customers;
DROP FUNCTION IF EXISTS crm.customers_sync_legal_name();
ALTER TABLE crm.customers DROP COLUMN IF EXISTS name;
"""

DOWNGRADE = """
ALTER TABLE crm.customers ADD COLUMN IF NOT EXISTS name varchar(200);
UPDATE crm.customers SET name = legal_name;
ALTER TABLE crm.customers ALTER COLUMN name SET NOT NULL;

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

ALTER TABLE crm.customers
    ADD CONSTRAINT customers_legal_name_present CHECK (legal_name IS NOT NULL);
ALTER TABLE crm.customers ALTER COLUMN legal_name DROP NOT NULL;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
