"""Create edge devices

Migration: create edge devices
Service: inosec-edge
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-01-01
Dependencies: ["20240101_008"]
"""

from migrator.revision import run_sql

revision = "20240101_009"
down_revision = None
branch_labels = ("inosec_edge",)
depends_on = ("20240101_008",)

UPGRADE = """
CREATE SCHEMA IF NOT EXISTS inosec_edge;

CREATE TABLE IF NOT EXISTS inosec_edge.edge_devices (
    id            uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    hostname      varchar(253) NOT NULL,
    ip_address    inet,
    policy_id     uuid         REFERENCES inosec_core.security_policies (id) ON DELETE SET NULL,
    status        varchar(20)  NOT NULL DEFAULT 'pending',
    last_seen_at  timestamptz,
    registered_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT edge_devices_hostname_key UNIQUE (hostname),
    CONSTRAINT edge_devices_status_valid CHECK (status IN ('pending', 'online', 'offline', 'retired'))
);

CREATE INDEX IF NOT EXISTS idx_edge_devices_policy_id ON inosec_edge.edge_devices (policy_id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS inosec_edge.edge_devices;
DROP SCHEMA IF EXISTS inosec_edge;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
