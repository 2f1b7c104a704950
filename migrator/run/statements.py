"""Runs the statements of a revision's steps on the migration connection.

Three things make a step safe to run, and to run again after a failure or a kill:
- each statement runs where PostgreSQL allows it: in the revision's transaction, or (for
  `CREATE INDEX CONCURRENTLY`, `VACUUM`, ...) outside it, committing on its own;
- under the run's `lock_timeout` and `statement_timeout`, or the revision's own; a statement
  that takes ACCESS EXCLUSIVE waits at most `exclusive_lock_timeout_ms` per try (unless the
  revision sets its own lock_timeout), because every query of the table queues behind it while
  it waits: the revision's retries do the rest, letting the queue drain between tries;
- with progress markers for whatever commits before the revision does (the transaction an
  autocommit block ends, and each non-transactional statement), so a later try skips what is
  done instead of failing on it; and an INVALID index left by an interrupted
  `CREATE INDEX CONCURRENTLY` is dropped and built again, which `IF NOT EXISTS` would not do.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from migrator.errors import MigratorError
from migrator.events import EventSink, InvalidIndexDropped, StatementSkipped
from migrator.model.revision import Revision
from migrator.model.statement import Statement
from migrator.run.history import PROGRESS_TABLE
from migrator.run.send import Send
from migrator.run.session import autocommit, set_timeouts


class StatementFailed(MigratorError):
    """A statement of a revision failed in PostgreSQL; names the revision, file, line and
    statement."""

    def __init__(self, revision: Revision, statement: Statement, error: Exception):
        orig = getattr(error, "orig", error)  # SQLAlchemy wraps the driver's error
        diag = getattr(orig, "diag", None)
        self.sqlstate: str | None = getattr(orig, "sqlstate", None)
        self.pg_message = (
            diag.message_primary if diag and diag.message_primary else str(orig).strip()
        )
        self.revision = revision.id
        self.statement = statement
        super().__init__(
            f"revision {revision.id} failed at {revision.at(statement.line)} "
            f"`{statement.first_line}`: {self.pg_message} [SQLSTATE {self.sqlstate}]"
        )


def _statement_key(statement: Statement, seen: Counter[str]) -> str:
    """A statement's identity within its revision: its canonical text's hash, and which
    occurrence of that text it is. Editing another statement (say, fixing the one that failed)
    leaves the keys of those already done unchanged."""
    digest = hashlib.sha256(statement.canonical.encode()).hexdigest()[:16]
    seen[digest] += 1
    return f"{digest}:{seen[digest]}"


@dataclass
class StatementRunner:
    """Runs statements for one run, remembering what earlier tries committed."""

    schema: str
    lock_timeout_ms: int
    statement_timeout_ms: int
    events: EventSink
    exclusive_lock_timeout_ms: int = 400
    _done: dict[str, set[str]] = field(default_factory=dict)
    _seen: dict[str, Counter[str]] = field(default_factory=dict)
    _uncommitted: list[tuple[str, str]] = field(default_factory=list)
    _marked: set[str] = field(default_factory=set)
    _timeouts_in_force: tuple[int, int] | None = None
    _revision_lock_timeout_ms: int = 0

    @property
    def schema_identifier(self) -> str:
        return '"' + self.schema.replace('"', '""') + '"'

    def load_progress(self, connection: Connection) -> None:
        """Read the markers earlier tries left; call at the start of a run and of each retry."""
        self._done.clear()
        self._seen.clear()
        self._uncommitted.clear()
        self._marked.clear()
        self.forget_timeouts()  # a rollback may have undone them
        rows = connection.exec_driver_sql(
            f"SELECT revision, statement_key FROM {self.schema_identifier}.{PROGRESS_TABLE}"
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
                f"DELETE FROM {self.schema_identifier}.{PROGRESS_TABLE} WHERE revision = %s",
                (revision,),
            )
        self._uncommitted.clear()

    def has_progress(self, revision: str) -> bool:
        """Whether an earlier try committed some of the revision's statements."""
        return revision in self._done

    def run(
        self, connection: Connection, revision: Revision, statements: tuple[Statement, ...]
    ) -> None:
        """Run statements one by one, each where it must run, skipping what an earlier try
        committed."""
        done = self._done.get(revision.id, set())
        seen = self._seen.setdefault(revision.id, Counter())
        send = connection.exec_driver_sql
        self.apply_timeouts(send, revision)
        keyed = [(_statement_key(statement, seen), statement) for statement in statements]
        for transactional, group in itertools.groupby(keyed, key=lambda k: k[1].transactional):
            if transactional:
                for key, statement in group:
                    if self._skip(revision, done, key, statement):
                        continue
                    self._wait_briefly_for_exclusive(send, revision, statement)
                    _execute(connection, revision, statement)
                    self._uncommitted.append((revision.id, key))
                continue
            with self.outside_transaction(connection):
                for key, statement in group:
                    if self._skip(revision, done, key, statement):
                        continue
                    self._drop_invalid_index(connection, revision, statement)
                    _execute(connection, revision, statement)
                    self._mark(connection, [(revision.id, key)])

    def queue(self, send: Send, revision: Revision, statements: tuple[Statement, ...]) -> None:
        """Send the statements of a revision that runs whole in its transaction, each under
        its timeouts, to a batch that goes to the server as one."""
        self.apply_timeouts(send, revision)
        for statement in statements:
            self._wait_briefly_for_exclusive(send, revision, statement)
            send(statement.text, None)

    @contextmanager
    def outside_transaction(self, connection: Connection) -> Iterator[None]:
        """An autocommit block, after marking the statements its commit makes permanent, so
        that a later try of the revision skips them."""
        self._mark(connection, self._uncommitted)
        self._uncommitted.clear()
        with autocommit(connection):
            yield

    def _skip(self, revision: Revision, done: set[str], key: str, statement: Statement) -> bool:
        if key not in done:
            return False
        self.events(StatementSkipped(revision.id, statement.line, statement.first_line))
        return True

    def apply_timeouts(self, send: Send, revision: Revision) -> None:
        """The revision's own lock_timeout and statement_timeout, or the run's."""
        own = revision.settings
        wanted = (
            own.lock_timeout_ms if own.lock_timeout_ms is not None else self.lock_timeout_ms,
            own.statement_timeout_ms
            if own.statement_timeout_ms is not None
            else self.statement_timeout_ms,
        )
        self._revision_lock_timeout_ms = wanted[0]
        if wanted != self._timeouts_in_force:
            set_timeouts(send, *wanted)
            self._timeouts_in_force = wanted

    def _wait_briefly_for_exclusive(
        self, send: Send, revision: Revision, statement: Statement
    ) -> None:
        """The lock_timeout for this statement: short for ACCESS EXCLUSIVE, unless the
        revision chose its own; the revision's otherwise."""
        if self._timeouts_in_force is None or revision.settings.lock_timeout_ms is not None:
            return
        lock_ms, statement_ms = self._timeouts_in_force
        wanted = self._revision_lock_timeout_ms
        if statement.takes_access_exclusive:
            wanted = min(wanted or self.exclusive_lock_timeout_ms, self.exclusive_lock_timeout_ms)
        if wanted != lock_ms:
            set_timeouts(send, wanted, statement_ms)
            self._timeouts_in_force = (wanted, statement_ms)

    def forget_timeouts(self) -> None:
        """A rollback undid the timeouts set in its transaction: set them again next time."""
        self._timeouts_in_force = None

    def restore_default_timeouts(self, send: Send) -> None:
        """After a revision with its own timeouts, give the next one the run's."""
        defaults = (self.lock_timeout_ms, self.statement_timeout_ms)
        if self._timeouts_in_force not in (None, defaults):
            set_timeouts(send, *defaults)
            self._timeouts_in_force = defaults

    def _mark(self, connection: Connection, markers: list[tuple[str, str]]) -> None:
        for revision, key in markers:
            self._marked.add(revision)
            connection.exec_driver_sql(
                f"INSERT INTO {self.schema_identifier}.{PROGRESS_TABLE} "
                "(revision, statement_key) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (revision, key),
            )

    def _drop_invalid_index(
        self, connection: Connection, revision: Revision, statement: Statement
    ) -> None:
        index = statement.concurrent_index
        if index is None:
            return
        valid = connection.exec_driver_sql(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (index,)
        ).scalar()
        if valid is False:
            connection.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
            self.events(InvalidIndexDropped(revision.id, index))


def _execute(connection: Connection, revision: Revision, statement: Statement) -> None:
    # no_parameters: the body is raw SQL, so `%` and `:name` must reach PostgreSQL untouched.
    try:
        connection.execution_options(no_parameters=True).exec_driver_sql(statement.text)
    except DBAPIError as error:
        raise StatementFailed(revision, statement, error) from error
