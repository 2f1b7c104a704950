"""Make inosec_edge's check constraints survive a dump

Migration: make check constraints survive a dump
Service: inosec-edge
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Early revisions wrote value lists on varchar columns as `col IN ('a', 'b')`. PostgreSQL
stores that as `(col)::text = ANY ((ARRAY['a'::varchar, ...])::text[])`; pg_dump writes it
out and the restored server reads it back as `ARRAY[('a'::varchar)::text, ...]`, so a
restored catalog no longer reads like the one the revisions build. Written as
`col::text IN ('a', 'b')` (as later revisions do), the stored form survives a dump
unchanged. Names and meanings stay as they were.

Replaces edge_devices_status_valid, policy_assignments_status_valid,
device_reports_report_type_valid and device_reports_severity_valid.

Each check is dropped and added again in one ALTER TABLE (the table is never without it),
NOT VALID so that the ALTER does not scan the table, then validated: the tool runs each
VALIDATE CONSTRAINT after the ALTERs before it have committed, so its scan holds only SHARE
UPDATE EXCLUSIVE, which lets reads and writes go on.

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
