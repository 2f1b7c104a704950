-- Two edge devices: one online under inosec_core's baseline policy (its development seeds), one
-- waiting for enrolment. Heartbeats and reports are left out: their ids are generated, so a
-- second run of this file could not tell its rows from new ones.
INSERT INTO inosec_edge.edge_devices (id, hostname, ip_address, policy_id, status, last_seen_at)
SELECT '00000000-0000-4000-8000-000000000901', 'edge-paris-01', '10.10.0.11', id, 'online',
       '2024-04-18 08:00:00+00'
FROM inosec_core.security_policies
WHERE name = 'baseline'
ON CONFLICT DO NOTHING;

INSERT INTO inosec_edge.edge_devices (id, hostname, ip_address, status) VALUES
    ('00000000-0000-4000-8000-000000000902', 'edge-lyon-01', '10.20.0.11', 'pending')
ON CONFLICT DO NOTHING;

INSERT INTO inosec_edge.policy_assignments (device_id, policy_id, status, applied_at)
SELECT devices.id, devices.policy_id, 'applied', '2024-04-18 08:05:00+00'
FROM inosec_edge.edge_devices AS devices
WHERE devices.hostname = 'edge-paris-01' AND devices.policy_id IS NOT NULL
ON CONFLICT DO NOTHING;
