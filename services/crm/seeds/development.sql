-- Seeds load after the migrations, so no backfill ever sees these rows: each one carries what
-- the backfills would have given it (email_normalized: lower(btrim(email)), as revision
-- 20240420_001 fills and validates it). A database seeded before that column was part of the
-- seed gets its rows corrected, and only those: a row that is already right is left alone.
INSERT INTO crm.customers (id, owner_id, assigned_to, legal_name, email, email_normalized, status) VALUES
    ('00000000-0000-4000-8000-000000000101', '00000000-0000-4000-8000-000000000002',
     '00000000-0000-4000-8000-000000000002', 'Acme Industrie SAS', 'contact@acme.example',
     'contact@acme.example', 'customer'),
    ('00000000-0000-4000-8000-000000000102', '00000000-0000-4000-8000-000000000003',
     NULL, 'Globex GmbH', 'sales@globex.example', 'sales@globex.example', 'lead')
ON CONFLICT (id) DO UPDATE SET email_normalized = lower(btrim(crm.customers.email))
WHERE crm.customers.email IS NOT NULL
  AND crm.customers.email_normalized IS DISTINCT FROM lower(btrim(crm.customers.email));
