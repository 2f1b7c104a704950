"""Create device reports

Migration: create device reports
Service: inosec-edge
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-18
Dependencies: ["20240417_002"]

Devices report to inosec_core what they see under the policies they enforce: compliance
snapshots, rule violations, matched threats, inventory. A report names the security policy and
the rule it concerns and, once inosec_core has raised an alert from it, that alert: both
inosec_core.policy_rules and inosec_core.alerts come with revision 20240417_002. The partial
index on unprocessed reports is the work queue of the core's ingestion.
"""

from migrator.revision import run_sql

revision = "20240418_002"
down_revision = "20240418_001"
branch_labels = ()
depends_on = ("20240417_002",)

UPGRADE = """
CREATE TABLE IF NOT EXISTS inosec_edge.device_reports (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    device_id    uuid        NOT NULL,
    report_type  varchar(20) NOT NULL,
    severity     varchar(10) NOT NULL DEFAULT 'low',
    policy_id    uuid,
    rule_id      uuid,
    alert_id     bigint,
    source_ip    inet,
    payload      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    reported_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    CONSTRAINT device_reports_pkey PRIMARY KEY (id),
    CONSTRAINT device_reports_device_id_fkey FOREIGN KEY (device_id)
        REFERENCES inosec_edge.edge_devices (id) ON DELETE CASCADE,
    CONSTRAINT device_reports_policy_id_fkey FOREIGN KEY (policy_id)
        REFERENCES inosec_core.security_policies (id) ON DELETE SET NULL,
    CONSTRAINT device_reports_rule_id_fkey FOREIGN KEY (rule_id)
        REFERENCES inosec_core.policy_rules (id) ON DELETE SET NULL,
    CONSTRAINT device_reports_alert_id_fkey FOREIGN KEY (alert_id)
        REFERENCES inosec_core.alerts (id) ON DELETE SET NULL,
    CONSTRAINT device_reports_report_type_valid
        CHECK (report_type IN ('compliance', 'violation', 'threat', 'inventory')),
    CONSTRAINT device_reports_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT device_reports_payload_is_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT device_reports_processed_after_received CHECK (processed_at >= received_at)
);

CREATE INDEX IF NOT EXISTS idx_device_reports_device_id_reported_at
    ON inosec_edge.device_reports (device_id, reported_at);
CREATE INDEX IF NOT EXISTS idx_device_reports_unprocessed
    ON inosec_edge.device_reports (received_at) WHERE processed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_device_reports_policy_id ON inosec_edge.device_reports (policy_id);
CREATE INDEX IF NOT EXISTS idx_device_reports_rule_id ON inosec_edge.device_reports (rule_id);
CREATE INDEX IF NOT EXISTS idx_device_reports_alert_id ON inosec_edge.device_reports (alert_id);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS inosec_edge.idx_device_reports_alert_id;
DROP INDEX IF EXISTS inosec_edge.idx_device_reports_rule_id;
DROP INDEX IF EXISTS inosec_edge.idx_device_reports_policy_id;
DROP INDEX IF EXISTS inosec_edge.idx_device_reports_unprocessed;
DROP INDEX IF EXISTS inosec_edge.idx_device_reports_device_id_reported_at;
DROP TABLE IF EXISTS inosec_edge.device_reports;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
