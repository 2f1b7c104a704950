INSERT INTO email.templates (name, locale, subject, body_html, body_text) VALUES
    ('welcome', 'en-US', 'Welcome to Inopsio', '<p>Hello {{name}}, welcome aboard.</p>', 'Hello {{name}}, welcome aboard.'),
    ('welcome', 'fr-FR', 'Bienvenue sur Inopsio', '<p>Bonjour {{name}}, bienvenue.</p>', 'Bonjour {{name}}, bienvenue.')
ON CONFLICT (name, locale, version) DO NOTHING;
