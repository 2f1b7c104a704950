INSERT INTO workflow.definitions (name, version, definition) VALUES
    ('lead-follow-up', 1, '{"trigger": "crm.customer.created", "steps": [{"send": "welcome"}]}')
ON CONFLICT (name, version) DO NOTHING;
