"""Make inosec_edge's check constraints survive a dump

Migration: make check constraints survive a dump
Service: inosec-edge
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Why and how: see auth's 20261128_001 (the `::text IN` form survives a dump).

Replaces edge_devices_status_valid, policy_assignments_status_valid,
device_reports_report_type_valid and device_reports_severity_valid.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_007"
down_revision = "20240418_002"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
}

UPGRADE = """
ALTER TABLE inosec_edge.edge_devices
    DROP CONSTRAINT IF EXISTS edge_devices_status_valid,
    ADD CONSTRAINT edge_devices_status_valid
        CHECK (status::text IN ('pending', 'online', 'offline', 'retired')) NOT VALID;

ALTER TABLE inosec_edge.policy_assignments
    DROP CONSTRAINT IF EXISTS policy_assignments_status_valid,
    ADD CONSTRAINT policy_assignments_status_valid
        CHECK (status::text IN ('pending', 'applied', 'failed', 'revoked')) NOT VALID;

ALTER TABLE inosec_edge.device_reports
    DROP CONSTRAINT IF EXISTS device_reports_report_type_valid,
    ADD CONSTRAINT device_reports_report_type_valid
        CHECK (report_type::text IN ('compliance', 'violation', 'threat', 'inventory')) NOT VALID;

ALTER TABLE inosec_edge.device_reports
    DROP CONSTRAINT IF EXISTS device_reports_severity_valid,
    ADD CONSTRAINT device_reports_severity_valid
        CHECK (severity::text IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_edge.edge_devices VALIDATE CONSTRAINT edge_devices_status_valid;
ALTER TABLE inosec_edge.policy_assignments VALIDATE CONSTRAINT policy_assignments_status_valid;
ALTER TABLE inosec_edge.device_reports VALIDATE CONSTRAINT device_reports_report_type_valid;
ALTER TABLE inosec_edge.device_reports VALIDATE CONSTRAINT device_reports_severity_valid;
"""

DOWNGRADE = """
ALTER TABLE inosec_edge.edge_devices
    DROP CONSTRAINT IF EXISTS edge_devices_status_valid,
    ADD CONSTRAINT edge_devices_status_valid
        CHECK (status IN ('pending', 'online', 'offline', 'retired')) NOT VALID;

ALTER TABLE inosec_edge.policy_assignments
    DROP CONSTRAINT IF EXISTS policy_assignments_status_valid,
    ADD CONSTRAINT policy_assignments_status_valid
        CHECK (status IN ('pending', 'applied', 'failed', 'revoked')) NOT VALID;

ALTER TABLE inosec_edge.device_reports
    DROP CONSTRAINT IF EXISTS device_reports_report_type_valid,
    ADD CONSTRAINT device_reports_report_type_valid
        CHECK (report_type IN ('compliance', 'violation', 'threat', 'inventory')) NOT VALID;

ALTER TABLE inosec_edge.device_reports
    DROP CONSTRAINT IF EXISTS device_reports_severity_valid,
    ADD CONSTRAINT device_reports_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_edge.edge_devices VALIDATE CONSTRAINT edge_devices_status_valid;
ALTER TABLE inosec_edge.policy_assignments VALIDATE CONSTRAINT policy_assignments_status_valid;
ALTER TABLE inosec_edge.device_reports VALIDATE CONSTRAINT device_reports_report_type_valid;
ALTER TABLE inosec_edge.device_reports VALIDATE CONSTRAINT device_reports_severity_valid;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
