"""Create policy rules and alerts

Migration: create policy rules and alerts
Service: inosec-core
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-17
Dependencies: []

A security policy's rules become rows of their own, evaluated in `position` order per policy
(the policy's `rules` jsonb stays for the clients that still read it), so that what fires can
be named: an alert records the policy, the rule and the threat indicator that raised it, and the
incident it was grouped into (append-heavy, bigint identity keys). The reference to auth.users
relies on 20240417_001's dependency on auth. Every reference but the rule's policy goes NULL
when its target is deleted, so the alert outlives a removed rule, indicator or user.
"""

from migrator.revision import run_sql

revision = "20240417_002"
down_revision = "20240417_001"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS inosec_core.policy_rules (
    id               uuid         NOT NULL DEFAULT gen_random_uuid(),
    policy_id        uuid         NOT NULL,
    name             varchar(150) NOT NULL,
    description      text,
    position         integer      NOT NULL,
    action           varchar(10)  NOT NULL,
    direction        varchar(10)  NOT NULL DEFAULT 'inbound',
    protocol         varchar(10)  NOT NULL DEFAULT 'any',
    source_cidr      cidr,
    destination_cidr cidr,
    port_from        integer,
    port_to          integer,
    conditions       jsonb        NOT NULL DEFAULT '{}'::jsonb,
    is_enabled       boolean      NOT NULL DEFAULT true,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT policy_rules_pkey PRIMARY KEY (id),
    CONSTRAINT policy_rules_policy_id_position_key UNIQUE (policy_id, position),
    CONSTRAINT policy_rules_policy_id_name_key UNIQUE (policy_id, name),
    CONSTRAINT policy_rules_policy_id_fkey FOREIGN KEY (policy_id)
        REFERENCES inosec_core.security_policies (id) ON DELETE CASCADE,
    CONSTRAINT policy_rules_position_non_negative CHECK (position >= 0),
    CONSTRAINT policy_rules_action_valid CHECK (action IN ('allow', 'deny', 'alert', 'log')),
    CONSTRAINT policy_rules_direction_valid
        CHECK (direction IN ('inbound', 'outbound', 'both')),
    CONSTRAINT policy_rules_protocol_valid CHECK (protocol IN ('any', 'tcp', 'udp', 'icmp')),
    CONSTRAINT policy_rules_port_range
        CHECK (port_from BETWEEN 1 AND 65535 AND port_to BETWEEN port_from AND 65535),
    CONSTRAINT policy_rules_port_to_needs_port_from CHECK (port_to IS NULL OR port_from IS NOT NULL),
    CONSTRAINT policy_rules_ports_need_protocol
        CHECK (port_from IS NULL OR protocol IN ('tcp', 'udp')),
    CONSTRAINT policy_rules_conditions_is_object CHECK (jsonb_typeof(conditions) = 'object')
);

CREATE TABLE IF NOT EXISTS inosec_core.alerts (
    id              bigint       GENERATED ALWAYS AS IDENTITY,
    title           varchar(200) NOT NULL,
    severity        varchar(10)  NOT NULL,
    status          varchar(20)  NOT NULL DEFAULT 'new',
    policy_id       uuid,
    rule_id         uuid,
    indicator_id    bigint,
    incident_id     uuid,
    source_ip       inet,
    destination_ip  inet,
    details         jsonb        NOT NULL DEFAULT '{}'::jsonb,
    detected_at     timestamptz  NOT NULL DEFAULT now(),
    acknowledged_by uuid,
    acknowledged_at timestamptz,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT alerts_pkey PRIMARY KEY (id),
    CONSTRAINT alerts_policy_id_fkey FOREIGN KEY (policy_id)
        REFERENCES inosec_core.security_policies (id) ON DELETE SET NULL,
    CONSTRAINT alerts_rule_id_fkey FOREIGN KEY (rule_id)
        REFERENCES inosec_core.policy_rules (id) ON DELETE SET NULL,
    CONSTRAINT alerts_indicator_id_fkey FOREIGN KEY (indicator_id)
        REFERENCES inosec_core.threat_indicators (id) ON DELETE SET NULL,
    CONSTRAINT alerts_incident_id_fkey FOREIGN KEY (incident_id)
        REFERENCES inosec_core.incidents (id) ON DELETE SET NULL,
    CONSTRAINT alerts_acknowledged_by_fkey FOREIGN KEY (acknowledged_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT alerts_severity_valid CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT alerts_status_valid
        CHECK (status IN ('new', 'acknowledged', 'resolved', 'suppressed')),
    CONSTRAINT alerts_acknowledged_when_handled
        CHECK (status = 'new' OR acknowledged_at IS NOT NULL),
    CONSTRAINT alerts_details_is_object CHECK (jsonb_typeof(details) = 'object')
);

CREATE INDEX IF NOT EXISTS idx_alerts_open_detected_at ON inosec_core.alerts (detected_at)
    WHERE status IN ('new', 'acknowledged');
CREATE INDEX IF NOT EXISTS idx_alerts_policy_id ON inosec_core.alerts (policy_id);
CREATE INDEX IF NOT EXISTS idx_alerts_rule_id ON inosec_core.alerts (rule_id);
CREATE INDEX IF NOT EXISTS idx_alerts_indicator_id ON inosec_core.alerts (indicator_id);
CREATE INDEX IF NOT EXISTS idx_alerts_incident_id ON inosec_core.alerts (incident_id);
CREATE INDEX IF NOT EXISTS idx_alerts_acknowledged_by ON inosec_core.alerts (acknowledged_by);
CREATE INDEX IF NOT EXISTS idx_alerts_source_ip ON inosec_core.alerts (source_ip);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS inosec_core.idx_alerts_source_ip;
DROP INDEX IF EXISTS inosec_core.idx_alerts_acknowledged_by;
DROP INDEX IF EXISTS inosec_core.idx_alerts_incident_id;
DROP INDEX IF EXISTS inosec_core.idx_alerts_indicator_id;
DROP INDEX IF EXISTS inosec_core.idx_alerts_rule_id;
DROP INDEX IF EXISTS inosec_core.idx_alerts_policy_id;
DROP INDEX IF EXISTS inosec_core.idx_alerts_open_detected_at;
DROP TABLE IF EXISTS inosec_core.alerts;
DROP TABLE IF EXISTS inosec_core.policy_rules;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
