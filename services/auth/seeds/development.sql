-- Development accounts. The password hashes are placeholders that match no password: sign-in
-- in development goes through the auth service's development login.
INSERT INTO auth.users (id, email, password_hash) VALUES
    ('00000000-0000-4000-8000-000000000001', 'admin@inopsio.example', 'dev-placeholder-1'),
    ('00000000-0000-4000-8000-000000000002', 'alice@inopsio.example', 'dev-placeholder-2'),
    ('00000000-0000-4000-8000-000000000003', 'bob@inopsio.example', 'dev-placeholder-3')
ON CONFLICT (email) DO NOTHING;

-- The platform's roles and who holds them; rows are joined by their natural keys, so a database
-- whose accounts or roles were created with other ids gets the grants all the same.
INSERT INTO auth.roles (id, name, description, is_system) VALUES
    ('00000000-0000-4000-8000-000000000011', 'admin', 'Every permission on the platform', true),
    ('00000000-0000-4000-8000-000000000012', 'member', 'Reads and edits the business data', true)
ON CONFLICT (name) DO NOTHING;

INSERT INTO auth.role_permissions (role_id, permission)
SELECT roles.id, granted.permission
FROM (VALUES
    ('admin', 'platform:*'),
    ('member', 'crm:read'),
    ('member', 'crm:write'),
    ('member', 'erp:read'),
    ('member', 'workflow:read')
) AS granted (role, permission)
JOIN auth.roles ON roles.name = granted.role
ON CONFLICT DO NOTHING;

INSERT INTO auth.user_roles (user_id, role_id)
SELECT users.id, roles.id
FROM (VALUES
    ('admin@inopsio.example', 'admin'),
    ('alice@inopsio.example', 'member'),
    ('bob@inopsio.example', 'member')
) AS granted (email, role)
JOIN auth.users ON users.email = granted.email
JOIN auth.roles ON roles.name = granted.role
ON CONFLICT DO NOTHING;
