"""Applies a plan through Alembic's commands, on one connection, reporting each event.

The work itself is Alembic's (`command.upgrade` / `command.downgrade`, running env.py and its
engine), so that `migrate` and plain `alembic` can never drift apart; the runner decides the
targets and hands env.py its connection, settings and the sink for the engine's events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator import alembic_env
from migrator.config import Settings, alembic_config
from migrator.database import connect, database_heads
from migrator.events import EventSink, RunFinished, RunStarted
from migrator.model.graph import RevisionGraph
from migrator.model.plan import Plan
from migrator.run import lock as locking


def _config_for(settings: Settings, connection: Connection, events: EventSink) -> Config:
    config = alembic_config(settings)
    config.attributes[alembic_env.CONNECTION] = connection
    config.attributes[alembic_env.EVENTS] = events
    return config


def apply_plan(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    plan: Plan,
    events: EventSink,
    *,
    before: Callable[[Connection], None] | None = None,
    note: str | None = None,
    one_by_one: bool = False,
) -> None:
    """Apply or roll back a plan under one migration lock.

    `before` runs once the lock is held (a backup, a last check that the approved plan still
    fits), so nothing can change between it and the first revision. `one_by_one` applies the
    revisions in exactly the plan's order, as approved; otherwise Alembic applies each target
    with its pending ancestors. `note` goes into every history row (who approved what).
    """
    with (
        connect(url) as connection,
        locking.migration_lock(
            connection, settings.tool_schema, settings.engine.lock_wait_ms, events
        ),
    ):
        if before is not None:
            before(connection)
        config = _config_for(settings, connection, events)
        config.attributes[alembic_env.NOTE] = note
        run_id = uuid.uuid4()
        config.attributes[alembic_env.RUN_ID] = run_id
        events(RunStarted(str(run_id), plan.direction, len(plan.revisions), settings.environment))
        started, outcome = time.monotonic(), "failed"
        try:
            _apply(config, graph, plan, one_by_one)
            outcome = "succeeded"
        finally:
            elapsed = round((time.monotonic() - started) * 1000)
            events(RunFinished(str(run_id), outcome, elapsed))


def _apply(config: Config, graph: RevisionGraph, plan: Plan, one_by_one: bool) -> None:
    if plan.direction == "downgrade":
        for revision in plan.revisions:
            command.downgrade(config, graph.downgrade_target(revision))
        return
    applied = graph.applied(plan.database_heads)
    if one_by_one:
        targets = list(plan.revisions)
    elif set(plan.revisions) == set(graph.revisions) - applied:
        targets = ["heads"]  # everything pending: one Alembic run, as `alembic upgrade heads`
    else:
        targets = graph.targets_of(plan.revisions, applied)
    for target in targets:
        command.upgrade(config, target)


def render_sql(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    *,
    upgrade_target: str | None = None,
    rollback_plan: list[str] | None = None,
    output: TextIO,
) -> None:
    """Write the SQL that `upgrade` or `downgrade` would run from the database's current state."""
    with connect(url) as connection:
        heads = set(database_heads(connection, settings))
    config = alembic_config(settings)
    config.output_buffer = output
    if upgrade_target is not None:
        config.attributes[alembic_env.STARTING_HEADS] = sorted(heads)
        command.upgrade(config, upgrade_target, sql=True)
        return
    applied = graph.applied(heads)
    for revision in rollback_plan or []:
        leaves = sorted(graph.heads_of(applied))
        config.attributes[alembic_env.STARTING_HEADS] = leaves
        # Alembic wants `from:to` in offline downgrades; the real start is STARTING_HEADS.
        command.downgrade(config, f"{leaves[0]}:{graph.downgrade_target(revision)}", sql=True)
        applied.discard(revision)
