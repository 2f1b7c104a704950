"""One migrator at a time, and patience with other people's locks.

Every run that writes holds a PostgreSQL advisory lock (session level, so it outlives the
per-revision commits and dies with the connection if the process is killed). A second migrator
waits for it, saying who holds it, and gives up after the configured time. Within a run, a
revision whose statement waited longer than `lock_timeout` (SQLSTATE 55P03) is rolled back and
tried again after an exponential, jittered pause rather than queueing the platform's queries
behind it.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from migrator.errors import MigratorError
from migrator.events import EventSink, LockBusy

if TYPE_CHECKING:
    from sqlalchemy import Connection

LOCK_NOT_AVAILABLE = "55P03"
# The first key of the two-key advisory lock: says "this is the Inopsio migrator" to anyone
# reading pg_locks; the second key is the tool schema's, so two tool schemas never collide.
_NAMESPACE = 0x1A0B5E0
_POLL_SECONDS = 0.25
_ANNOUNCE_EVERY_SECONDS = 5.0
_MAX_RETRY_DELAY_MS = 30_000


class LockNotAcquired(MigratorError):
    """Another migrator kept the migration lock longer than this one would wait."""


def _schema_key(schema: str) -> int:
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


_HELD = (
    "SELECT l.pid FROM pg_locks l "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    "AND l.classid = %s AND l.objid = %s "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def is_held(connection: Connection, schema: str) -> bool:
    """Whether some session holds the migration lock now (a run is under way)."""
    return connection.exec_driver_sql(_HELD, (_NAMESPACE, _schema_key(schema))).first() is not None


def _holder(connection: Connection, schema: str) -> str:
    """Who holds the lock: pid, user, application and since when, as pg_stat_activity knows."""
    row = connection.exec_driver_sql(
        "SELECT a.pid, a.usename, a.application_name, a.client_addr, a.backend_start "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.classid = %s AND l.objid = %s "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (_NAMESPACE, _schema_key(schema)),
    ).first()
    if row is None:
        return "another session (it just let go, or pg_stat_activity hides it from this user)"
    where = f" from {row.client_addr}" if row.client_addr else ""
    since = row.backend_start.isoformat(timespec="seconds") if row.backend_start else "?"
    return (
        f"pid {row.pid}, user {row.usename}, application {row.application_name or '-'}{where}, "
        f"connected since {since}"
    )


def _try_lock(connection: Connection, schema: str) -> bool:
    taken = connection.exec_driver_sql(
        "SELECT pg_try_advisory_lock(%s, %s)", (_NAMESPACE, _schema_key(schema))
    ).scalar()
    connection.commit()
    return bool(taken)


@contextmanager
def migration_lock(
    connection: Connection, schema: str, wait_ms: int, events: EventSink
) -> Iterator[None]:
    """Hold the migration lock for the block, waiting up to `wait_ms` for another holder.

    The lock is re-entrant within one session, so `migrate` may hold it around several Alembic
    commands whose env.py takes it again.
    """
    started = time.monotonic()
    announced = -_ANNOUNCE_EVERY_SECONDS
    while not _try_lock(connection, schema):
        waited = time.monotonic() - started
        holder = _holder(connection, schema)
        connection.commit()
        if waited * 1000 >= wait_ms:
            raise LockNotAcquired(
                f"another migrator holds the migration lock ({holder}); gave up after "
                f"{wait_ms / 1000:.0f}s. Wait for it to finish, or raise --lock-wait"
            )
        if waited - announced >= _ANNOUNCE_EVERY_SECONDS:
            events(LockBusy(holder, round(waited * 1000), wait_ms))
            announced = waited
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        if not connection.closed and not connection.invalidated:
            connection.rollback()
            connection.exec_driver_sql(
                "SELECT pg_advisory_unlock(%s, %s)", (_NAMESPACE, _schema_key(schema))
            )
            connection.commit()


def retry_delay_ms(attempt: int, base_ms: int) -> int:
    """The pause after failed try `attempt`: exponential, capped, with equal jitter so that
    several migrators (or a migrator and a retrying application) do not retry in step."""
    ceiling = min(_MAX_RETRY_DELAY_MS, base_ms * 2 ** (attempt - 1))
    return round(ceiling / 2 + random.uniform(0, ceiling / 2))
