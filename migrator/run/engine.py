"""One writing run inside env.py: the same for `migrate` and plain `alembic`.

Alembic decides which steps a command takes and calls each revision's `upgrade()` or
`downgrade()`; the run decides what those calls execute. It hands Alembic its steps in the
plan's order (refusing a step the plan does not hold), and when a revision's function calls
`run_sql` or `backfill`, it runs the next step the revision model read from that file, checking
that the call is the one the file declares. So the statements that run are the plan's, with
their file lines, whichever front end started the run.

Under the migration lock, the run refuses to build on revisions that disagree with their files,
then writes each step's history row in that step's own transaction. When a step fails, its
transaction has rolled back; the run records the failed try and either gives up or, for a lock
timeout, pauses and asks Alembic again: Alembic recomputes its steps from the version table, so
the run resumes at the failed revision and earlier ones stay applied.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from migrator import urls
from migrator.config import Settings
from migrator.errors import MigratorError
from migrator.events import (
    EventSink,
    HistoryNotRecorded,
    RetryScheduled,
    StepFailed,
    StepFinished,
    StepStarted,
)
from migrator.interrupts import as_interrupted
from migrator.model import plan as planning
from migrator.model.graph import RevisionGraph
from migrator.model.plan import Plan, PlannedRevision
from migrator.model.revision import BackfillStep, SqlStep, Step
from migrator.run import history
from migrator.run import lock as locking
from migrator.run.backfill import Retries, run_backfill
from migrator.run.statements import StatementFailed, StatementRunner

# Keys of Alembic's Config.attributes through which `migrate` hands env.py its state: the run
# (which the revision files' run_sql and backfill reach too), the connection (the key Alembic's
# cookbook uses), the heads offline SQL starts from, and where autogenerate reports.
RUN_ATTRIBUTE = "migrator_run"
CONNECTION = "connection"
STARTING_HEADS = "starting_heads"
SAY = "say"


class LockTimeoutExhausted(MigratorError):
    """A revision kept waiting for a lock through all of its tries."""


class RevisionFailed(MigratorError):
    """A revision failed outside its statements (Alembic's own statements, a stray call)."""


class PlanMismatch(MigratorError):
    """Alembic was about to run something the plan does not hold, or a revision's function
    asked for something its file does not declare."""


class StepCursor:
    """Which planned revision Alembic is running, and which of its steps comes next.

    Alembic iterates the steps its command function returns and calls each revision's
    function right after taking it, so the cursor learns the revision from the step it hands
    over, with no need to inspect the caller."""

    def __init__(self, graph: RevisionGraph, plan: Plan | None) -> None:
        self.graph = graph
        self.plan = plan
        self.current: PlannedRevision | None = None
        self.finished: set[str] = set()
        self._next = 0

    def _planned(self, revision: str, direction: str) -> PlannedRevision:
        if self.plan is None:
            return planning.build(self.graph, (), direction, [revision]).items[0]
        for item in self.plan.items:
            if item.id == revision and direction == self.plan.direction:
                return item
        raise PlanMismatch(
            f"Alembic was about to {direction} {revision}, which plan {self.plan.hash} does "
            "not hold; nothing more was run. Check `migrate status` and plan again"
        )

    def steps_in_plan_order(self, alembic_steps: Iterable[Any]) -> Iterator[Any]:
        """Alembic's steps, in the plan's order, announcing each as Alembic takes it."""
        chosen = []
        for step in alembic_steps:
            info = step.info
            if info.is_stamp:
                chosen.append((None, step))
                continue
            direction = "upgrade" if info.is_upgrade else "downgrade"
            [revision] = info.up_revision_ids
            chosen.append((self._planned(revision, direction), step))
        if self.plan is not None:
            position = {item.id: number for number, item in enumerate(self.plan.items)}
            chosen.sort(key=lambda pair: -1 if pair[0] is None else position[pair[0].id])
        for planned, step in chosen:
            self.current, self._next = planned, 0
            yield step

    def take(self, kind: type, matches: Callable[[Step], bool], call: str) -> Step:
        """The next step of the current revision, which must be the call its function made."""
        planned = self.current
        if planned is None:
            raise PlanMismatch(
                f"{call} was called outside a revision step; revision files call it from "
                "upgrade() and downgrade() only"
            )
        steps = planned.steps
        revision = planned.revision
        expected = steps[self._next] if self._next < len(steps) else None
        if not isinstance(expected, kind) or not matches(expected):
            declared = f"{revision.at(expected.line)}" if expected else "nothing more"
            raise PlanMismatch(
                f"revision {revision.id} ({revision.location}): its {planned.direction}() "
                f"called {call} where its file declares {declared}; revision functions may "
                "only call run_sql and backfill with literal arguments"
            )
        self._next += 1
        return expected

    def finish(self) -> PlannedRevision | None:
        """The revision Alembic just finished; every step it declares must have run."""
        planned = self.current
        if planned is not None and self._next != len(planned.steps):
            raise PlanMismatch(
                f"revision {planned.id} ({planned.revision.location}): its "
                f"{planned.direction}() ran {self._next} of its {len(planned.steps)} steps"
            )
        self.current = None
        if planned is not None:
            self.finished.add(planned.id)
        return planned

    def refuse_unless_complete(self) -> None:
        """After the run: every planned revision ran."""
        if self.plan is None:
            return
        left = [rev for rev in self.plan.revisions if rev not in self.finished]
        if left:
            raise PlanMismatch(
                f"plan {self.plan.hash} did not run {', '.join(left)}: Alembic found nothing to "
                "do for them. Check `migrate status` and plan again"
            )


class _Run:
    """What online and offline runs share: the cursor, fed by Alembic's steps."""

    cursor: StepCursor

    def announce(self, planned: PlannedRevision) -> None:
        """A revision is about to run."""

    def steps_function(self, alembic_function: Callable[..., Iterable[Any]]) -> Callable:
        """Alembic's `fn` for the migration context: its steps, through the cursor."""

        def steps(heads: Any, context: MigrationContext) -> Iterator[Any]:
            for step in self.cursor.steps_in_plan_order(alembic_function(heads, context)):
                if self.cursor.current is not None:
                    self.announce(self.cursor.current)
                yield step

        return steps


class OfflineRun(_Run):
    """`--sql`: the same steps, written out instead of run; a backfill as its UPDATE."""

    def __init__(self, graph: RevisionGraph, plan: Plan | None = None) -> None:
        self.cursor = StepCursor(graph, plan)

    def run_sql(self, context: MigrationContext, body: str) -> None:
        step = self.cursor.take(SqlStep, lambda s: s.body == body, "run_sql")
        _write(context, step)

    def backfill(self, context: MigrationContext, arguments: dict[str, Any]) -> None:
        step = self.cursor.take(
            BackfillStep, lambda s: s.arguments == arguments, f"backfill({arguments['table']!r})"
        )
        _write(context, step)

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        self.cursor.finish()


def _write(context: MigrationContext, step: Step) -> None:
    terminator = context.impl.command_terminator
    if step.comment:
        context.impl.static_output(f"-- {step.comment}")
    for transactional, group in itertools.groupby(step.statements, lambda s: s.transactional):
        with contextlib.nullcontext() if transactional else context.autocommit_block():
            for statement in group:
                context.impl.static_output(statement.text + terminator)


class Ending(NamedTuple):
    """How a try ended (or, `running`, that it began), for its history row."""

    outcome: str
    finished: datetime
    sqlstate: str | None = None
    error_message: str | None = None


class PlanRun(_Run):
    """Applies what Alembic steps through, with history, retries and progress markers."""

    def __init__(
        self,
        connection: Connection,
        settings: Settings,
        graph: RevisionGraph,
        events: EventSink,
        *,
        plan: Plan | None = None,
        note: str | None = None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.graph = graph
        self.events = events
        self.note = note
        self.run_id = uuid.uuid4()
        self.who = history.identity(settings.environment)
        self.cursor = StepCursor(graph, plan)
        self.statements = StatementRunner(
            schema=settings.tool_schema,
            lock_timeout_ms=settings.engine.lock_timeout_ms,
            statement_timeout_ms=settings.engine.statement_timeout_ms,
            events=events,
            exclusive_lock_timeout_ms=settings.engine.exclusive_lock_timeout_ms,
        )
        self.tries: Counter[str | None] = Counter()
        self.step_started = datetime.now(UTC)
        self.applied: list[str] = []
        self.try_row: int | None = None  # the current try's `running` history row

    def announce(self, planned: PlannedRevision) -> None:
        """A try begins: its row is written `running` and committed before the revision's
        transaction opens, so that a try whose process is killed still leaves a trace."""
        self.step_started = datetime.now(UTC)
        # Only a trace: were the server to crash before it reached the disk, the try itself
        # could not have committed either, so this commit need not wait for the disk.
        self.connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        self.try_row = history.record(
            self.connection,
            self.settings.tool_schema,
            self._attempt(
                planned.id,
                planned.direction,
                self.tries[planned.id] + 1,
                Ending("running", self.step_started),
            ),
            self.who,
        )
        self.connection.commit()
        self.events(StepStarted(planned.id, planned.revision.service.name))

    def run_sql(self, context: MigrationContext, body: str) -> None:
        """What a revision's `run_sql(body)` does: run the declared step's statements."""
        step = self.cursor.take(SqlStep, lambda s: s.body == body, "run_sql")
        assert isinstance(step, SqlStep) and self.cursor.current is not None
        self.statements.run(context, self.cursor.current.revision, step.statements)

    def backfill(self, context: MigrationContext, arguments: dict[str, Any]) -> None:
        """What a revision's `backfill(...)` does: run the declared backfill in slices."""
        step = self.cursor.take(
            BackfillStep, lambda s: s.arguments == arguments, f"backfill({arguments['table']!r})"
        )
        assert isinstance(step, BackfillStep) and self.cursor.current is not None
        revision = self.cursor.current.revision
        tries = revision.settings.lock_retries or self.settings.engine.lock_retries
        retries = Retries(tries, self.settings.engine.retry_backoff_ms)
        run_backfill(context, self.statements, revision, step, retries, self.events)

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic's hook, called inside the step's transaction after the version table moved:
        the try's row is closed (or, for a stamp, written) together with it."""
        self.cursor.finish()
        direction = "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
        finished = datetime.now(UTC)
        for revision in step.up_revision_ids or (None,):
            number = self.tries[revision] + 1
            self._write(
                ctx.connection,
                self._attempt(revision, direction, number, Ending("success", finished)),
            )
            if revision is not None:
                self.statements.finish_revision(ctx.connection, revision)
                if direction != "stamp":
                    self.applied.append(revision)
                self.events(
                    StepFinished(
                        revision=revision,
                        service=self._service(revision) or "-",
                        direction=direction,
                        message=self.graph[revision].title,
                        duration_ms=round((finished - self.step_started).total_seconds() * 1000),
                        attempt=number,
                    )
                )
            self.tries.pop(revision, None)
        self.statements.restore_default_timeouts(ctx.connection)
        self.step_started = datetime.now(UTC)

    def execute(self, run_migrations: Callable[[], None]) -> None:
        """Run Alembic's steps; after a lock timeout, pause and run what is left again. An
        interruption (Ctrl-C, SIGTERM) closes the try as interrupted and goes on upwards."""
        while True:
            self.statements.load_progress(self.connection)
            self.step_started = datetime.now(UTC)
            try:
                run_migrations()
                return
            except BaseException as error:
                interruption = _interruption(error)
                if interruption is not None:
                    revision, _, _ = self._close_failed_try(interruption)
                    raise as_interrupted(interruption, revision) from None
                if self._retry_after(error):
                    continue
                explained = self._explained(error)
                if explained is error:
                    raise
                raise explained from error

    def _close_failed_try(self, error: BaseException) -> tuple[str | None, int, str | None]:
        """Close the current try's row with how it ended; returns its revision, its number
        and the SQLSTATE."""
        _rollback_quietly(self.connection)
        planned = self.cursor.current
        self.cursor.current = None
        revision = planned.id if planned else None
        direction = planned.direction if planned else "upgrade"
        self.tries[revision] += 1
        sqlstate = _sqlstate(error)
        interrupted = not isinstance(error, Exception)
        retry = (
            not interrupted
            and sqlstate == locking.LOCK_NOT_AVAILABLE
            and self.tries[revision] < self._tries_allowed(revision)
        )
        outcome = "interrupted" if interrupted else "rolled_back" if retry else "failed"
        message = (
            f"interrupted by {as_interrupted(error, revision).signal_name}"
            if interrupted
            else urls.scrub(_message_of(error), self.settings.database_url)
        )
        statement = error.statement.first_line if isinstance(error, StatementFailed) else None
        attempt = self.tries[revision]
        self.events(
            StepFailed(revision, self._service(revision), attempt, sqlstate, message, statement)
        )
        now = datetime.now(UTC)
        ending = Ending(outcome, now, sqlstate, message)
        ended = self._attempt(revision, direction, attempt, ending)
        self._write_failure(ended)
        return revision, attempt, sqlstate

    def _retry_after(self, error: BaseException) -> bool:
        """Record the failed try; True when it is worth another."""
        revision, attempt, sqlstate = self._close_failed_try(error)
        tries = self._tries_allowed(revision)
        if sqlstate != locking.LOCK_NOT_AVAILABLE or attempt >= tries:
            return False
        delay_ms = locking.retry_delay_ms(attempt, self.settings.engine.retry_backoff_ms)
        self.events(RetryScheduled(str(revision), attempt, tries, delay_ms, _message_of(error)))
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
            return RevisionFailed(
                f"the run failed: {_message_of(error)}; fix it and run `migrate up` again"
            )
        return error

    def _tries_allowed(self, revision: str | None) -> int:
        known = self.graph.revisions.get(revision or "")
        if known is not None and known.settings.lock_retries is not None:
            return known.settings.lock_retries
        return self.settings.engine.lock_retries

    def _attempt(
        self, revision: str | None, direction: str, number: int, ending: Ending
    ) -> history.Attempt:
        """The history row of try `number` of `revision`, ending as `ending` says."""
        known = self.graph.revisions.get(revision or "")
        checksum_direction = "downgrade" if direction == "downgrade" else "upgrade"
        return history.Attempt(
            run_id=self.run_id,
            revision=revision,
            service=known.service.name if known else None,
            direction=direction,
            started_at=self.step_started,
            finished_at=ending.finished,
            outcome=ending.outcome,
            attempt=number,
            checksum=known.checksum(checksum_direction) if known else None,
            sqlstate=ending.sqlstate,
            error_message=ending.error_message,
            note=self.note,
        )

    def _write(self, connection: Connection, attempt: history.Attempt) -> None:
        """Close the try's `running` row, or write a row where none was opened (a stamp)."""
        schema = self.settings.tool_schema
        if self.try_row is not None:
            history.close(connection, schema, self.try_row, attempt)
            self.try_row = None
        else:
            history.record(connection, schema, attempt, self.who)

    def _write_failure(self, attempt: history.Attempt) -> None:
        """A failed try's row, on the run's connection, or a new one when it is gone."""
        reason = ""
        for connection in (self.connection, None):
            try:
                with contextlib.ExitStack() as stack:
                    target = connection or stack.enter_context(self.connection.engine.connect())
                    row = self.try_row
                    self._write(target, attempt)
                    try:
                        target.commit()
                    except SQLAlchemyError:
                        self.try_row = row
                        raise
                return
            except SQLAlchemyError as error:
                _rollback_quietly(self.connection)
                reason = str(getattr(error, "orig", None) or error).strip()
        self.events(HistoryNotRecorded(attempt.revision, reason))

    def _service(self, revision: str | None) -> str | None:
        known = self.graph.revisions.get(revision or "")
        return known.service.name if known else None


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
    with contextlib.suppress(SQLAlchemyError):  # the connection is gone; a new one records
        connection.rollback()


def _interruption(error: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM behind an error, if any: the driver cancels the statement when
    it is interrupted, and what surfaces may be the error a cleanup raised afterwards."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, Exception):
            return current
        current = current.__cause__ or current.__context__
    return None
