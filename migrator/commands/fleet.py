"""`migrate fleet`: status, plan, up and down over many databases.

Each target is migrated by the same code as `migrate up` on that database alone (a Context
for its URL and environment, so its policy's backup and approval apply); its own migration
lock, version table and history are the only state, so a rollout needs no coordinator: running
it again plans every target afresh, and the ones already at their goal are told so without
holding their lock. Targets run on threads: the work of each is mostly waiting on its server
(psycopg releases the GIL), and the revision graph is read once and shared, read-only.

A rollout stops at its first failure unless told to keep going: the targets not yet started
are reported `not reached`, and the ones running finish the revision they are on (a revision
is never cut in the middle). Canaries run first, and the rest only when every canary succeeded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from migrator import urls
from migrator.commands import reading, writing
from migrator.context import Context
from migrator.errors import MigratorError
from migrator.events import Event, StepFinished
from migrator.model.plan import Plan
from migrator.ops.targets import Target

AT_GOAL, DONE, FAILED, NOT_REACHED, RUNNING, WAITING = (
    "at goal",
    "done",
    "failed",
    "not reached",
    "running",
    "waiting",
)


@dataclass
class TargetState:
    """Where one target of a run stands; `revision` is the last one it applied or rolled back."""

    target: Target
    state: str = WAITING
    revision: str | None = None
    done: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    backup: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state in (AT_GOAL, DONE)


@dataclass(frozen=True)
class ServiceState:
    service: str
    current: str | None
    head: str | None
    pending: int


@dataclass(frozen=True)
class TargetPlan:
    target: Target
    hashes: tuple[str, ...]  # one a service the target hosts (one for a target of every service)
    revisions: tuple[str, ...]


Watcher = Callable[[TargetState], None]


def _pool(base: Context, parallel: int) -> ThreadPoolExecutor:
    """Threads for the targets, once the graph they share is read here. Reading it from
    several threads at once would parse revision files concurrently, which CPython 3.11's
    parser does not survive (`AST constructor recursion depth mismatch`), and would read the
    same files once per target."""
    base.graph  # noqa: B018 - the read is the point
    return ThreadPoolExecutor(max_workers=max(parallel, 1))


def on_target(base: Context, target: Target, events: Callable[[Event], None]) -> Context:
    """A Context for the target's database and environment, sharing the base's graph."""
    return Context.load(
        project=base.settings.project_root,
        database_url=urls.libpq_dsn(target.url),
        environment=target.environment or base.settings.environment,
        events=events,
        graph=base.graph,
    )


def _services(target: Target) -> tuple[str | None, ...]:
    return target.services or (None,)


def status(
    base: Context, targets: list[Target], parallel: int
) -> list[tuple[Target, list[ServiceState]]]:
    """Per target, each hosted service's current revision and its pending count."""

    def one(target: Target) -> list[ServiceState]:
        rows = reading.status(on_target(base, target, base.events))
        hosted = set(target.services)
        return [
            ServiceState(row.service.name, row.current, row.head, len(row.pending))
            for row in (r.status for r in rows)
            if not hosted or row.service.name in hosted
        ]

    with _pool(base, parallel) as pool:
        return list(zip(targets, pool.map(one, targets), strict=True))


def plans(base: Context, targets: list[Target], parallel: int) -> list[TargetPlan]:
    """What `fleet up` would apply to each target, with the hashes that approve it."""

    def one(target: Target) -> TargetPlan:
        ctx = on_target(base, target, base.events)
        found = [writing.upgrade_plan(ctx, service=service) for service in _services(target)]
        revisions = tuple(dict.fromkeys(rev for plan in found for rev in plan.revisions))
        return TargetPlan(target, tuple(plan.hash for plan in found), revisions)

    with _pool(base, parallel) as pool:
        return list(pool.map(one, targets))


def group_hash(found: list[TargetPlan]) -> str | None:
    """The one hash that approves every plan, when all the targets' plans are identical."""
    hashes = {plan.hashes for plan in found}
    if len(hashes) == 1 and len(next(iter(hashes))) == 1:
        return next(iter(hashes))[0]
    return None


def rollout(
    base: Context,
    targets: list[Target],
    *,
    direction: str = "upgrade",
    parallel: int = 1,
    canary: int = 0,
    keep_going: bool = False,
    approve: str | None = None,
    watch: Watcher | None = None,
) -> list[TargetState]:
    """Bring every target to its goal (`up`), or roll back its last revision (`down`):
    canaries first, then the rest, `parallel` at a time, stopping at the first failure unless
    `keep_going`."""
    states = [TargetState(target) for target in targets]
    seen = watch or (lambda _state: None)
    stop = threading.Event()

    def run(state: TargetState) -> None:
        if stop.is_set():
            state.state = NOT_REACHED
            seen(state)
            return
        started = time.monotonic()
        state.state = RUNNING
        seen(state)
        try:
            _migrate(base, state, direction, approve, seen)
        except MigratorError as error:
            state.state, state.error = FAILED, urls.scrub(str(error), state.target.url)
            if not keep_going:
                stop.set()
        finally:
            state.seconds = time.monotonic() - started
            seen(state)

    first, rest = states[:canary], states[canary:]
    for wave in (first, rest):
        with _pool(base, parallel) as pool:
            list(pool.map(run, wave))
        if wave is first and any(state.state == FAILED for state in first):
            stop.set()
    return states


def _migrate(
    base: Context, state: TargetState, direction: str, approve: str | None, seen: Watcher
) -> None:
    def events(event: Event) -> None:
        if isinstance(event, StepFinished):
            state.revision = event.revision
            seen(state)

    ctx = on_target(base, state.target, events)
    line = f"migrate fleet {'up' if direction == 'upgrade' else 'down'} --approve HASH"
    for service in _services(state.target):
        if direction == "upgrade":
            if not writing.upgrade_plan(ctx, service=service):
                continue  # at goal: told without taking the lock
            outcome = writing.up(ctx, service=service, approve=approve, command_line=line)
        else:
            plan: Plan = writing.rollback_plan(ctx, service=service)
            outcome = writing.run_plan(ctx, plan, approve=approve, command_line=line)
        state.done += outcome.done
        if outcome.backup is not None:
            state.backup = outcome.backup.path.name
    state.state = DONE if state.done else AT_GOAL
