"""One writing run: the same step executor for `migrate` and for plain `alembic`.

`migrate` walks its plan and hands each revision to `PlanRun.apply`; plain `alembic upgrade`
reaches the same method through env.py, which lets Alembic choose the steps and then applies
each of them here instead of calling the revision's module. Either way a revision runs the
statements the revision model read from its file, with their file lines, in one transaction
that also moves the version table (as Alembic would) and closes the try's history row.

A revision whose statements all run in its transaction, the usual case, is sent as one
pipeline: the try's `running` row, BEGIN, the statements under their timeouts, the version
row, the history row and COMMIT reach the server together and cost one round trip. Anything
else (statements that must run outside a transaction, backfills, a revision an earlier try
left half done) runs statement by statement, with progress markers.

Under the migration lock, the run refuses to build on revisions that disagree with their files.
When a try fails, its transaction has rolled back; the run records the failed try and either
gives up or, for a lock timeout, pauses and tries the revision again; earlier revisions stay
applied.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
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
from migrator.model.repeatable import DIRECTION as REPEATABLE
from migrator.model.repeatable import Repeatable
from migrator.model.revision import BackfillStep, SqlStep, Step
from migrator.run import history, version_table
from migrator.run import lock as locking
from migrator.run.backfill import Retries, run_backfill
from migrator.run.replicas import Watcher, works_through_a_large_table
from migrator.run.session import set_timeouts
from migrator.run.statements import StatementFailed, StatementRunner
from migrator.run.try_rows import TryRows

if TYPE_CHECKING:  # Alembic is loaded only by runs that go through it
    from alembic.runtime.migration import MigrationContext

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


class RepeatableFailed(MigratorError):
    """A repeatable file failed in PostgreSQL; the revisions before it stay applied."""


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
        return planned


class OfflineRun:
    """`--sql`: the plan's steps written out through Alembic's offline mode (which adds its
    version table statements); a backfill as its UPDATE."""

    def __init__(self, graph: RevisionGraph, plan: Plan | None = None) -> None:
        self.cursor = StepCursor(graph, plan)

    def steps_function(self, alembic_function: Callable[..., Iterable[Any]]) -> Callable:
        """Alembic's `fn` for the migration context: its steps, through the cursor."""

        def steps(heads: Any, context: MigrationContext) -> Iterator[Any]:
            yield from self.cursor.steps_in_plan_order(alembic_function(heads, context))

        return steps

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

    def duration_ms(self, started: datetime) -> int:
        return round((self.finished - started).total_seconds() * 1000)


class PlanRun:
    """Applies revisions, with history, retries and progress markers."""

    def __init__(
        self,
        connection: Connection,
        settings: Settings,
        graph: RevisionGraph,
        events: EventSink,
        *,
        heads: tuple[str, ...],
        note: str | None = None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.graph = graph
        self.events = events
        self.note = note
        self.run_id = uuid.uuid4()
        self.who = history.identity(settings.environment)
        self.heads = version_table.Heads(graph, heads)
        self.statements = StatementRunner(
            schema=settings.tool_schema,
            lock_timeout_ms=settings.engine.lock_timeout_ms,
            statement_timeout_ms=settings.engine.statement_timeout_ms,
            events=events,
            exclusive_lock_timeout_ms=settings.engine.exclusive_lock_timeout_ms,
        )
        self.statements.load_progress(connection)
        self.replicas = Watcher(settings.engine.max_replica_lag_ms / 1000)
        self.tries: Counter[str | None] = Counter()
        self.step_started = datetime.now(UTC)
        self.applied: list[str] = []
        self.current: PlannedRevision | None = None
        self._prepared: TryRows | None = None
        self._driver_prepare_threshold: int | None = None

    def run(self, plan: Plan) -> None:
        """Every revision of the plan, in its order, then its repeatables."""
        for number, planned in enumerate(plan.items, start=1):
            self.apply(planned, last=number == len(plan.items) and not plan.repeatables)
        for repeatable in plan.repeatables:
            self.apply_repeatable(repeatable)

    def apply_repeatable(self, repeatable: Repeatable) -> None:
        """One repeatable file in a transaction of its own, under the run's timeouts, with its
        history row (direction `repeatable`, its checksum) in the same transaction. A failure
        rolls back this file alone and is recorded; the revisions before it stay applied."""
        connection, schema = self.connection, self.settings.tool_schema
        connection.commit()
        self.step_started = datetime.now(UTC)
        self.events(StepStarted(repeatable.key, repeatable.service.name))
        self.statements.forget_timeouts()  # set here, the run's own, whatever ran before
        engine = self.settings.engine
        set_timeouts(
            connection.exec_driver_sql, engine.lock_timeout_ms, engine.statement_timeout_ms
        )
        statement = None
        try:
            for statement in repeatable.statements:
                connection.execution_options(no_parameters=True).exec_driver_sql(statement.text)
            ending = Ending("success", datetime.now(UTC))
            history.record(
                connection.exec_driver_sql, schema, self._ran(repeatable, ending), self.who
            )
            connection.commit()
        except DBAPIError as error:
            _rollback_quietly(connection)
            where = repeatable.at(statement.line) if statement else repeatable.location
            sqlstate, message = _sqlstate(error), _message_of(error)
            line = statement.first_line if statement else None
            self.events(
                StepFailed(repeatable.key, repeatable.service.name, 1, sqlstate, message, line)
            )
            failed = Ending(
                "failed",
                datetime.now(UTC),
                sqlstate,
                urls.scrub(message, self.settings.database_url),
            )
            self._write_failure(self._ran(repeatable, failed))
            raise RepeatableFailed(
                f"repeatable {where} failed: {message} [SQLSTATE {sqlstate}]; fix the file and "
                "run `migrate up` again (the revisions of this run stay applied)"
            ) from error
        self.applied.append(repeatable.key)
        self.events(
            StepFinished(
                revision=repeatable.key,
                service=repeatable.service.name,
                direction=REPEATABLE,
                message="CREATE OR REPLACE, its file is new or changed",
                duration_ms=ending.duration_ms(self.step_started),
                attempt=1,
            )
        )

    def _ran(self, repeatable: Repeatable, ending: Ending) -> history.Attempt:
        return history.Attempt(
            run_id=self.run_id,
            revision=repeatable.key,
            service=repeatable.service.name,
            direction=REPEATABLE,
            started_at=self.step_started,
            finished_at=ending.finished,
            outcome=ending.outcome,
            checksum=repeatable.checksum,
            sqlstate=ending.sqlstate,
            error_message=ending.error_message,
            note=self.note,
        )

    def steps_function(self, alembic_function: Callable[..., Iterable[Any]]) -> Callable:
        """Alembic's `fn` for plain `alembic upgrade/downgrade`: Alembic chooses the steps
        from its version table, and each revision step is applied here; stamps, which run no
        revision, go back to Alembic."""

        def steps(heads: Any, context: MigrationContext) -> Iterator[Any]:
            chosen = list(alembic_function(heads, context))
            for number, step in enumerate(chosen, start=1):
                info = step.info
                if info.is_stamp:
                    yield step
                    continue
                [revision] = info.up_revision_ids
                direction = "upgrade" if info.is_upgrade else "downgrade"
                planned = planning.build(self.graph, (), direction, [revision]).items[0]
                self.apply(planned, last=number == len(chosen))

        return steps

    def on_version_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic's hook after a stamp moved its version table: the stamp's history row, in
        the same transaction."""
        finished = datetime.now(UTC)
        for revision in step.up_revision_ids or (None,):
            attempt = self._attempt(revision, "stamp", 1, Ending("success", finished))
            history.record(
                ctx.connection.exec_driver_sql, self.settings.tool_schema, attempt, self.who
            )
        self.heads = version_table.Heads(self.graph, tuple(heads))

    def apply(self, planned: PlannedRevision, *, last: bool = True) -> None:
        """Apply or roll back one revision: try it, and after a lock timeout pause and try
        again. An interruption (Ctrl-C, SIGTERM) closes the try as interrupted and goes on
        upwards.

        Only the run's `last` revision waits for the disk when it commits: the server writes
        its log in order, so that wait makes every revision before it durable too, and a run
        that stops early writes its failed try's row, which waits the same way. Until then a
        crash of the server (not of the tool) could only take back whole revisions, version
        row and history row with them, which the next `up` applies again; it spares the
        server one disk flush per revision."""
        while True:
            try:
                self._try(planned, last)
                return
            except BaseException as error:
                interruption = _interruption(error)
                if interruption is not None:
                    revision, _, _ = self._close_failed_try(interruption)
                    raise as_interrupted(interruption, revision) from None
                if self._retry_after(error):
                    self.statements.load_progress(self.connection)
                    continue
                explained = self._explained(error)
                if explained is error:
                    raise
                raise explained from error

    def _try(self, planned: PlannedRevision, last: bool) -> None:
        revision = planned.revision
        self.current = planned
        self.step_started = datetime.now(UTC)
        self.events(StepStarted(planned.id, revision.service.name))
        self._wait_for_replicas_before_large_work(planned)
        running = self._attempt(
            planned.id,
            planned.direction,
            self.tries[planned.id] + 1,
            Ending("running", self.step_started),
        )
        if not self._runs_whole_in_its_transaction(planned):
            self._try_step_by_step(planned, running)
        elif not self._try_as_one_batch(planned, running, last):
            opened = history.is_running(self.connection, self.settings.tool_schema, running)
            self._try_step_by_step(planned, running, opened)
        self.statements.restore_default_timeouts(self.connection.exec_driver_sql)
        finished = datetime.now(UTC)
        self.current = None
        self.tries.pop(planned.id, None)
        self.applied.append(planned.id)
        self.events(
            StepFinished(
                revision=planned.id,
                service=revision.service.name,
                direction=planned.direction,
                message=revision.title,
                duration_ms=round((finished - self.step_started).total_seconds() * 1000),
                attempt=running.attempt,
            )
        )

    def _wait_for_replicas_before_large_work(self, planned: PlannedRevision) -> None:
        """A statement cannot pause halfway as a backfill does between slices: a revision
        that works through a large table first waits for lagging replicas to catch up. Only
        a lagging replica makes the revision's statements worth parsing and its tables worth
        measuring: without replicas this costs one query every few seconds, not a revision."""
        if not self.replicas.limit_seconds:
            return
        lagging = self.replicas.lagging(self.connection, self.events)
        if lagging is not None and works_through_a_large_table(self.connection, planned.steps):
            self.replicas.wait(self.connection, self.events, planned.id)
        if self.connection.in_transaction():
            self.connection.commit()

    def _runs_whole_in_its_transaction(self, planned: PlannedRevision) -> bool:
        return not self.statements.has_progress(planned.id) and all(
            isinstance(step, SqlStep) and all(s.transactional for s in step.statements)
            for step in planned.steps
        )

    @property
    def _rows(self) -> TryRows:
        """The run's prepared statements, prepared on its session the first time."""
        if self._prepared is None:
            driver = self.connection.connection.driver_connection
            encoding = driver.info.encoding
            escaping = psycopg.pq.Escaping(driver.pgconn)

            def quote(value: str) -> str:
                return bytes(escaping.escape_literal(value.encode(encoding))).decode(encoding)

            rows = TryRows(self.settings.tool_schema, self.run_id, self.who, self.note, quote)
            # psycopg prepares statements of its own and, after a revision's DROP or ALTER,
            # deallocates every prepared statement of the session, the run's included.
            self._driver_prepare_threshold = driver.prepare_threshold
            driver.prepare_threshold = None
            for statement in rows.prepare():
                self._send_now(statement, None)
            self.connection.commit()
            self._prepared = rows
        return self._prepared

    def close(self) -> None:
        """Give the session back without the run's prepared statements (plain `alembic` may
        have lent it); a lost connection has none to give back."""
        if self._prepared is None:
            return
        with contextlib.suppress(SQLAlchemyError, psycopg.Error):
            _rollback_quietly(self.connection)
            for statement in self._prepared.deallocate():
                self._send_now(statement, None)
            self.connection.commit()
            driver = self.connection.connection.driver_connection
            driver.prepare_threshold = self._driver_prepare_threshold
        self._prepared = None

    def _send_now(self, text: str, parameters: Any) -> None:
        """One statement on the run's connection, in SQLAlchemy's transaction; text without
        parameters reaches PostgreSQL untouched (`%` included)."""
        options = {"no_parameters": True} if parameters is None else {}
        self.connection.execution_options(**options).exec_driver_sql(text, parameters)

    def _try_as_one_batch(
        self, planned: PlannedRevision, running: history.Attempt, last: bool
    ) -> bool:
        """The whole try as one batch of statements, one round trip: the `running` row in a
        transaction of its own that need not wait for the disk (only a trace: were the server
        to crash before writing it, the try could not have committed either), then the
        revision's transaction. False when it failed in a way worth locating statement by
        statement (the batch does not say which statement failed); the failure has rolled
        back, and the `running` row may or may not have committed."""
        rows = self._rows
        # pg_stat_activity shows the batch: its first line says whose it is.
        label = (
            f"/* migrator: {planned.direction} {planned.id} ({planned.revision.service.name}) */"
        )
        parts = [label + " BEGIN", "SET LOCAL synchronous_commit = off", rows.opening(running)]
        parts.append("COMMIT")
        parts += ["BEGIN"] if last else ["BEGIN", "SET LOCAL synchronous_commit = off"]
        for step in planned.steps:
            assert isinstance(step, SqlStep)
            self.statements.queue(
                lambda text, _: parts.append(text), planned.revision, step.statements
            )
        moved = self.heads.after(planned.id, planned.direction)
        parts += [rows.finishing(running, *moved), "COMMIT"]
        self.connection.commit()  # whatever SQLAlchemy began (Alembic reads its heads so)
        driver = self.connection.connection.driver_connection
        driver.autocommit = True  # the batch carries its own BEGIN and COMMIT
        try:
            # A statement may end in a `--` comment: each one ends its own line.
            driver.execute("\n;\n".join(parts))
        except BaseException as error:
            self.heads.undo(planned.id, planned.direction, moved)
            self.statements.forget_timeouts()  # the rollback undid those set in the try
            _end_failed_transaction(driver)
            if not isinstance(error, psycopg.Error):
                raise
            if error.sqlstate != locking.LOCK_NOT_AVAILABLE:
                return False
            raise DBAPIError(None, None, error) from error
        finally:
            driver.autocommit = False
        return True

    def _try_step_by_step(
        self, planned: PlannedRevision, running: history.Attempt, opened: bool = False
    ) -> None:
        """Statements one at a time, each where it must run, with progress markers for what
        commits before the revision does, and backfills in slices."""
        connection, rows = self.connection, self._rows
        connection.commit()
        if not opened:
            self._send_now("SET LOCAL synchronous_commit = off", None)
            self._send_now(rows.opening(running), None)
            connection.commit()
        revision = planned.revision
        for step in planned.steps:
            if isinstance(step, SqlStep):
                self.statements.run(connection, revision, step.statements)
                continue
            tries = revision.settings.lock_retries or self.settings.engine.lock_retries
            retries = Retries(tries, self.settings.engine.retry_backoff_ms)
            run_backfill(
                connection, self.statements, revision, step, retries, self.events, self.replicas
            )
        moved = self.heads.after(planned.id, planned.direction)
        try:
            self._send_now(rows.finishing(running, *moved), None)
            self.statements.finish_revision(connection, planned.id)
            connection.commit()
        except BaseException:
            self.heads.undo(planned.id, planned.direction, moved)
            raise

    def _close_failed_try(self, error: BaseException) -> tuple[str | None, int, str | None]:
        """Close the current try's row with how it ended; returns its revision, its number
        and the SQLSTATE."""
        _rollback_quietly(self.connection)
        planned = self.current
        self.current = None
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
        ending = Ending(outcome, datetime.now(UTC), sqlstate, message)
        self._write_failure(self._attempt(revision, direction, attempt, ending))
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

    def _write_failure(self, attempt: history.Attempt) -> None:
        """A failed try's row closes its `running` row (or is written, when the try failed
        before opening one), on the run's connection, or on a new one when it is gone."""
        reason = ""
        schema = self.settings.tool_schema
        for connection in (self.connection, None):
            try:
                with contextlib.ExitStack() as stack:
                    target = connection or stack.enter_context(self.connection.engine.connect())
                    if history.is_running(target, schema, attempt):
                        history.close(target.exec_driver_sql, schema, attempt)
                    else:
                        history.record(target.exec_driver_sql, schema, attempt, self.who)
                    target.commit()
                return
            except SQLAlchemyError as error:
                _rollback_quietly(self.connection)
                reason = str(getattr(error, "orig", None) or error).strip()
        self.events(HistoryNotRecorded(attempt.revision, reason))

    def _service(self, revision: str | None) -> str | None:
        known = self.graph.revisions.get(revision or "")
        return known.service.name if known else None


def _end_failed_transaction(driver: psycopg.Connection) -> None:
    """After a pipeline failed or was cut short: leave the driver connection idle, rolled
    back, for the failure's history row (or, when it is gone, for nobody)."""
    with contextlib.suppress(psycopg.Error):
        if driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            driver.execute("ROLLBACK")


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
