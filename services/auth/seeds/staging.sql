-- The staging smoke-test account; its real credential is set by the staging deployment.
INSERT INTO auth.users (id, email, password_hash) VALUES
    ('00000000-0000-4000-8000-0000000000aa', 'smoke-test@inopsio.example', 'staging-placeholder-not-a-hash')
ON CONFLICT (email) DO NOTHING;

-- The platform's roles, which staging's sign-ins and permission checks need.
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
FROM auth.users JOIN auth.roles ON roles.name = 'member'
WHERE users.email = 'smoke-test@inopsio.example'
ON CONFLICT DO NOTHING;
