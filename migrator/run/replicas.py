"""Streaming replicas: how far behind the primary each one is, and waiting for them.

A backfill writes WAL as fast as the primary can; a standby that replays slower falls behind,
and every read the platform sends to it sees older data (or, with hot_standby_feedback off,
has its queries cancelled). The run watches `pg_stat_replication` on the primary between
backfill slices, and before a statement that scans, builds on or rewrites a large table, and
waits while a replica lags by more than `max_replica_lag`.

What "lags" means here. PostgreSQL's `replay_lag` is the time between the primary flushing WAL
and the standby reporting it replayed; it is NULL once the standby has caught up and stays at
its last value until WAL traffic moves it, so it alone can show no lag for a standby whose
replay is paused. The watcher therefore also compares the primary's `pg_current_wal_lsn()`
with each replica's `replay_lsn` and remembers when that replica last replayed something: a
replica lags when it is behind (bytes not yet replayed) and either its `replay_lag` exceeds
the limit or it has replayed nothing for longer than the limit; its lag is the larger of the
two times. A replica that has replayed everything does not lag, whatever stale `replay_lag` it
still shows. A standby reports its replay position when WAL reaches it and every
`wal_receiver_status_interval` (10 s by default), so the run may learn that a resumed standby
caught up that much later.

Only superusers and roles with pg_read_all_stats (pg_monitor) see a replica's details; for
anyone else its columns are NULL, and the run says once that lag cannot be watched and goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from migrator.events import EventSink, ReplicaCaughtUp, ReplicaLagUnwatched, ReplicaLagWait
from migrator.model.revision import SqlStep, Step

_REPLICAS = (
    "SELECT pid, application_name, host(client_addr), state, sync_state, "
    "extract(epoch FROM write_lag)::float8, extract(epoch FROM flush_lag)::float8, "
    "extract(epoch FROM replay_lag)::float8, "
    # A cascading standby has replicas too, and no pg_current_wal_lsn() of its own.
    "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END, replay_lsn)::bigint, replay_lsn::text "
    "FROM pg_stat_replication ORDER BY application_name, pid"
)
# A primary seen without replicas is asked again only after this long: a run without replicas
# pays one cheap query every few seconds, not one per slice.
NO_REPLICAS_RECHECK_SECONDS = 5.0
# A statement that scans, builds on or rewrites a table this large waits for lagging replicas
# first: it cannot pause halfway, and the WAL it writes lands on a replica already behind.
# Smaller tables take a moment to work through and add little to any lag.
LARGE_TABLE_BYTES = 10 * 2**20
_HEAVY_WORK = ("scan", "build", "rewrite")
POLL_SECONDS = 1.0
# While it waits, the run repeats how far behind the replica is this often.
REPEAT_SECONDS = 30.0


@dataclass(frozen=True)
class Replica:
    """One walsender's view of its standby; times in seconds, None when PostgreSQL has none."""

    pid: int
    name: str
    client: str | None
    state: str | None
    sync_state: str | None
    write_lag: float | None
    flush_lag: float | None
    replay_lag: float | None
    bytes_behind: int | None
    replay_lsn: str | None

    @property
    def visible(self) -> bool:
        """False when this role may not see the replica's details (all NULL but its pid)."""
        return self.state is not None


def replicas(connection: Connection) -> list[Replica]:
    """The primary's replicas as `pg_stat_replication` shows them (none on a standby or a
    server without any)."""
    rows = connection.exec_driver_sql(_REPLICAS).all()
    return [Replica(*row) for row in rows]


@dataclass
class Watcher:
    """Remembers, per replica, when its replay last moved, across polls of one run."""

    limit_seconds: float
    clock: Callable[[], float] = time.monotonic
    _progress: dict[int, tuple[str | None, float]] = field(default_factory=dict)
    _quiet_until: float = 0.0
    _unwatched_said: bool = False

    def lagging(self, connection: Connection, events: EventSink) -> tuple[Replica, float] | None:
        """The replica that lags most, with its lag in seconds; None when none lags more than
        the limit (or lag cannot be watched)."""
        now = self.clock()
        if not self.limit_seconds or now < self._quiet_until:
            return None
        found = replicas(connection)
        if not found:
            self._quiet_until = now + NO_REPLICAS_RECHECK_SECONDS
            return None
        hidden = [replica for replica in found if not replica.visible]
        if hidden and not self._unwatched_said:
            self._unwatched_said = True
            events(
                ReplicaLagUnwatched(
                    len(hidden),
                    "this role may not read their lag (it needs superuser or pg_monitor)",
                )
            )
        worst: tuple[Replica, float] | None = None
        for replica in found:
            if not replica.visible:
                continue
            lag = self._lag(replica, now)
            if lag > self.limit_seconds and (worst is None or lag > worst[1]):
                worst = (replica, lag)
        return worst

    def _lag(self, replica: Replica, now: float) -> float:
        last_lsn, since = self._progress.get(replica.pid, (None, now))
        if not (replica.bytes_behind and replica.bytes_behind > 0):
            # Caught up: its replay_lag may still show the last measure for a while.
            self._progress[replica.pid] = (replica.replay_lsn, now)
            return 0.0
        if replica.replay_lsn != last_lsn:
            since = now
        self._progress[replica.pid] = (replica.replay_lsn, since)
        return max(replica.replay_lag or 0.0, now - since)

    def wait(self, connection: Connection, events: EventSink, revision: str) -> None:
        """Return once no replica lags more than the limit, polling every second and saying
        so when the wait begins, every REPEAT_SECONDS, and when it ends. The sleep is
        interrupted by SIGINT and SIGTERM like any other wait of the run."""
        lagging = self.lagging(connection, events)
        if lagging is None:
            return
        started = said = self.clock()
        events(ReplicaLagWait(revision, lagging[0].name, lagging[1], self.limit_seconds))
        while lagging is not None:
            time.sleep(POLL_SECONDS)
            lagging = self.lagging(connection, events)
            if lagging is not None and self.clock() - said >= REPEAT_SECONDS:
                said = self.clock()
                events(ReplicaLagWait(revision, lagging[0].name, lagging[1], self.limit_seconds))
        events(ReplicaCaughtUp(revision, self.clock() - started))


def works_through_a_large_table(connection: Connection, steps: tuple[Step, ...]) -> bool:
    """Whether a statement of these steps scans, builds on or rewrites a table of at least
    LARGE_TABLE_BYTES (as the offline impact reader sees the statement)."""
    from migrator.model import sql
    from migrator.model.impact import impacts

    nodes = [
        statement.node if statement.node is not None else sql.parse(statement.text)[0].stmt
        for step in steps
        if isinstance(step, SqlStep)
        for statement in step.statements
    ]
    tables = sorted(
        {
            table
            for impact in impacts(nodes)
            if impact.work in _HEAVY_WORK
            for table in impact.worked_tables
        }
    )
    if not tables:
        return False
    largest = connection.exec_driver_sql(
        "SELECT max(pg_total_relation_size(to_regclass(t))) FROM unnest(%(tables)s::text[]) AS t",
        {"tables": tables},
    ).scalar()
    return bool(largest and largest >= LARGE_TABLE_BYTES)
