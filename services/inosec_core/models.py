"""The inosec_core service's schema, as SQLAlchemy tables (what autogenerate and drift compare
with)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

SEVERITIES = "('low', 'medium', 'high', 'critical')"


security_policies = Table(
    "security_policies",
    metadata,
    uuid_id(),
    Column("name", String(150), nullable=False),
    Column("description", Text),
    Column("severity", String(10), nullable=False, server_default=text("'medium'")),
    Column("rules", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("is_enabled", Boolean, nullable=False, server_default=text("true")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="security_policies_pkey"),
    UniqueConstraint("name", name="security_policies_name_key"),
    CheckConstraint(f"severity IN {SEVERITIES}", name="security_policies_severity_valid"),
    CheckConstraint("jsonb_typeof(rules) = 'array'", name="security_policies_rules_is_array"),
    schema="inosec_core",
)

policy_rules = Table(
    "policy_rules",
    metadata,
    uuid_id(),
    Column(
        "policy_id",
        Uuid,
        ForeignKey(
            "inosec_core.security_policies.id",
            name="policy_rules_policy_id_fkey",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    Column("name", String(150), nullable=False),
    Column("description", Text),
    Column("position", Integer, nullable=False),
    Column("action", String(10), nullable=False),
    Column("direction", String(10), nullable=False, server_default=text("'inbound'")),
    Column("protocol", String(10), nullable=False, server_default=text("'any'")),
    Column("source_cidr", CIDR),
    Column("destination_cidr", CIDR),
    Column("port_from", Integer),
    Column("port_to", Integer),
    Column("conditions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("is_enabled", Boolean, nullable=False, server_default=text("true")),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="policy_rules_pkey"),
    UniqueConstraint("policy_id", "position", name="policy_rules_policy_id_position_key"),
    UniqueConstraint("policy_id", "name", name="policy_rules_policy_id_name_key"),
    CheckConstraint("position >= 0", name="policy_rules_position_non_negative"),
    CheckConstraint(
        "action IN ('allow', 'deny', 'alert', 'log')", name="policy_rules_action_valid"
    ),
    CheckConstraint(
        "direction IN ('inbound', 'outbound', 'both')", name="policy_rules_direction_valid"
    ),
    CheckConstraint(
        "protocol IN ('any', 'tcp', 'udp', 'icmp')", name="policy_rules_protocol_valid"
    ),
    CheckConstraint(
        "port_from BETWEEN 1 AND 65535 AND port_to BETWEEN port_from AND 65535",
        name="policy_rules_port_range",
    ),
    CheckConstraint(
        "port_to IS NULL OR port_from IS NOT NULL", name="policy_rules_port_to_needs_port_from"
    ),
    CheckConstraint(
        "port_from IS NULL OR protocol IN ('tcp', 'udp')", name="policy_rules_ports_need_protocol"
    ),
    CheckConstraint(
        "jsonb_typeof(conditions) = 'object'", name="policy_rules_conditions_is_object"
    ),
    schema="inosec_core",
)

threat_indicators = Table(
    "threat_indicators",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column("indicator_type", String(20), nullable=False),
    Column("value", Text, nullable=False),
    Column("severity", String(10), nullable=False, server_default=text("'medium'")),
    Column("confidence", SmallInteger, nullable=False, server_default=text("50")),
    Column("source", String(100), nullable=False),
    Column("description", Text),
    Column("context", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    timestamp("first_seen_at"),
    timestamp("last_seen_at"),
    Column("expires_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="threat_indicators_pkey"),
    UniqueConstraint("indicator_type", "value", name="threat_indicators_type_value_key"),
    CheckConstraint(
        "indicator_type IN ('ip', 'cidr', 'domain', 'url', 'file_hash', 'email')",
        name="threat_indicators_type_valid",
    ),
    CheckConstraint(f"severity IN {SEVERITIES}", name="threat_indicators_severity_valid"),
    CheckConstraint("confidence BETWEEN 0 AND 100", name="threat_indicators_confidence_range"),
    CheckConstraint("last_seen_at >= first_seen_at", name="threat_indicators_seen_order"),
    CheckConstraint("jsonb_typeof(context) = 'object'", name="threat_indicators_context_is_object"),
    schema="inosec_core",
)
Index(
    "idx_threat_indicators_active_last_seen_at",
    threat_indicators.c.last_seen_at,
    postgresql_where=text("is_active"),
)

incidents = Table(
    "incidents",
    metadata,
    uuid_id(),
    Column("title", String(200), nullable=False),
    Column("description", Text),
    Column("severity", String(10), nullable=False, server_default=text("'medium'")),
    Column("status", String(20), nullable=False, server_default=text("'open'")),
    Column(
        "policy_id",
        Uuid,
        ForeignKey(
            "inosec_core.security_policies.id",
            name="incidents_policy_id_fkey",
            ondelete="SET NULL",
        ),
    ),
    Column(
        "assigned_to",
        Uuid,
        ForeignKey("auth.users.id", name="incidents_assigned_to_fkey", ondelete="SET NULL"),
    ),
    timestamp("opened_at"),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution", Text),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="incidents_pkey"),
    CheckConstraint(f"severity IN {SEVERITIES}", name="incidents_severity_valid"),
    CheckConstraint(
        "status IN ('open', 'investigating', 'contained', 'resolved', 'closed')",
        name="incidents_status_valid",
    ),
    CheckConstraint(
        "status NOT IN ('resolved', 'closed') OR resolved_at IS NOT NULL",
        name="incidents_resolved_when_done",
    ),
    CheckConstraint("resolved_at >= opened_at", name="incidents_resolved_after_opened"),
    schema="inosec_core",
)
Index(
    "idx_incidents_open_severity",
    incidents.c.severity,
    incidents.c.opened_at,
    postgresql_where=text("status IN ('open', 'investigating', 'contained')"),
)
Index("idx_incidents_policy_id", incidents.c.policy_id)
Index("idx_incidents_assigned_to", incidents.c.assigned_to)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column("title", String(200), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("status", String(20), nullable=False, server_default=text("'new'")),
    Column(
        "policy_id",
        Uuid,
        ForeignKey(
            "inosec_core.security_policies.id", name="alerts_policy_id_fkey", ondelete="SET NULL"
        ),
    ),
    Column(
        "rule_id",
        Uuid,
        ForeignKey("inosec_core.policy_rules.id", name="alerts_rule_id_fkey", ondelete="SET NULL"),
    ),
    Column(
        "indicator_id",
        BigInteger,
        ForeignKey(
            "inosec_core.threat_indicators.id",
            name="alerts_indicator_id_fkey",
            ondelete="SET NULL",
        ),
    ),
    Column(
        "incident_id",
        Uuid,
        ForeignKey("inosec_core.incidents.id", name="alerts_incident_id_fkey", ondelete="SET NULL"),
    ),
    Column("source_ip", INET),
    Column("destination_ip", INET),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    timestamp("detected_at"),
    Column(
        "acknowledged_by",
        Uuid,
        ForeignKey("auth.users.id", name="alerts_acknowledged_by_fkey", ondelete="SET NULL"),
    ),
    Column("acknowledged_at", DateTime(timezone=True)),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="alerts_pkey"),
    CheckConstraint(f"severity IN {SEVERITIES}", name="alerts_severity_valid"),
    CheckConstraint(
        "status IN ('new', 'acknowledged', 'resolved', 'suppressed')", name="alerts_status_valid"
    ),
    CheckConstraint(
        "status = 'new' OR acknowledged_at IS NOT NULL", name="alerts_acknowledged_when_handled"
    ),
    CheckConstraint("jsonb_typeof(details) = 'object'", name="alerts_details_is_object"),
    schema="inosec_core",
)
Index(
    "idx_alerts_open_detected_at",
    alerts.c.detected_at,
    postgresql_where=text("status IN ('new', 'acknowledged')"),
)
Index("idx_alerts_policy_id", alerts.c.policy_id)
Index("idx_alerts_rule_id", alerts.c.rule_id)
Index("idx_alerts_indicator_id", alerts.c.indicator_id)
Index("idx_alerts_incident_id", alerts.c.incident_id)
Index("idx_alerts_acknowledged_by", alerts.c.acknowledged_by)
Index("idx_alerts_source_ip", alerts.c.source_ip)
