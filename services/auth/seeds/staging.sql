-- The staging smoke-test account; its real credential is set by the staging deployment.
INSERT INTO auth.users (id, email, password_hash) VALUES
    ('00000000-0000-4000-8000-0000000000aa', 'smoke-test@inopsio.example', 'staging-placeholder-not-a-hash')
ON CONFLICT (email) DO NOTHING;
