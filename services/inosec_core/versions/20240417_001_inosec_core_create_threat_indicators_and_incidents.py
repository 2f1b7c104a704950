"""Create threat indicators and incidents

Migration: create threat indicators and incidents
Service: inosec-core
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-17
Dependencies: ["20240101_001"]

Threat indicators are the intelligence detection matches against: one row per indicator type
and value, with severity, confidence and the window in which it was seen (bigint identity keys:
feeds bring many). Incidents are what analysts work through to closure; an incident may name
the security policy it concerns and is assigned to an auth user, hence the dependency on auth.
Both references go NULL when their target is deleted, so the record outlives them.
"""

from migrator.revision import run_sql

revision = "20240417_001"
down_revision = "20240101_008"
branch_labels = ()
depends_on = ("20240101_001",)
lint_accept = {"prefer-bigint-over-smallint": "confidence is 0 to 100 by its CHECK constraint"}

UPGRADE = """
CREATE TABLE IF NOT EXISTS inosec_core.threat_indicators (
    id             bigint       GENERATED ALWAYS AS IDENTITY,
    indicator_type varchar(20)  NOT NULL,
    value          text         NOT NULL,
    severity       varchar(10)  NOT NULL DEFAULT 'medium',
    confidence     smallint     NOT NULL DEFAULT 50,
    source         varchar(100) NOT NULL,
    description    text,
    context        jsonb        NOT NULL DEFAULT '{}'::jsonb,
    is_active      boolean      NOT NULL DEFAULT true,
    first_seen_at  timestamptz  NOT NULL DEFAULT now(),
    last_seen_at   timestamptz  NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT threat_indicators_pkey PRIMARY KEY (id),
    CONSTRAINT threat_indicators_type_value_key UNIQUE (indicator_type, value),
    CONSTRAINT threat_indicators_type_valid
        CHECK (indicator_type IN ('ip', 'cidr', 'domain', 'url', 'file_hash', 'email')),
    CONSTRAINT threat_indicators_severity_valid
        CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT threat_indicators_confidence_range CHECK (confidence BETWEEN 0 AND 100),
    CONSTRAINT threat_indicators_seen_order CHECK (last_seen_at >= first_seen_at),
    CONSTRAINT threat_indicators_context_is_object CHECK (jsonb_typeof(context) = 'object')
);

CREATE INDEX IF NOT EXISTS idx_threat_indicators_active_last_seen_at
    ON inosec_core.threat_indicators (last_seen_at) WHERE is_active;

CREATE TABLE IF NOT EXISTS inosec_core.incidents (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    title       varchar(200) NOT NULL,
    description text,
    severity    varchar(10)  NOT NULL DEFAULT 'medium',
    status      varchar(20)  NOT NULL DEFAULT 'open',
    policy_id   uuid,
    assigned_to uuid,
    opened_at   timestamptz  NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolution  text,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT incidents_pkey PRIMARY KEY (id),
    CONSTRAINT incidents_policy_id_fkey FOREIGN KEY (policy_id)
        REFERENCES inosec_core.security_policies (id) ON DELETE SET NULL,
    CONSTRAINT incidents_assigned_to_fkey FOREIGN KEY (assigned_to)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT incidents_severity_valid CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT incidents_status_valid
        CHECK (status IN ('open', 'investigating', 'contained', 'resolved', 'closed')),
    CONSTRAINT incidents_resolved_when_done
        CHECK (status NOT IN ('resolved', 'closed') OR resolved_at IS NOT NULL),
    CONSTRAINT incidents_resolved_after_opened CHECK (resolved_at >= opened_at)
);

CREATE INDEX IF NOT EXISTS idx_incidents_open_severity ON inosec_core.incidents (severity, opened_at)
    WHERE status IN ('open', 'investigating', 'contained');
CREATE INDEX IF NOT EXISTS idx_incidents_policy_id ON inosec_core.incidents (policy_id);
CREATE INDEX IF NOT EXISTS idx_incidents_assigned_to ON inosec_core.incidents (assigned_to);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS inosec_core.idx_incidents_assigned_to;
DROP INDEX IF EXISTS inosec_core.idx_incidents_policy_id;
DROP INDEX IF EXISTS inosec_core.idx_incidents_open_severity;
DROP TABLE IF EXISTS inosec_core.incidents;
DROP INDEX IF EXISTS inosec_core.idx_threat_indicators_active_last_seen_at;
DROP TABLE IF EXISTS inosec_core.threat_indicators;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
