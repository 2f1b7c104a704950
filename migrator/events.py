"""What the engine tells the person (or the log) watching a run, while it runs.

The engine raises events and never prints: `migrate` shows them on the terminal, plain `alembic`
gets them through the `migrator` logger, and structured logs can take the same events later.
Each event renders itself as one line, so every front end says the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar


class _Described:
    """An event whose line is its template filled with its own fields."""

    template: ClassVar[str] = ""

    def describe(self) -> str:
        return self.template.format(e=self)


@dataclass(frozen=True)
class RunStarted:
    """A writing run begins: a plan of revisions to apply or roll back."""

    run_id: str
    direction: str
    revisions: int
    environment: str

    def describe(self) -> str:
        verb = "applying" if self.direction == "upgrade" else "rolling back"
        return f"run {self.run_id}: {verb} {self.revisions} revision(s) in {self.environment}"


@dataclass(frozen=True)
class RunFinished(_Described):
    template: ClassVar[str] = "run {e.run_id} {e.outcome} after {e.duration_ms} ms"
    run_id: str
    outcome: str
    duration_ms: int


@dataclass(frozen=True)
class StepStarted(_Described):
    """A revision's first statement is about to run."""

    template: ClassVar[str] = "{e.revision} ({e.service}) started"

    revision: str
    service: str


@dataclass(frozen=True)
class StepFailed:
    """A try of a revision failed; its transaction rolled back."""

    revision: str | None
    service: str | None
    attempt: int
    sqlstate: str | None
    message: str
    statement: str | None

    def describe(self) -> str:
        where = f" at `{self.statement}`" if self.statement else ""
        return f"{self.revision or 'the run'} failed{where}: {self.message}"


@dataclass(frozen=True)
class StepFinished:
    """A revision applied, rolled back or stamped; its transaction has committed."""

    revision: str
    service: str
    direction: str
    message: str
    duration_ms: int
    attempt: int

    def describe(self) -> str:
        verb = {"upgrade": "applied", "downgrade": "rolled back", "stamp": "stamped"}
        tries = f", try {self.attempt}" if self.attempt > 1 else ""
        return (
            f"{verb.get(self.direction, self.direction)} {self.revision}  {self.message}  "
            f"({self.duration_ms} ms{tries})"
        )


@dataclass(frozen=True)
class RetryScheduled(_Described):
    """A revision's try failed on a lock timeout and was rolled back; it runs again after a
    pause, so that whatever held the lock can finish."""

    template: ClassVar[str] = (
        "retrying {e.revision}: try {e.attempt} of {e.tries} rolled back ({e.reason}); "
        "next try in {e.delay_ms} ms"
    )

    revision: str
    attempt: int
    tries: int
    delay_ms: int
    reason: str


@dataclass(frozen=True)
class LockBusy(_Described):
    """Another migrator holds the migration lock; this run waits for it."""

    template: ClassVar[str] = (
        "waiting for the migration lock held by {e.holder} "
        "({e.waited_seconds:.0f}s of {e.wait_limit_seconds:.0f}s)"
    )

    holder: str
    waited_ms: int
    wait_limit_ms: int

    @property
    def waited_seconds(self) -> float:
        return self.waited_ms / 1000

    @property
    def wait_limit_seconds(self) -> float:
        return self.wait_limit_ms / 1000


@dataclass(frozen=True)
class StatementSkipped(_Described):
    """A statement an earlier, interrupted try already committed is not run again."""

    template: ClassVar[str] = (
        "{e.revision} line {e.line}: already done by an earlier try, skipped `{e.first_line}`"
    )

    revision: str
    line: int
    first_line: str


@dataclass(frozen=True)
class InvalidIndexDropped(_Described):
    """An index an earlier CREATE INDEX CONCURRENTLY left INVALID was dropped to build it anew
    (IF NOT EXISTS would otherwise keep the broken one)."""

    template: ClassVar[str] = "{e.revision}: dropped INVALID index {e.index} left by an earlier try"

    revision: str
    index: str


@dataclass(frozen=True)
class BatchProgress:
    """A backfill slice committed, with its checkpoint."""

    revision: str
    table: str
    rows_done: int
    rows_total: int
    rows_per_second: int
    last_key: str
    batch_size: int

    @property
    def eta_seconds(self) -> int | None:
        left = self.rows_total - self.rows_done
        return round(left / self.rows_per_second) if self.rows_per_second else None

    def describe(self) -> str:
        eta = f", about {self.eta_seconds}s left" if self.eta_seconds is not None else ""
        return (
            f"{self.revision} backfill of {self.table}: {self.rows_done} of {self.rows_total} "
            f"rows, {self.rows_per_second} rows/s{eta} (checkpoint {self.last_key})"
        )


@dataclass(frozen=True)
class HistoryNotRecorded:
    """A failure could not be written to the history (the connection itself was lost)."""

    revision: str | None
    reason: str

    def describe(self) -> str:
        return f"could not record the failure of {self.revision or 'the run'}: {self.reason}"


@dataclass(frozen=True)
class TriesInterrupted:
    """Tries an earlier process left unfinished (it was killed, or lost its connection); the
    history now says they were interrupted."""

    revisions: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"{len(self.revisions)} earlier tr{'y' if len(self.revisions) == 1 else 'ies'} "
            f"({', '.join(self.revisions)}) ended without a word, their process gone; recorded "
            "as interrupted"
        )


@dataclass(frozen=True)
class SeedsSkipped:
    """Seeds left out because their service, or one it needs, is not at head: a developer who
    finds a table empty should not have to guess why."""

    which: str
    services: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"seeds ({self.which}) skipped for {', '.join(self.services)}: their branches, or "
            "those of the services they need, are not at head; `migrate up` brings every "
            "service to head and loads them"
        )


@dataclass(frozen=True)
class ReplicaLagWait(_Described):
    """A streaming replica lags more than max_replica_lag: the run waits (between backfill
    slices, or before a statement that works through a large table) until it catches up."""

    template: ClassVar[str] = (
        "{e.revision}: waiting for replica {e.replica}, {e.lag_seconds:.0f}s behind "
        "(max_replica_lag {e.limit_seconds:g}s)"
    )

    revision: str
    replica: str
    lag_seconds: float
    limit_seconds: float


@dataclass(frozen=True)
class ReplicaCaughtUp(_Described):
    """The replicas the run waited for are within max_replica_lag again; the run goes on."""

    template: ClassVar[str] = (
        "{e.revision}: replicas caught up after {e.waited_seconds:.0f}s; going on"
    )

    revision: str
    waited_seconds: float


@dataclass(frozen=True)
class ReplicaLagUnwatched(_Described):
    """The primary has replicas whose lag this role may not read; said once a run."""

    template: ClassVar[str] = (
        "cannot watch the lag of {e.replicas} replica(s): {e.reason}; the run goes on "
        "without waiting for them"
    )

    replicas: int
    reason: str


Event = (
    RunStarted
    | RunFinished
    | StepStarted
    | StepFailed
    | StepFinished
    | RetryScheduled
    | LockBusy
    | StatementSkipped
    | InvalidIndexDropped
    | BatchProgress
    | HistoryNotRecorded
    | TriesInterrupted
    | SeedsSkipped
    | ReplicaLagWait
    | ReplicaCaughtUp
    | ReplicaLagUnwatched
)
EventSink = Callable[[Event], None]

_log = logging.getLogger("migrator")


def log_event(event: Event) -> None:
    """The sink of plain `alembic`: one log line per event."""
    warns = HistoryNotRecorded | StepFailed | SeedsSkipped | ReplicaLagWait | ReplicaLagUnwatched
    level = logging.WARNING if isinstance(event, warns) else logging.INFO
    _log.log(level, event.describe())
