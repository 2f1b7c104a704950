"""Applies a plan through Alembic's commands, on one connection, reporting each revision.

The work itself is Alembic's (`command.upgrade` / `command.downgrade`, running env.py), so that
`migrate` and plain `alembic` can never drift apart; the runner decides the targets, hands env.py
its connection and settings, and turns each applied revision into a report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator import alembic_env
from migrator.config import Settings, alembic_config
from migrator.database import connect, database_heads
from migrator.graph import RevisionGraph


@dataclass(frozen=True)
class Step:
    """One revision applied or rolled back."""

    revision: str
    direction: str
    message: str
    duration_ms: int


Reporter = Callable[[Step], None]


def _config_for(settings: Settings, connection: Connection, report: Reporter) -> Config:
    config = alembic_config(settings)
    config.attributes[alembic_env.CONNECTION] = connection
    started = [time.monotonic()]

    def on_version_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        now = time.monotonic()
        report(
            Step(
                revision=step.up_revision_id,
                direction="upgrade" if step.is_upgrade else "downgrade",
                message=(step.up_revision.doc or "").strip().splitlines()[0],
                duration_ms=round((now - started[0]) * 1000),
            )
        )
        started[0] = now

    config.attributes[alembic_env.ON_VERSION_APPLY] = on_version_apply
    return config


def upgrade(settings: Settings, url: URL, target: str, report: Reporter) -> None:
    """Apply everything up to `target` (`heads`, `crm@head`, a revision id)."""
    with connect(url) as connection:
        command.upgrade(_config_for(settings, connection, report), target)


def downgrade(
    settings: Settings, url: URL, graph: RevisionGraph, plan: list[str], report: Reporter
) -> None:
    """Roll back the revisions of `plan`, in its order (dependents before what they need)."""
    with connect(url) as connection:
        config = _config_for(settings, connection, report)
        for revision in plan:
            command.downgrade(config, graph.downgrade_target(revision))


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
