"""Create policy assignments and heartbeats

Migration: create policy assignments and heartbeats
Service: inosec-edge
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-18
Dependencies: ["20240101_001"]

A device enforces more than the one policy `edge_devices.policy_id` names: assignments record
each inosec_core security policy pushed to a device, who assigned it (an auth user, hence the
dependency on auth) and whether the device applied it. Heartbeats are the devices' periodic
check-ins (append-only, bigint identity keys) with the address they came from and basic health,
from which `edge_devices.last_seen_at` and the online/offline status are derived.
"""

from migrator.revision import run_sql

revision = "20240418_001"
down_revision = "20240101_009"
branch_labels = ()
depends_on = ("20240101_001",)

UPGRADE = """
CREATE TABLE IF NOT EXISTS inosec_edge.policy_assignments (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    device_id   uuid        NOT NULL,
    policy_id   uuid        NOT NULL,
    status      varchar(20) NOT NULL DEFAULT 'pending',
    assigned_by uuid,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    applied_at  timestamptz,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policy_assignments_pkey PRIMARY KEY (id),
    CONSTRAINT policy_assignments_device_id_policy_id_key UNIQUE (device_id, policy_id),
    CONSTRAINT policy_assignments_device_id_fkey FOREIGN KEY (device_id)
        REFERENCES inosec_edge.edge_devices (id) ON DELETE CASCADE,
    CONSTRAINT policy_assignments_policy_id_fkey FOREIGN KEY (policy_id)
        REFERENCES inosec_core.security_policies (id) ON DELETE CASCADE,
    CONSTRAINT policy_assignments_assigned_by_fkey FOREIGN KEY (assigned_by)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT policy_assignments_status_valid
        CHECK (status IN ('pending', 'applied', 'failed', 'revoked')),
    CONSTRAINT policy_assignments_applied_when_applied
        CHECK (status <> 'applied' OR applied_at IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS idx_policy_assignments_policy_id
    ON inosec_edge.policy_assignments (policy_id);
CREATE INDEX IF NOT EXISTS idx_policy_assignments_assigned_by
    ON inosec_edge.policy_assignments (assigned_by);

CREATE TABLE IF NOT EXISTS inosec_edge.heartbeats (
    id             bigint       GENERATED ALWAYS AS IDENTITY,
    device_id      uuid         NOT NULL,
    ip_address     inet,
    agent_version  varchar(50),
    cpu_percent    numeric(5,2),
    memory_percent numeric(5,2),
    uptime_seconds bigint,
    received_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT heartbeats_pkey PRIMARY KEY (id),
    CONSTRAINT heartbeats_device_id_fkey FOREIGN KEY (device_id)
        REFERENCES inosec_edge.edge_devices (id) ON DELETE CASCADE,
    CONSTRAINT heartbeats_cpu_percent_range CHECK (cpu_percent BETWEEN 0 AND 100),
    CONSTRAINT heartbeats_memory_percent_range CHECK (memory_percent BETWEEN 0 AND 100),
    CONSTRAINT heartbeats_uptime_seconds_non_negative CHECK (uptime_seconds >= 0)
);

CREATE INDEX IF NOT EXISTS idx_heartbeats_device_id_received_at
    ON inosec_edge.heartbeats (device_id, received_at);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS inosec_edge.idx_heartbeats_device_id_received_at;
DROP TABLE IF EXISTS inosec_edge.heartbeats;
DROP INDEX IF EXISTS inosec_edge.idx_policy_assignments_assigned_by;
DROP INDEX IF EXISTS inosec_edge.idx_policy_assignments_policy_id;
DROP TABLE IF EXISTS inosec_edge.policy_assignments;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
