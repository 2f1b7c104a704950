INSERT INTO inosec_core.security_policies (name, description, severity, rules) VALUES
    ('baseline', 'Default policy for new edge devices', 'medium', '[{"block": "telnet"}]')
ON CONFLICT (name) DO NOTHING;
