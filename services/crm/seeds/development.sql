INSERT INTO crm.customers (id, owner_id, assigned_to, legal_name, email, status) VALUES
    ('00000000-0000-4000-8000-000000000101', '00000000-0000-4000-8000-000000000002',
     '00000000-0000-4000-8000-000000000002', 'Acme Industrie SAS', 'contact@acme.example', 'customer'),
    ('00000000-0000-4000-8000-000000000102', '00000000-0000-4000-8000-000000000003',
     NULL, 'Globex GmbH', 'sales@globex.example', 'lead')
ON CONFLICT (id) DO NOTHING;
