"""Runs the statements of a revision's body on the migration connection.

Three things make a body safe to run, and to run again after a failure or a kill:
- each statement runs where PostgreSQL allows it: in the revision's transaction, or (for
  `CREATE INDEX CONCURRENTLY`, `VACUUM`, ...) in Alembic's autocommit block;
- under the run's `lock_timeout` and `statement_timeout`, or the revision's own;
- with progress markers for whatever commits before the revision does (the transaction an
  autocommit block ends, and each non-transactional statement), so a later try skips what is
  done instead of failing on it; and an INVALID index left by an interrupted
  `CREATE INDEX CONCURRENTLY` is dropped and built again, which `IF NOT EXISTS` would not do.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from migrator.errors import MigratorError
from migrator.events import EventSink, InvalidIndexDropped, StatementSkipped, StepStarted
from migrator.model import services, sql
from migrator.run.history import PROGRESS_TABLE

if TYPE_CHECKING:
    from migrator.revision import RevisionSource

# Key of Alembic's Config.attributes under which env.py hands the executor to revisions.
EXECUTOR_ATTRIBUTE = "migrator_executor"


class StatementFailed(MigratorError):
    """A statement of a revision failed in PostgreSQL; names the revision, file and statement."""

    def __init__(self, source: RevisionSource, statement: sql.Statement, error: DBAPIError):
        diag = getattr(error.orig, "diag", None)
        self.sqlstate: str | None = getattr(error.orig, "sqlstate", None)
        self.pg_message = (
            diag.message_primary if diag and diag.message_primary else str(error.orig).strip()
        )
        self.revision = source.revision
        self.statement = statement
        super().__init__(
            f"revision {source.revision} ({source.path.name}) failed at line {statement.line} "
            f"`{statement.first_line}`: {self.pg_message} [SQLSTATE {self.sqlstate}]"
        )


def _statement_key(statement: sql.Statement, seen: Counter[str]) -> str:
    """A statement's identity within its revision: its canonical text's hash, and which
    occurrence of that text it is. Editing another statement (say, fixing the one that failed)
    leaves the keys of those already done unchanged."""
    digest = hashlib.sha256(statement.canonical.encode()).hexdigest()[:16]
    seen[digest] += 1
    return f"{digest}:{seen[digest]}"


@dataclass
class Executor:
    """The state one run shares with the revisions it runs."""

    schema: str
    lock_timeout_ms: int
    statement_timeout_ms: int
    events: EventSink
    lock_retries: int = 5
    retry_backoff_ms: int = 500
    _done: dict[str, set[str]] = field(default_factory=dict)
    _seen: dict[str, Counter[str]] = field(default_factory=dict)
    _uncommitted: list[tuple[str, str]] = field(default_factory=list)
    _marked: set[str] = field(default_factory=set)
    _announced: set[str] = field(default_factory=set)
    _timeouts_in_force: tuple[int, int] | None = None

    @property
    def schema_identifier(self) -> str:
        return '"' + self.schema.replace('"', '""') + '"'

    def load_progress(self, connection: Connection) -> None:
        """Read the markers earlier tries left; call at the start of a run and of each retry."""
        self._done.clear()
        self._seen.clear()
        self._announced.clear()
        self._uncommitted.clear()
        self._marked.clear()
        self._timeouts_in_force = None  # a rollback may have undone them
        rows = connection.exec_driver_sql(
            f'SELECT revision, statement_key FROM "{self.schema}".{PROGRESS_TABLE}'
        )
        for revision, key in rows:
            self._done.setdefault(revision, set()).add(key)
        connection.commit()

    def finish_revision(self, connection: Connection, revision: str) -> None:
        """Forget a revision's markers, in the transaction that records it as done."""
        self._seen.pop(revision, None)
        if self._done.pop(revision, None) is not None or revision in self._marked:
            self._marked.discard(revision)
            connection.exec_driver_sql(
                f'DELETE FROM "{self.schema}".{PROGRESS_TABLE} WHERE revision = %s', (revision,)
            )
        self._uncommitted.clear()

    def run(
        self, context: MigrationContext, source: RevisionSource, statements: list[sql.Statement]
    ) -> None:
        self.starting(source)
        done = self._done.get(source.revision, set())
        seen = self._seen.setdefault(source.revision, Counter())
        self.apply_timeouts(context.connection, source)
        keyed = [(_statement_key(statement, seen), statement) for statement in statements]
        for transactional, group in itertools.groupby(keyed, key=lambda k: k[1].transactional):
            if transactional:
                for key, statement in group:
                    if self._skip(source, done, key, statement):
                        continue
                    _execute(context.connection, source, statement)
                    self._uncommitted.append((source.revision, key))
                continue
            with self.outside_transaction(context):
                for key, statement in group:
                    if self._skip(source, done, key, statement):
                        continue
                    self._drop_invalid_index(context.connection, source, statement)
                    _execute(context.connection, source, statement)
                    self._mark(context.connection, [(source.revision, key)])

    def starting(self, source: RevisionSource) -> None:
        """Announce a revision once per try, when its first statement is about to run."""
        if source.revision not in self._announced:
            self._announced.add(source.revision)
            owner = services.service_of_versions_dir(source.path)
            self.events(StepStarted(source.revision, owner.name if owner else "?"))

    @contextmanager
    def outside_transaction(self, context: MigrationContext) -> Iterator[None]:
        """Alembic's autocommit block, after marking the statements its commit makes
        permanent, so that a later try of the revision skips them."""
        self._mark(context.connection, self._uncommitted)
        self._uncommitted.clear()
        with context.autocommit_block():
            yield

    def _skip(
        self, source: RevisionSource, done: set[str], marker: str, statement: sql.Statement
    ) -> bool:
        if marker not in done:
            return False
        self.events(StatementSkipped(source.revision, statement.line, statement.first_line))
        return True

    def apply_timeouts(self, connection: Connection, source: RevisionSource) -> None:
        """The revision's own lock_timeout and statement_timeout, or the run's."""
        wanted = (
            source.lock_timeout_ms if source.lock_timeout_ms is not None else self.lock_timeout_ms,
            source.statement_timeout_ms
            if source.statement_timeout_ms is not None
            else self.statement_timeout_ms,
        )
        if wanted != self._timeouts_in_force:
            set_timeouts(connection, *wanted)
            self._timeouts_in_force = wanted

    def restore_default_timeouts(self, connection: Connection) -> None:
        """After a revision with its own timeouts, give the next one the run's."""
        defaults = (self.lock_timeout_ms, self.statement_timeout_ms)
        if self._timeouts_in_force not in (None, defaults):
            set_timeouts(connection, *defaults)
            self._timeouts_in_force = defaults

    def _mark(self, connection: Connection, markers: list[tuple[str, str]]) -> None:
        for revision, key in markers:
            self._marked.add(revision)
            connection.exec_driver_sql(
                f'INSERT INTO "{self.schema}".{PROGRESS_TABLE} (revision, statement_key) '
                "VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (revision, key),
            )

    def _drop_invalid_index(
        self, connection: Connection, source: RevisionSource, statement: sql.Statement
    ) -> None:
        index = statement.concurrent_index
        if index is None:
            return
        valid = connection.exec_driver_sql(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (index,)
        ).scalar()
        if valid is False:
            connection.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
            self.events(InvalidIndexDropped(source.revision, index))


def set_timeouts(connection: Connection, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Session-level, so they hold in autocommit blocks too."""
    connection.exec_driver_sql(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        (f"{lock_timeout_ms}ms", f"{statement_timeout_ms}ms"),
    )


def run_body(
    context: MigrationContext, source: RevisionSource, statements: list[sql.Statement]
) -> None:
    """Run (or, offline, render) a body's statements."""
    if context.as_sql:
        _render(context, statements)
        return
    executor = context.config.attributes.get(EXECUTOR_ATTRIBUTE) if context.config else None
    if executor is None:
        raise MigratorError(
            f"revision {source.revision} runs outside the migrator's env.py; run it with "
            "`migrate up` or `alembic upgrade` from the project"
        )
    executor.run(context, source, statements)


def _render(context: MigrationContext, statements: Iterable[sql.Statement]) -> None:
    for transactional, group in itertools.groupby(statements, key=lambda s: s.transactional):
        if transactional:
            _emit(context, group)
        else:
            with context.autocommit_block():
                _emit(context, group)


def _emit(context: MigrationContext, statements: Iterable[sql.Statement]) -> None:
    for statement in statements:
        context.impl.static_output(statement.text + context.impl.command_terminator)


def _execute(connection: Connection, source: RevisionSource, statement: sql.Statement) -> None:
    # no_parameters: the body is raw SQL, so `%` and `:name` must reach PostgreSQL untouched.
    try:
        connection.execution_options(no_parameters=True).exec_driver_sql(statement.text)
    except DBAPIError as error:
        raise StatementFailed(source, statement, error) from error
