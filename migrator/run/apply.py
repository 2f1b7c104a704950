"""Applies a plan through Alembic's commands, on one connection, under one migration lock.

The work itself is Alembic's (`command.upgrade` / `command.downgrade`, running env.py), so that
`migrate` and plain `alembic` never drift apart; this module takes the lock once, prepares the
session, refuses files that disagree with the history, and hands env.py the run that executes
the plan's steps. The same plan is written out as SQL by `render_sql`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from migrator.context import Context
from migrator.events import RunFinished, RunStarted
from migrator.model.graph import RevisionGraph
from migrator.model.plan import Plan
from migrator.run import session
from migrator.run.engine import CONNECTION, RUN_ATTRIBUTE, STARTING_HEADS, OfflineRun, PlanRun


def apply_plan(
    ctx: Context,
    plan: Plan,
    *,
    before: Callable[[Connection], Plan] | None = None,
    note: str | None = None,
) -> list[str]:
    """Apply or roll back a plan under the migration lock; returns the revisions done.

    `before` runs once the lock is held (a last check that the approved plan still fits, a
    backup) and returns the plan to run, so nothing can change between it and the first
    revision. `note` goes into every history row (who approved what).
    """
    settings, events = ctx.settings, ctx.events
    with ctx.connect() as connection, session.writing(connection, settings, ctx.graph, events):
        if before is not None:
            plan = before(connection)
        if not plan:
            return []
        run = PlanRun(connection, settings, ctx.graph, events, plan=plan, note=note)
        config = ctx.alembic_config()
        config.attributes[CONNECTION] = connection
        config.attributes[RUN_ATTRIBUTE] = run
        events(RunStarted(str(run.run_id), plan.direction, len(plan.items), settings.environment))
        started, outcome = time.monotonic(), "failed"
        try:
            _steps(config, ctx.graph, plan, sql=False)
            run.cursor.refuse_unless_complete()
            outcome = "succeeded"
        finally:
            elapsed = round((time.monotonic() - started) * 1000)
            events(RunFinished(str(run.run_id), outcome, elapsed))
    return run.applied


def render_sql(ctx: Context, plan: Plan, output: TextIO) -> None:
    """Write the SQL the plan runs, from the database state it was planned on, as Alembic's
    offline mode writes it (version table included) with the plan's statements."""
    config = ctx.alembic_config()
    config.output_buffer = output
    config.attributes[RUN_ATTRIBUTE] = OfflineRun(ctx.graph, plan)
    _steps(config, ctx.graph, plan, sql=True)


def _steps(config: Config, graph: RevisionGraph, plan: Plan, *, sql: bool) -> None:
    """The Alembic commands that take exactly the plan's steps: one for everything pending
    or a single target, else one revision at a time in the plan's order."""
    applied = graph.applied(plan.database_heads)
    if plan.direction == "downgrade":
        for revision in plan.revisions:
            target = graph.downgrade_target(revision)
            if sql:
                leaves = sorted(graph.heads_of(applied))
                config.attributes[STARTING_HEADS] = leaves
                # Alembic wants `from:to` offline; the real start is STARTING_HEADS.
                target = f"{leaves[0]}:{target}"
            command.downgrade(config, target, sql=sql)
            applied.discard(revision)
        return
    if set(plan.revisions) == set(graph.revisions) - applied:
        targets = ["heads"]  # everything pending: one Alembic run, as `alembic upgrade heads`
    else:
        targets = graph.targets_of(plan.revisions, applied)
        if len(targets) > 1:
            targets = list(plan.revisions)
    for target in targets:
        if sql:
            config.attributes[STARTING_HEADS] = sorted(graph.heads_of(applied))
        command.upgrade(config, target, sql=sql)
        applied |= graph.ancestors([target]) if target != "heads" else set(plan.revisions)
