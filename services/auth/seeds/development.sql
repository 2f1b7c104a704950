-- Development accounts. The password hashes are placeholders that match no password: sign-in
-- in development goes through the auth service's development login.
INSERT INTO auth.users (id, email, password_hash) VALUES
    ('00000000-0000-4000-8000-000000000001', 'admin@inopsio.example', 'dev-placeholder-1'),
    ('00000000-0000-4000-8000-000000000002', 'alice@inopsio.example', 'dev-placeholder-2'),
    ('00000000-0000-4000-8000-000000000003', 'bob@inopsio.example', 'dev-placeholder-3')
ON CONFLICT (email) DO NOTHING;
