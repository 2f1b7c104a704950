INSERT INTO "user".profiles (user_id, display_name, locale, timezone) VALUES
    ('00000000-0000-4000-8000-000000000001', 'Admin', 'en-US', 'UTC'),
    ('00000000-0000-4000-8000-000000000002', 'Alice Martin', 'fr-FR', 'Europe/Paris'),
    ('00000000-0000-4000-8000-000000000003', 'Bob Keller', 'de-DE', 'Europe/Berlin')
ON CONFLICT (user_id) DO NOTHING;

INSERT INTO "user".preferences (user_id, key, value) VALUES
    ('00000000-0000-4000-8000-000000000002', 'theme', '"dark"'),
    ('00000000-0000-4000-8000-000000000003', 'digest', '{"frequency": "weekly"}')
ON CONFLICT (user_id, key) DO NOTHING;
