"""Make inosec_core's check constraints and partial indexes survive a dump

Migration: make check constraints survive a dump
Service: inosec-core
Author: Inopsio Platform <platform@inopsio.example>
Date: 2026-11-28
Dependencies: []

Why and how: see auth's 20261128_001 (the `::text IN` form survives a dump).

Replaces security_policies_severity_valid, threat_indicators_type_valid,
threat_indicators_severity_valid, incidents_severity_valid, incidents_status_valid,
incidents_resolved_when_done, policy_rules_action_valid,
policy_rules_direction_valid, policy_rules_protocol_valid,
policy_rules_ports_need_protocol, alerts_severity_valid and alerts_status_valid, and
rebuilds the partial indexes idx_incidents_open_severity and
idx_alerts_open_detected_at (CREATE INDEX CONCURRENTLY under a temporary name, DROP
INDEX CONCURRENTLY of the old one, rename). policy_rules_port_range changes for a
related reason: `a BETWEEN x AND y AND b BETWEEN ...` is stored as an AND nested in an
AND, which a restore flattens; written as one flat AND of the four comparisons that
BETWEEN stands for, it means the same and survives a dump.

Each check is dropped and added again in one ALTER TABLE (the table is never without it),
NOT VALID so that the ALTER does not scan the table. The ALTERs commit before the
CONCURRENTLY statements of the index rebuild and the VALIDATE CONSTRAINT statements, which the
tool runs outside the revision's transaction: the scans hold only SHARE UPDATE EXCLUSIVE,
which lets reads and writes go on.

The rollback puts the original forms back the same way.
"""

from migrator.revision import run_sql

revision = "20261128_006"
down_revision = "20240417_002"
branch_labels = ()
depends_on = None
lint_accept = {
    "ban-drop-constraint": "dropped and added again in one ALTER TABLE: never without it",
    "renaming-object": "the rebuilt index takes back the name of the one it replaces",
}

UPGRADE = """
ALTER TABLE inosec_core.security_policies
    DROP CONSTRAINT IF EXISTS security_policies_severity_valid,
    ADD CONSTRAINT security_policies_severity_valid
        CHECK (severity::text IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.threat_indicators
    DROP CONSTRAINT IF EXISTS threat_indicators_type_valid,
    ADD CONSTRAINT threat_indicators_type_valid
        CHECK (indicator_type::text IN ('ip', 'cidr', 'domain', 'url', 'file_hash', 'email')) NOT VALID;

ALTER TABLE inosec_core.threat_indicators
    DROP CONSTRAINT IF EXISTS threat_indicators_severity_valid,
    ADD CONSTRAINT threat_indicators_severity_valid
        CHECK (severity::text IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.incidents
    DROP CONSTRAINT IF EXISTS incidents_severity_valid,
    ADD CONSTRAINT incidents_severity_valid
        CHECK (severity::text IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.incidents
    DROP CONSTRAINT IF EXISTS incidents_status_valid,
    ADD CONSTRAINT incidents_status_valid
        CHECK (status::text IN ('open', 'investigating', 'contained', 'resolved', 'closed')) NOT VALID;

ALTER TABLE inosec_core.incidents
    DROP CONSTRAINT IF EXISTS incidents_resolved_when_done,
    ADD CONSTRAINT incidents_resolved_when_done
        CHECK (status::text NOT IN ('resolved', 'closed') OR resolved_at IS NOT NULL) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_action_valid,
    ADD CONSTRAINT policy_rules_action_valid
        CHECK (action::text IN ('allow', 'deny', 'alert', 'log')) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_direction_valid,
    ADD CONSTRAINT policy_rules_direction_valid
        CHECK (direction::text IN ('inbound', 'outbound', 'both')) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_protocol_valid,
    ADD CONSTRAINT policy_rules_protocol_valid
        CHECK (protocol::text IN ('any', 'tcp', 'udp', 'icmp')) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_port_range,
    ADD CONSTRAINT policy_rules_port_range
        CHECK (port_from >= 1 AND port_from <= 65535 AND port_to >= port_from AND port_to <= 65535) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_ports_need_protocol,
    ADD CONSTRAINT policy_rules_ports_need_protocol
        CHECK (port_from IS NULL OR protocol::text IN ('tcp', 'udp')) NOT VALID;

ALTER TABLE inosec_core.alerts
    DROP CONSTRAINT IF EXISTS alerts_severity_valid,
    ADD CONSTRAINT alerts_severity_valid
        CHECK (severity::text IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.alerts
    DROP CONSTRAINT IF EXISTS alerts_status_valid,
    ADD CONSTRAINT alerts_status_valid
        CHECK (status::text IN ('new', 'acknowledged', 'resolved', 'suppressed')) NOT VALID;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_incidents_open_severity_new ON inosec_core.incidents (severity, opened_at)
    WHERE status::text IN ('open', 'investigating', 'contained');
DROP INDEX CONCURRENTLY IF EXISTS inosec_core.idx_incidents_open_severity;
ALTER INDEX IF EXISTS inosec_core.idx_incidents_open_severity_new RENAME TO idx_incidents_open_severity;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_alerts_open_detected_at_new ON inosec_core.alerts (detected_at)
    WHERE status::text IN ('new', 'acknowledged');
DROP INDEX CONCURRENTLY IF EXISTS inosec_core.idx_alerts_open_detected_at;
ALTER INDEX IF EXISTS inosec_core.idx_alerts_open_detected_at_new RENAME TO idx_alerts_open_detected_at;

-- After the CONCURRENTLY statements: the ALTERs above have committed by now.
ALTER TABLE inosec_core.security_policies VALIDATE CONSTRAINT security_policies_severity_valid;
ALTER TABLE inosec_core.threat_indicators VALIDATE CONSTRAINT threat_indicators_type_valid;
ALTER TABLE inosec_core.threat_indicators VALIDATE CONSTRAINT threat_indicators_severity_valid;
ALTER TABLE inosec_core.incidents VALIDATE CONSTRAINT incidents_severity_valid;
ALTER TABLE inosec_core.incidents VALIDATE CONSTRAINT incidents_status_valid;
ALTER TABLE inosec_core.incidents VALIDATE CONSTRAINT incidents_resolved_when_done;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_action_valid;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_direction_valid;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_protocol_valid;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_port_range;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_ports_need_protocol;
ALTER TABLE inosec_core.alerts VALIDATE CONSTRAINT alerts_severity_valid;
ALTER TABLE inosec_core.alerts VALIDATE CONSTRAINT alerts_status_valid;
"""

DOWNGRADE = """
ALTER TABLE inosec_core.security_policies
    DROP CONSTRAINT IF EXISTS security_policies_severity_valid,
    ADD CONSTRAINT security_policies_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.threat_indicators
    DROP CONSTRAINT IF EXISTS threat_indicators_type_valid,
    ADD CONSTRAINT threat_indicators_type_valid
        CHECK (indicator_type IN ('ip', 'cidr', 'domain', 'url', 'file_hash', 'email')) NOT VALID;

ALTER TABLE inosec_core.threat_indicators
    DROP CONSTRAINT IF EXISTS threat_indicators_severity_valid,
    ADD CONSTRAINT threat_indicators_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.incidents
    DROP CONSTRAINT IF EXISTS incidents_severity_valid,
    ADD CONSTRAINT incidents_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.incidents
    DROP CONSTRAINT IF EXISTS incidents_status_valid,
    ADD CONSTRAINT incidents_status_valid
        CHECK (status IN ('open', 'investigating', 'contained', 'resolved', 'closed')) NOT VALID;

ALTER TABLE inosec_core.incidents
    DROP CONSTRAINT IF EXISTS incidents_resolved_when_done,
    ADD CONSTRAINT incidents_resolved_when_done
        CHECK (status NOT IN ('resolved', 'closed') OR resolved_at IS NOT NULL) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_action_valid,
    ADD CONSTRAINT policy_rules_action_valid
        CHECK (action IN ('allow', 'deny', 'alert', 'log')) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_direction_valid,
    ADD CONSTRAINT policy_rules_direction_valid
        CHECK (direction IN ('inbound', 'outbound', 'both')) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_protocol_valid,
    ADD CONSTRAINT policy_rules_protocol_valid
        CHECK (protocol IN ('any', 'tcp', 'udp', 'icmp')) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_port_range,
    ADD CONSTRAINT policy_rules_port_range
        CHECK (port_from BETWEEN 1 AND 65535 AND port_to BETWEEN port_from AND 65535) NOT VALID;

ALTER TABLE inosec_core.policy_rules
    DROP CONSTRAINT IF EXISTS policy_rules_ports_need_protocol,
    ADD CONSTRAINT policy_rules_ports_need_protocol
        CHECK (port_from IS NULL OR protocol IN ('tcp', 'udp')) NOT VALID;

ALTER TABLE inosec_core.alerts
    DROP CONSTRAINT IF EXISTS alerts_severity_valid,
    ADD CONSTRAINT alerts_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')) NOT VALID;

ALTER TABLE inosec_core.alerts
    DROP CONSTRAINT IF EXISTS alerts_status_valid,
    ADD CONSTRAINT alerts_status_valid
        CHECK (status IN ('new', 'acknowledged', 'resolved', 'suppressed')) NOT VALID;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_incidents_open_severity_new ON inosec_core.incidents (severity, opened_at)
    WHERE status IN ('open', 'investigating', 'contained');
DROP INDEX CONCURRENTLY IF EXISTS inosec_core.idx_incidents_open_severity;
ALTER INDEX IF EXISTS inosec_core.idx_incidents_open_severity_new RENAME TO idx_incidents_open_severity;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_alerts_open_detected_at_new ON inosec_core.alerts (detected_at)
    WHERE status IN ('new', 'acknowledged');
DROP INDEX CONCURRENTLY IF EXISTS inosec_core.idx_alerts_open_detected_at;
ALTER INDEX IF EXISTS inosec_core.idx_alerts_open_detected_at_new RENAME TO idx_alerts_open_detected_at;

-- After the CONCURRENTLY statements: the ALTERs above have committed by now.
ALTER TABLE inosec_core.security_policies VALIDATE CONSTRAINT security_policies_severity_valid;
ALTER TABLE inosec_core.threat_indicators VALIDATE CONSTRAINT threat_indicators_type_valid;
ALTER TABLE inosec_core.threat_indicators VALIDATE CONSTRAINT threat_indicators_severity_valid;
ALTER TABLE inosec_core.incidents VALIDATE CONSTRAINT incidents_severity_valid;
ALTER TABLE inosec_core.incidents VALIDATE CONSTRAINT incidents_status_valid;
ALTER TABLE inosec_core.incidents VALIDATE CONSTRAINT incidents_resolved_when_done;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_action_valid;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_direction_valid;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_protocol_valid;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_port_range;
ALTER TABLE inosec_core.policy_rules VALIDATE CONSTRAINT policy_rules_ports_need_protocol;
ALTER TABLE inosec_core.alerts VALIDATE CONSTRAINT alerts_severity_valid;
ALTER TABLE inosec_core.alerts VALIDATE CONSTRAINT alerts_status_valid;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
