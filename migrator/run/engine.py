"""One writing run inside env.py: the same for `migrate` and plain `alembic`.

Under the migration lock, the run makes the tool's tables, refuses to build on revisions that
disagree with their files, then lets Alembic apply its steps (one transaction per revision)
while it writes each step's history row in that step's own transaction. When a step fails, its
transaction has rolled back; the run records the failed try on the same connection and either
gives up or, for a lock timeout, pauses and asks Alembic again: Alembic recomputes the plan from
the version table, so the run resumes at the failed revision and earlier ones stay applied.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from migrator import urls
from migrator.config import Settings
from migrator.errors import MigratorError
from migrator.events import (
    EventSink,
    HistoryNotRecorded,
    RetryScheduled,
    StepFailed,
    StepFinished,
)
from migrator.model.graph import RevisionGraph
from migrator.model.sql import SqlError
from migrator.revision import RevisionSource, checksum
from migrator.run import history, validation
from migrator.run import lock as locking
from migrator.run.statements import EXECUTOR_ATTRIBUTE, Executor, StatementFailed, set_timeouts

# PostgreSQL 14+ notices a vanished client during a long statement and cancels it, so a
# migrator killed mid-statement does not leave its backend holding locks until the statement
# would have ended.
_CLIENT_CHECK_INTERVAL = "1s"


class LockTimeoutExhausted(MigratorError):
    """A revision kept waiting for a lock through all of its tries."""


class RevisionFailed(MigratorError):
    """A revision failed outside `run_sql` (Python code, or Alembic's own statements)."""


def prepare_session(connection: Connection, settings: Settings) -> None:
    """The tool's tables, and the session settings every statement of the run shares."""
    history.ensure_tables(connection, settings.tool_schema)
    set_timeouts(connection, settings.engine.lock_timeout_ms, settings.engine.statement_timeout_ms)
    if connection.dialect.server_version_info >= (14,):
        connection.exec_driver_sql(
            "SELECT set_config('client_connection_check_interval', %s, false)",
            (_CLIENT_CHECK_INTERVAL,),
        )
    connection.commit()


class WritingRun:
    """Applies what Alembic plans, with history, retries and progress markers."""

    def __init__(
        self,
        connection: Connection,
        settings: Settings,
        graph: RevisionGraph,
        events: EventSink,
        note: str | None = None,
        run_id: uuid.UUID | None = None,
    ) -> None:
        self.connection = connection
        self.note = note
        self.settings = settings
        self.graph = graph
        self.events = events
        self.run_id = run_id or uuid.uuid4()
        self.who = history.identity(settings.environment)
        self.executor = Executor(
            schema=settings.tool_schema,
            lock_timeout_ms=settings.engine.lock_timeout_ms,
            statement_timeout_ms=settings.engine.statement_timeout_ms,
            events=events,
            lock_retries=settings.engine.lock_retries,
            retry_backoff_ms=settings.engine.retry_backoff_ms,
        )
        self.tries: Counter[str | None] = Counter()
        self.step_started = datetime.now(UTC)
        self._checksums: dict[str, str] = {}
        self._revision_of_file = {
            str(rev.path.resolve()): rev.id for rev in graph.revisions.values()
        }

    def attributes(self) -> dict[str, Any]:
        """What revisions reach through Alembic's Config.attributes."""
        return {EXECUTOR_ATTRIBUTE: self.executor}

    def refuse_unless_valid(self) -> None:
        found = validation.check(self.connection, self.settings, self.graph)
        validation.refuse_unless_valid(found)

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic's hook, called inside the step's transaction after the version table moved:
        the history row commits (or rolls back) together with it."""
        direction = "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
        finished = datetime.now(UTC)
        connection = ctx.connection
        for revision in step.up_revision_ids or (None,):
            attempt = self.tries[revision] + 1
            history.record(
                connection,
                self.settings.tool_schema,
                history.Attempt(
                    run_id=self.run_id,
                    revision=revision,
                    service=self._service(revision),
                    direction=direction,
                    started_at=self.step_started,
                    finished_at=finished,
                    outcome="success",
                    attempt=attempt,
                    checksum=self._checksum(revision),
                    note=self.note,
                ),
                self.who,
            )
            if revision is not None:
                self.executor.finish_revision(connection, revision)
                self.events(
                    StepFinished(
                        revision=revision,
                        service=self._service(revision) or "-",
                        direction=direction,
                        message=self._message(revision),
                        duration_ms=round((finished - self.step_started).total_seconds() * 1000),
                        attempt=attempt,
                    )
                )
            self.tries.pop(revision, None)
        self.executor.restore_default_timeouts(connection)
        self.step_started = datetime.now(UTC)

    def execute(self, run_migrations: Callable[[], None]) -> None:
        """Run Alembic's steps; after a lock timeout, pause and run what is left again."""
        while True:
            self.executor.load_progress(self.connection)
            self.step_started = datetime.now(UTC)
            try:
                run_migrations()
                return
            except BaseException as error:
                if self._retry_after(error):
                    continue
                explained = self._explained(error)
                if explained is error:
                    raise
                raise explained from error

    def _retry_after(self, error: BaseException) -> bool:
        """Record the failed try; True when it is worth another."""
        _rollback_quietly(self.connection)
        revision, direction = self._failed_step(error)
        self.tries[revision] += 1
        attempt = self.tries[revision]
        sqlstate = _sqlstate(error)
        tries = self._tries_allowed(revision)
        interrupted = not isinstance(error, Exception)
        retry = sqlstate == locking.LOCK_NOT_AVAILABLE and attempt < tries
        self._record_failure(
            revision,
            direction,
            attempt,
            "rolled_back" if retry or interrupted else "failed",
            sqlstate,
            "interrupted" if interrupted else _message_of(error),
            error.statement.first_line if isinstance(error, StatementFailed) else None,
        )
        if not retry:
            return False
        delay_ms = locking.retry_delay_ms(attempt, self.settings.engine.retry_backoff_ms)
        self.events(
            RetryScheduled(str(revision), attempt, tries, delay_ms, f"{_message_of(error)}")
        )
        time.sleep(delay_ms / 1000)
        return True

    def _explained(self, error: BaseException) -> BaseException:
        """The error as the user should read it: one line saying what to do next."""
        if not isinstance(error, Exception):
            return error
        if _sqlstate(error) == locking.LOCK_NOT_AVAILABLE:
            return LockTimeoutExhausted(
                f"{_message_of(error)}; gave up after {max(self.tries.values())} tries. Another "
                "session holds a lock the revision needs: find it in pg_locks/pg_stat_activity, "
                "or raise --lock-timeout / --lock-retries (or the revision's own settings)"
            )
        if isinstance(error, StatementFailed):
            return MigratorError(
                f"{error}; fix the revision and run `migrate up` again "
                "(earlier revisions of this run stay applied)"
            )
        if isinstance(error, DBAPIError):
            revision, _ = self._failed_step(error)
            return RevisionFailed(
                f"revision {revision or '?'} failed: {_message_of(error)}; fix it and run "
                "`migrate up` again"
            )
        return error

    def _failed_step(self, error: BaseException) -> tuple[str | None, str]:
        """The revision (and direction) whose code raised: the innermost revision file in the
        traceback, which covers run_sql, Python revisions and helpers alike."""
        found: tuple[str | None, str] = (getattr(error, "revision", None), "upgrade")
        trace = error.__traceback__
        while trace is not None:
            code = trace.tb_frame.f_code
            revision = self._revision_of_file.get(str(Path(code.co_filename).resolve()))
            if revision is not None:
                found = (revision, "downgrade" if code.co_name == "downgrade" else "upgrade")
            trace = trace.tb_next
        return found

    def _tries_allowed(self, revision: str | None) -> int:
        if revision is not None:
            source = RevisionSource.of(vars(self.graph.module(revision)))
            if source.lock_retries is not None:
                return source.lock_retries
        return self.settings.engine.lock_retries

    def _record_failure(
        self,
        revision: str | None,
        direction: str,
        attempt: int,
        outcome: str,
        sqlstate: str | None,
        message: str,
        statement: str | None,
    ) -> None:
        scrubbed = urls.scrub(message, self.settings.database_url)
        self.events(
            StepFailed(revision, self._service(revision), attempt, sqlstate, scrubbed, statement)
        )
        row = history.Attempt(
            run_id=self.run_id,
            revision=revision,
            service=self._service(revision),
            direction=direction,
            started_at=self.step_started,
            finished_at=datetime.now(UTC),
            outcome=outcome,
            attempt=attempt,
            checksum=self._checksum(revision),
            sqlstate=sqlstate,
            error_message=scrubbed,
        )
        for connection in (self.connection, None):
            try:
                if connection is None:  # the run's own connection is gone: try a new one
                    with self.connection.engine.connect() as fresh:
                        history.record(fresh, self.settings.tool_schema, row, self.who)
                        fresh.commit()
                else:
                    history.record(connection, self.settings.tool_schema, row, self.who)
                    connection.commit()
                return
            except DBAPIError as error:
                _rollback_quietly(self.connection)
                reason = str(error.orig).strip()
        self.events(HistoryNotRecorded(revision, reason))

    def _service(self, revision: str | None) -> str | None:
        known = self.graph.revisions.get(revision or "")
        return known.service.name if known else None

    def _message(self, revision: str) -> str:
        known = self.graph.revisions.get(revision)
        return known.message.splitlines()[0] if known and known.message else ""

    def _checksum(self, revision: str | None) -> str | None:
        if revision is None or revision not in self.graph.revisions:
            return None
        if revision not in self._checksums:
            try:
                self._checksums[revision] = checksum(self.graph.module(revision))
            except SqlError:  # recorded on failure rows too, where the body may not parse
                return None
        return self._checksums[revision]


def _sqlstate(error: BaseException) -> str | None:
    if isinstance(error, StatementFailed):
        return error.sqlstate
    if isinstance(error, DBAPIError):
        return getattr(error.orig, "sqlstate", None)
    return None


def _message_of(error: BaseException) -> str:
    if isinstance(error, StatementFailed):
        return str(error)
    if isinstance(error, DBAPIError):
        return str(error.orig).strip().splitlines()[0]
    return str(error) or type(error).__name__


def _rollback_quietly(connection: Connection) -> None:
    with contextlib.suppress(DBAPIError):  # the connection is gone; recording uses a new one
        connection.rollback()
