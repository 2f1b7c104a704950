"""The session every statement of a run shares: the tool's tables, timeouts, and a check that
the client is still there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection

from migrator.config import Settings
from migrator.database import VERSION_TABLE, database_heads
from migrator.events import EventSink, TriesInterrupted
from migrator.model.graph import RevisionGraph
from migrator.run import history, lock, validation, version_table
from migrator.run.send import Send

# PostgreSQL 14+ notices a vanished client during a long statement and cancels it, so a
# migrator killed mid-statement does not leave its backend holding locks until the statement
# would have ended.
_CLIENT_CHECK_INTERVAL = "1s"


def set_timeouts(send: Send, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Session-level, so they hold in autocommit blocks too. Whole numbers only, written into
    the text, so that the same call can join a batch of statements sent as one."""
    send(
        f"SELECT set_config('lock_timeout', '{int(lock_timeout_ms)}ms', false), "
        f"set_config('statement_timeout', '{int(statement_timeout_ms)}ms', false)",
        None,
    )


@contextmanager
def writing(
    connection: Connection, settings: Settings, graph: RevisionGraph, events: EventSink
) -> Iterator[None]:
    """What every writing run holds before its first step, whichever front end started it
    (`migrate`, plain `alembic`): the migration lock, the prepared session, and files that
    agree with the history."""
    with lock.migration_lock(
        connection, settings.tool_schema, settings.engine.lock_wait_ms, events
    ):
        prepare(connection, settings, events)
        move_past_squashes(connection, settings, graph)
        validation.refuse_unless_valid(validation.check(connection, settings, graph))
        yield


def move_past_squashes(connection: Connection, settings: Settings, graph: RevisionGraph) -> None:
    """A version row holding the last revision a squash replaced becomes the squashed
    revision, which runs nothing here: the database already holds all it does. A stamp row in
    the history (with the squashed revision's checksum) says so. A row inside a squashed range
    is refused before anything is written."""
    heads = database_heads(connection, settings)
    graph.current_heads(heads)
    moved = [(old, graph.replaced[old]) for old in heads if old in graph.replaced]
    if not moved:
        return
    who, run_id, now = history.identity(settings.environment), uuid.uuid4(), datetime.now(UTC)
    table = f'"{settings.tool_schema}".{VERSION_TABLE}'
    for old, squash in moved:
        connection.exec_driver_sql(f"DELETE FROM {table} WHERE version_num = %s", (old,))
        connection.exec_driver_sql(
            f"INSERT INTO {table} (version_num) VALUES (%s) ON CONFLICT DO NOTHING", (squash,)
        )
        revision = graph[squash]
        stamp = history.Attempt(
            run_id=run_id,
            revision=squash,
            service=revision.service.name,
            direction="stamp",
            started_at=now,
            finished_at=now,
            outcome="success",
            checksum=revision.checksum("upgrade"),
            note=f"moved from {old}, the last revision {squash} replaces; nothing ran",
        )
        history.record(connection.exec_driver_sql, settings.tool_schema, stamp, who)
    connection.commit()


@contextmanager
def autocommit(connection: Connection) -> Iterator[None]:
    """Statements PostgreSQL refuses in a transaction block: whatever the connection holds is
    committed first, and each statement inside commits on its own."""
    connection.commit()
    level = connection.get_isolation_level()
    connection.execution_options(isolation_level="AUTOCOMMIT")
    try:
        yield
    finally:
        connection.commit()  # ends the transaction SQLAlchemy began for the block, in name only
        connection.execution_options(isolation_level=level)


def prepare(connection: Connection, settings: Settings, events: EventSink) -> None:
    """The tool's tables, the tries an earlier process left `running` closed as interrupted,
    and the session settings every statement of the run shares; the caller holds the migration
    lock, so no live run owns those tries."""
    history.ensure_tables(connection, settings.tool_schema)
    connection.exec_driver_sql(version_table.create_sql(settings.tool_schema))
    vanished = history.close_vanished(connection, settings.tool_schema)
    if vanished:
        events(TriesInterrupted(tuple(vanished)))
    configure(connection, settings)


def configure(connection: Connection, settings: Settings) -> None:
    """The run's lock_timeout and statement_timeout, and a server that notices a vanished
    client: every session that changes the platform's data (the run's, the seeds') has them."""
    set_timeouts(
        connection.exec_driver_sql,
        settings.engine.lock_timeout_ms,
        settings.engine.statement_timeout_ms,
    )
    if connection.dialect.server_version_info >= (14,):
        connection.exec_driver_sql(
            "SELECT set_config('client_connection_check_interval', %s, false)",
            (_CLIENT_CHECK_INTERVAL,),
        )
    connection.commit()
