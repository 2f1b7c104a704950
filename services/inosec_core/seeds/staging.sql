-- The baseline policy that edge devices enrolling in staging are given.
INSERT INTO inosec_core.security_policies (name, description, severity, rules) VALUES
    ('baseline', 'Default policy for new edge devices', 'medium', '[{"block": "telnet"}]')
ON CONFLICT (name) DO NOTHING;

INSERT INTO inosec_core.policy_rules (policy_id, name, description, position, action, protocol, port_from)
SELECT id, 'block-telnet', 'Telnet sends credentials in clear text', 0, 'deny', 'tcp', 23
FROM inosec_core.security_policies
WHERE name = 'baseline'
ON CONFLICT DO NOTHING;
