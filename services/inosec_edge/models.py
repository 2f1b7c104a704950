"""The inosec_edge service's schema, as SQLAlchemy tables (what autogenerate and drift compare
with)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB

from migrator.model.tables import timestamp, uuid_id

# This service's tables; the loader gathers every service's into one MetaData.
metadata = MetaData()

edge_devices = Table(
    "edge_devices",
    metadata,
    uuid_id(),
    Column("hostname", String(253), nullable=False),
    Column("ip_address", INET),
    Column(
        "policy_id",
        Uuid,
        ForeignKey(
            "inosec_core.security_policies.id",
            name="edge_devices_policy_id_fkey",
            ondelete="SET NULL",
        ),
    ),
    Column("status", String(20), nullable=False, server_default=text("'pending'")),
    Column("last_seen_at", DateTime(timezone=True)),
    timestamp("registered_at"),
    PrimaryKeyConstraint("id", name="edge_devices_pkey"),
    UniqueConstraint("hostname", name="edge_devices_hostname_key"),
    CheckConstraint(
        "status IN ('pending', 'online', 'offline', 'retired')", name="edge_devices_status_valid"
    ),
    schema="inosec_edge",
)
Index("idx_edge_devices_policy_id", edge_devices.c.policy_id)

policy_assignments = Table(
    "policy_assignments",
    metadata,
    uuid_id(),
    Column(
        "device_id",
        Uuid,
        ForeignKey(
            "inosec_edge.edge_devices.id",
            name="policy_assignments_device_id_fkey",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    Column(
        "policy_id",
        Uuid,
        ForeignKey(
            "inosec_core.security_policies.id",
            name="policy_assignments_policy_id_fkey",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    Column("status", String(20), nullable=False, server_default=text("'pending'")),
    Column(
        "assigned_by",
        Uuid,
        ForeignKey(
            "auth.users.id", name="policy_assignments_assigned_by_fkey", ondelete="SET NULL"
        ),
    ),
    timestamp("assigned_at"),
    Column("applied_at", DateTime(timezone=True)),
    Column("last_error", Text),
    timestamp("created_at"),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id", name="policy_assignments_pkey"),
    UniqueConstraint("device_id", "policy_id", name="policy_assignments_device_id_policy_id_key"),
    CheckConstraint(
        "status IN ('pending', 'applied', 'failed', 'revoked')",
        name="policy_assignments_status_valid",
    ),
    CheckConstraint(
        "status <> 'applied' OR applied_at IS NOT NULL",
        name="policy_assignments_applied_when_applied",
    ),
    schema="inosec_edge",
)
Index("idx_policy_assignments_policy_id", policy_assignments.c.policy_id)
Index("idx_policy_assignments_assigned_by", policy_assignments.c.assigned_by)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column(
        "device_id",
        Uuid,
        ForeignKey(
            "inosec_edge.edge_devices.id", name="heartbeats_device_id_fkey", ondelete="CASCADE"
        ),
        nullable=False,
    ),
    Column("ip_address", INET),
    Column("agent_version", String(50)),
    Column("cpu_percent", Numeric(5, 2)),
    Column("memory_percent", Numeric(5, 2)),
    Column("uptime_seconds", BigInteger),
    timestamp("received_at"),
    PrimaryKeyConstraint("id", name="heartbeats_pkey"),
    CheckConstraint("cpu_percent BETWEEN 0 AND 100", name="heartbeats_cpu_percent_range"),
    CheckConstraint("memory_percent BETWEEN 0 AND 100", name="heartbeats_memory_percent_range"),
    CheckConstraint("uptime_seconds >= 0", name="heartbeats_uptime_seconds_non_negative"),
    schema="inosec_edge",
)
Index("idx_heartbeats_device_id_received_at", heartbeats.c.device_id, heartbeats.c.received_at)

device_reports = Table(
    "device_reports",
    metadata,
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column(
        "device_id",
        Uuid,
        ForeignKey(
            "inosec_edge.edge_devices.id",
            name="device_reports_device_id_fkey",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    Column("report_type", String(20), nullable=False),
    Column("severity", String(10), nullable=False, server_default=text("'low'")),
    Column(
        "policy_id",
        Uuid,
        ForeignKey(
            "inosec_core.security_policies.id",
            name="device_reports_policy_id_fkey",
            ondelete="SET NULL",
        ),
    ),
    Column(
        "rule_id",
        Uuid,
        ForeignKey(
            "inosec_core.policy_rules.id", name="device_reports_rule_id_fkey", ondelete="SET NULL"
        ),
    ),
    Column(
        "alert_id",
        BigInteger,
        ForeignKey(
            "inosec_core.alerts.id", name="device_reports_alert_id_fkey", ondelete="SET NULL"
        ),
    ),
    Column("source_ip", INET),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    timestamp("received_at"),
    Column("processed_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("id", name="device_reports_pkey"),
    CheckConstraint(
        "report_type IN ('compliance', 'violation', 'threat', 'inventory')",
        name="device_reports_report_type_valid",
    ),
    CheckConstraint(
        "severity IN ('low', 'medium', 'high', 'critical')", name="device_reports_severity_valid"
    ),
    CheckConstraint("jsonb_typeof(payload) = 'object'", name="device_reports_payload_is_object"),
    CheckConstraint("processed_at >= received_at", name="device_reports_processed_after_received"),
    schema="inosec_edge",
)
Index(
    "idx_device_reports_device_id_reported_at",
    device_reports.c.device_id,
    device_reports.c.reported_at,
)
Index(
    "idx_device_reports_unprocessed",
    device_reports.c.received_at,
    postgresql_where=text("processed_at IS NULL"),
)
Index("idx_device_reports_policy_id", device_reports.c.policy_id)
Index("idx_device_reports_rule_id", device_reports.c.rule_id)
Index("idx_device_reports_alert_id", device_reports.c.alert_id)
