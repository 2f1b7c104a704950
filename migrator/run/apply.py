"""Applies a plan on one connection, under one migration lock, or writes it out as SQL.

The run walks the plan itself, one transaction per revision, through the same step executor
that plain `alembic upgrade` reaches through env.py (`engine.PlanRun.apply`), so `migrate` and
`alembic` leave the same version table and history; loading every revision module and walking
Alembic's revision map is what `migrate` spares itself. SQL output goes through Alembic's
offline mode, so that the script carries Alembic's version table statements.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Connection

from migrator.context import Context
from migrator.database import database_heads
from migrator.events import RunFinished, RunStarted
from migrator.model.graph import RevisionGraph
from migrator.model.plan import Plan
from migrator.run import session
from migrator.run.engine import RUN_ATTRIBUTE, STARTING_HEADS, OfflineRun, PlanRun

if TYPE_CHECKING:
    from alembic.config import Config


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
        heads = database_heads(connection, settings)
        run = PlanRun(connection, settings, ctx.graph, events, heads=heads, note=note)
        events(RunStarted(str(run.run_id), plan.direction, len(plan.items), settings.environment))
        started, outcome = time.monotonic(), "failed"
        try:
            run.run(plan)
            outcome = "succeeded"
        finally:
            run.close()
            elapsed = round((time.monotonic() - started) * 1000)
            events(RunFinished(str(run.run_id), outcome, elapsed))
    return run.applied


def render_sql(ctx: Context, plan: Plan, output: TextIO) -> None:
    """Write the SQL the plan runs, from the database state it was planned on, as Alembic's
    offline mode writes it (version table included) with the plan's statements; then each
    repeatable in a transaction of its own (psql records no history row: the next `up` runs
    them again, which CREATE OR REPLACE allows)."""
    if plan.items:
        config = ctx.alembic_config()
        config.output_buffer = output
        config.attributes[RUN_ATTRIBUTE] = OfflineRun(ctx.graph, plan)
        _offline_steps(config, ctx.graph, plan)
    for repeatable in plan.repeatables:
        output.write(f"\n-- repeatable {repeatable.key} (checksum {repeatable.checksum[:12]})\n")
        texts = "\n\n".join(statement.text + ";" for statement in repeatable.statements)
        output.write(f"BEGIN;\n\n{texts}\n\nCOMMIT;\n")


def _offline_steps(config: Config, graph: RevisionGraph, plan: Plan) -> None:
    """The Alembic commands that write exactly the plan's steps: one for everything pending
    or a single target, else one revision at a time in the plan's order."""
    from alembic import command  # only SQL output needs Alembic

    applied = graph.applied(plan.database_heads)
    if plan.direction == "downgrade":
        for revision in plan.revisions:
            leaves = sorted(graph.heads_of(applied))
            config.attributes[STARTING_HEADS] = leaves
            # Alembic wants `from:to` offline; the real start is STARTING_HEADS.
            target = f"{leaves[0]}:{graph.downgrade_target(revision)}"
            command.downgrade(config, target, sql=True)
            applied.discard(revision)
        return
    if set(plan.revisions) == set(graph.revisions) - applied:
        targets = ["heads"]  # everything pending: one Alembic run, as `alembic upgrade heads`
    else:
        targets = graph.targets_of(plan.revisions, applied)
        if len(targets) > 1:
            targets = list(plan.revisions)
    for target in targets:
        config.attributes[STARTING_HEADS] = sorted(graph.heads_of(applied))
        command.upgrade(config, target, sql=True)
        applied |= graph.ancestors([target]) if target != "heads" else set(plan.revisions)
