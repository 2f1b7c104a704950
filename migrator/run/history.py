"""The audit history: every attempt to apply, roll back, stamp or repair a revision.

Alembic's version table says only where each branch stands now. Operators also need to know
what happened: who ran what, when, how long it took, what failed and with which SQLSTATE, and
the checksum of the SQL that ran, which is what `validate` later compares the files with.

A successful step writes its row in the step's own transaction, so the row and the version
table can never disagree. A failed try writes its row after its transaction rolled back.
The tool's tables are created here, in the tool's schema, under the migration lock.
"""

from __future__ import annotations

import getpass
import socket
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

from psycopg import sql as pgsql

from migrator.database import HISTORY_TABLE, table_exists
from migrator.run import lock
from migrator.run.send import Send

if TYPE_CHECKING:  # reading what `status` shows needs no SQLAlchemy
    import psycopg
    from sqlalchemy import Connection

PROGRESS_TABLE = "statement_progress"
CHECKPOINT_TABLE = "batch_checkpoints"

DIRECTIONS = ("upgrade", "downgrade", "stamp", "repair", "restore", "baseline", "repeatable")
# A try is written as `running` when it starts and closed when it ends, so a try whose process
# was killed stays visible: the next run (holding the migration lock) marks it `interrupted`.
OUTCOMES = ("success", "failed", "rolled_back", "running", "interrupted")
# The tool's tables carry their version in the history table's comment; older tables are
# brought up to it under the migration lock.
TABLES_VERSION = "migrator tables v3"
_KEPT_SCHEMA = "migrator_history_kept_during_restore"
VANISHED = "its process vanished (killed, or its connection was lost) before the try ended"


def create_schema_sql(schema: str) -> str:
    """The tool's schema, where Alembic's version table and the history live."""
    return f'CREATE SCHEMA IF NOT EXISTS "{schema}"'


def _ddl(schema: str) -> list[str]:
    return [
        create_schema_sql(schema),
        f"""CREATE TABLE IF NOT EXISTS "{schema}".{HISTORY_TABLE} (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id        uuid        NOT NULL,
            revision      text,
            service       text,
            direction     text        NOT NULL CHECK (direction IN {DIRECTIONS!r}),
            attempt       integer     NOT NULL DEFAULT 1,
            started_at    timestamptz NOT NULL,
            finished_at   timestamptz NOT NULL,
            duration_ms   integer     NOT NULL,
            outcome       text        NOT NULL CHECK (outcome IN {OUTCOMES!r}),
            sqlstate      text,
            error_message text,
            checksum      text,
            database_user text        NOT NULL DEFAULT current_user,
            os_user       text        NOT NULL,
            host          text        NOT NULL,
            tool_version  text        NOT NULL,
            environment   text        NOT NULL,
            note          text
        )""",
        f"""CREATE INDEX IF NOT EXISTS {HISTORY_TABLE}_revision_idx
            ON "{schema}".{HISTORY_TABLE} (revision, id DESC)""",
        # Statements of a revision that committed before the revision did (the transaction an
        # autocommit block ends, and each non-transactional statement): a later try skips them.
        f"""CREATE TABLE IF NOT EXISTS "{schema}".{PROGRESS_TABLE} (
            revision      text        NOT NULL,
            statement_key text        NOT NULL,
            finished_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (revision, statement_key)
        )""",
        # Where each backfill of a revision stopped: the last primary key it committed.
        f"""CREATE TABLE IF NOT EXISTS "{schema}".{CHECKPOINT_TABLE} (
            revision   text        NOT NULL,
            name       text        NOT NULL,
            last_key   jsonb       NOT NULL,
            rows_done  bigint      NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (revision, name)
        )""",
    ]


def _upgrades(schema: str) -> list[str]:
    """What brings tables of an earlier version of the tool to this one: the checks of
    direction and outcome widened (restore, baseline; running and interrupted)."""
    table = f'"{schema}".{HISTORY_TABLE}'
    statements = []
    for column, allowed in (("direction", DIRECTIONS), ("outcome", OUTCOMES)):
        constraint = f"{HISTORY_TABLE}_{column}_check"
        statements += [
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}",
            f"ALTER TABLE {table} ADD CONSTRAINT {constraint} CHECK ({column} IN {allowed!r})",
        ]
    return [*statements, f"COMMENT ON TABLE {table} IS '{TABLES_VERSION}'"]


def ensure_tables(connection: Connection, schema: str) -> None:
    """Create the tool's schema and tables where missing, and bring older ones up to date;
    the caller holds the migration lock, so two migrators never race to do it."""
    for statement in _ddl(schema):
        connection.exec_driver_sql(statement)
    version = connection.exec_driver_sql(
        "SELECT obj_description(%s::regclass, 'pg_class')", (f'"{schema}".{HISTORY_TABLE}',)
    ).scalar()
    if version != TABLES_VERSION:
        for statement in _upgrades(schema):
            connection.exec_driver_sql(statement)
    connection.commit()


def kept_across_restore(schema: str, restored: Attempt, who: Identity) -> tuple[str, str]:
    """SQL to run before and after a restore script, in its transaction: the audit history is
    append-only, so the live table is set aside, put back in place of the backup's older copy,
    and gains the restore's own row."""
    table, kept = f'"{schema}".{HISTORY_TABLE}', f'"{_KEPT_SCHEMA}".{HISTORY_TABLE}'
    values = {**restored.values(), **vars(who)}
    row = pgsql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        pgsql.SQL(table),
        pgsql.SQL(", ").join(pgsql.Identifier(name) for name in values),
        pgsql.SQL(", ").join(pgsql.Literal(value) for value in values.values()),
    )
    before = (
        f'CREATE SCHEMA "{_KEPT_SCHEMA}"; ALTER TABLE IF EXISTS {table} SET SCHEMA "{_KEPT_SCHEMA}"'
    )
    after = f"""CREATE SCHEMA IF NOT EXISTS "{schema}";
DO $migrator$
BEGIN
    IF to_regclass('{kept}') IS NOT NULL THEN
        DROP TABLE IF EXISTS {table};
        ALTER TABLE {kept} SET SCHEMA "{schema}";
    END IF;
    IF to_regclass('{table}') IS NOT NULL THEN
        {row.as_string(None)};
    END IF;
END
$migrator$;
DROP SCHEMA "{_KEPT_SCHEMA}" """
    return before, after


def close_vanished(connection: Connection, schema: str) -> list[str]:
    """Mark the tries still `running` as interrupted; the caller holds the migration lock, so
    no live run owns them. Returns their revisions."""
    rows = connection.exec_driver_sql(
        f"UPDATE \"{schema}\".{HISTORY_TABLE} SET outcome = 'interrupted', "
        "error_message = %s WHERE outcome = 'running' RETURNING revision",
        (VANISHED,),
    ).all()
    connection.commit()
    return [row[0] or "-" for row in rows]


def tables_exist(connection: Connection, schema: str) -> bool:
    return bool(
        connection.exec_driver_sql(
            "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".{HISTORY_TABLE}',)
        ).scalar()
    )


@dataclass(frozen=True)
class Identity:
    """Who and what runs the tool; the same for every row of a run."""

    os_user: str
    host: str
    tool_version: str
    environment: str


@cache
def _tool_version() -> str:
    try:
        return metadata.version("inopsio-migrator")
    except metadata.PackageNotFoundError:
        from migrator import __version__

        return __version__


def identity(environment: str) -> Identity:
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        os_user = "unknown"
    return Identity(os_user, socket.gethostname(), _tool_version(), environment)


@dataclass(frozen=True)
class Attempt:
    """One row to write: what was tried, how it ended."""

    run_id: uuid.UUID
    revision: str | None
    service: str | None
    direction: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    attempt: int = 1
    checksum: str | None = None
    sqlstate: str | None = None
    error_message: str | None = None
    note: str | None = None

    @property
    def duration_ms(self) -> int:
        return round((self.finished_at - self.started_at).total_seconds() * 1000)

    def values(self) -> dict[str, Any]:
        """The row's columns; a shallow copy, because `asdict` deep-copies every value and a
        run writes two rows per revision."""
        return {**vars(self), "duration_ms": self.duration_ms}


def record(send: Send, schema: str, attempt: Attempt, who: Identity) -> None:
    """Write one row in the connection's current transaction (the caller commits)."""
    values = {**attempt.values(), **vars(who)}
    columns = ", ".join(values)
    placeholders = ", ".join(f"%({name})s" for name in values)
    send(f'INSERT INTO "{schema}".{HISTORY_TABLE} ({columns}) VALUES ({placeholders})', values)


def record_baseline(
    send: Send,
    schema: str,
    heads: tuple[list[str], list[str]],
    attempts: list[Attempt],
    who: Identity,
) -> None:
    """`baseline`'s writes, in the caller's transaction (the caller commits): the version
    table's rows that go and come (`heads`), and a row for every revision it marks applied,
    so that the version table and the history agree as a run would leave them."""
    from migrator.run import version_table  # loads the graph, which `status` does without

    gone, come = heads
    moves = version_table.moves("%(gone)s::varchar[]", "%(come)s::varchar[]", schema)
    send(f"WITH {moves} SELECT 1", {"gone": gone, "come": come})
    for attempt in attempts:
        record(send, schema, attempt, who)


def close(send: Send, schema: str, attempt: Attempt) -> None:
    """End the try that a `running` row records (its run, revision and try number), with how
    it ended (the caller commits)."""
    send(
        f'UPDATE "{schema}".{HISTORY_TABLE} SET finished_at = %(finished_at)s, '
        "duration_ms = %(duration_ms)s, outcome = %(outcome)s, sqlstate = %(sqlstate)s, "
        "error_message = %(error_message)s, checksum = %(checksum)s, note = %(note)s "
        "WHERE run_id = %(run_id)s AND revision IS NOT DISTINCT FROM %(revision)s "
        "AND attempt = %(attempt)s AND outcome = 'running'",
        attempt.values(),
    )


def is_running(connection: Connection, schema: str, attempt: Attempt) -> bool:
    """Whether the try's `running` row was written (and is still open)."""
    return bool(
        connection.exec_driver_sql(
            f'SELECT count(*) FROM "{schema}".{HISTORY_TABLE} WHERE run_id = %s '
            "AND revision IS NOT DISTINCT FROM %s AND attempt = %s AND outcome = 'running'",
            (attempt.run_id, attempt.revision, attempt.attempt),
        ).scalar()
    )


@dataclass(frozen=True)
class Row:
    """One row of the history, as read back."""

    id: int
    run_id: str
    revision: str | None
    service: str | None
    direction: str
    attempt: int
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    outcome: str
    sqlstate: str | None
    error_message: str | None
    checksum: str | None
    database_user: str
    os_user: str
    host: str
    tool_version: str
    environment: str
    note: str | None

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["run_id"] = str(self.run_id)
        document["started_at"] = self.started_at.isoformat()
        document["finished_at"] = self.finished_at.isoformat()
        return document


_COLUMNS = ", ".join(Row.__dataclass_fields__)


def read(
    connection: Connection, schema: str, *, services: list[str] | None = None, limit: int = 50
) -> list[Row]:
    """The newest rows first, of some services or all."""
    if not tables_exist(connection, schema):
        return []
    where = "WHERE service = ANY(%(services)s)" if services else ""
    result = connection.exec_driver_sql(
        f'SELECT {_COLUMNS} FROM "{schema}".{HISTORY_TABLE} {where} ORDER BY id DESC '
        "LIMIT %(limit)s",
        {"services": services, "limit": limit},
    )
    rows = [Row(**row._mapping) for row in result]
    if any(row.outcome == "running" for row in rows) and not lock.is_held(connection, schema):
        # No run holds the migration lock, so these tries' process is gone; the next run
        # records it, and until then they read as what they are.
        vanished = {"outcome": "interrupted", "error_message": VANISHED}
        rows = [replace(row, **vanished) if row.outcome == "running" else row for row in rows]
    return rows


def latest_success_by_revision(connection: Connection, schema: str) -> dict[str, Row]:
    """For each revision, its newest successful row: what was last done to it, and with which
    checksum."""
    if not tables_exist(connection, schema):
        return {}
    result = connection.exec_driver_sql(
        f'SELECT DISTINCT ON (revision) {_COLUMNS} FROM "{schema}".{HISTORY_TABLE} '
        "WHERE outcome = 'success' AND revision IS NOT NULL AND direction <> 'repeatable' "
        "ORDER BY revision, id DESC"
    )
    return {row.revision: Row(**row._mapping) for row in result}


def repeatable_checksums(connection: psycopg.Connection, schema: str) -> dict[str, str]:
    """For each repeatable file the history records (`crm/customer_summary.sql`, in the
    revision column of its `repeatable` rows), the checksum it last ran with."""
    if not table_exists(connection, schema, HISTORY_TABLE):
        return {}
    rows = connection.execute(
        f'SELECT DISTINCT ON (revision) revision, checksum FROM "{schema}".{HISTORY_TABLE} '
        "WHERE direction = 'repeatable' AND outcome = 'success' ORDER BY revision, id DESC"
    ).fetchall()
    return {revision: checksum for revision, checksum in rows}


def recorded_as_applied(rows: dict[str, Row]) -> dict[str, Row]:
    """The revisions whose last successful action left them applied."""
    return {rev: row for rev, row in rows.items() if row.direction != "downgrade"}


@dataclass(frozen=True)
class LastChange:
    """A service's newest successful change, as `status` shows it."""

    revision: str
    direction: str
    finished_at: datetime
    os_user: str
    host: str


def last_changes(
    connection: psycopg.Connection, schema: str, services: list[str]
) -> dict[str, LastChange]:
    """The newest successful change of each of `services` that has one, from the audit
    history: one row a service, each found walking the history back from its newest row."""
    if not table_exists(connection, schema, HISTORY_TABLE):
        return {}
    rows = connection.execute(
        "SELECT s.service, last.* FROM unnest(%s::text[]) AS s(service) CROSS JOIN LATERAL ("
        "SELECT h.revision, h.direction, h.finished_at, h.os_user, h.host "
        f'FROM "{schema}".{HISTORY_TABLE} AS h '
        "WHERE h.service = s.service AND h.outcome = 'success' AND h.revision IS NOT NULL "
        "ORDER BY h.id DESC LIMIT 1) AS last",
        (services,),
    ).fetchall()
    return {service: LastChange(*change) for service, *change in rows}
