"""Rollback verification on a scratch copy, before the real database is touched.

A downgrade nobody ran is a downgrade that does not work when it is needed. `verify` copies the
target's schema (and its version table) into a scratch database, applies the plan, rolls it
back, applies it again, and compares the catalog at each step: the downgrade must restore the
schema exactly, and the second upgrade must produce exactly what the first did. The scratch
database's name says what it is, and it is dropped whatever happens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.engine import URL

from migrator.checks import catalog
from migrator.config import Settings
from migrator.database import connect, database_heads
from migrator.errors import MigratorError
from migrator.events import EventSink
from migrator.model import plan as planning
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.ops.backup import copy_into, dsn_without_password
from migrator.ops.embedded import client_binary
from migrator.ops.scratch import scratch_database
from migrator.run import apply as runner


class VerificationFailed(MigratorError):
    """The plan's rollback does not restore the schema, or its re-apply differs."""


@dataclass(frozen=True)
class Verification:
    scratch_database: str
    differences: list[str]


def _copy_schema(source: URL, target: URL, tool_schema: str) -> None:
    """The source's schema, and its version table's rows, into the empty target."""
    dump = [str(client_binary("pg_dump")), "--no-owner", "--no-privileges", "--no-password"]
    copy_into(target, [*dump, "--schema-only", dsn_without_password(source)], source)
    if _has_version_table(source, tool_schema):
        table = f'"{tool_schema}".alembic_version'
        rows = [*dump, "--data-only", "--table", table, dsn_without_password(source)]
        copy_into(target, rows, source)


def _has_version_table(url: URL, tool_schema: str) -> bool:
    with connect(url) as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT to_regclass(%s) IS NOT NULL", (f'"{tool_schema}".alembic_version',)
            ).scalar()
        )


def _schemas() -> list[str]:
    return [service.schema for service in services.SERVICES]


def verify(
    settings: Settings, url: URL, graph: RevisionGraph, plan: planning.Plan, events: EventSink
) -> Verification:
    """Apply, roll back and re-apply `plan` (an upgrade plan) on a scratch copy of `url`."""
    with scratch_database(url, "verify") as scratch:
        _copy_schema(url, scratch, settings.tool_schema)
        scratch_settings = replace(settings, database_url=scratch)
        before = _snapshot(scratch)
        runner.apply_plan(scratch_settings, scratch, graph, plan, events)
        first = _snapshot(scratch)
        with connect(scratch) as connection:
            heads = database_heads(connection, scratch_settings)
        rollback = planning.build(graph, heads, "downgrade", list(reversed(plan.revisions)))
        runner.apply_plan(scratch_settings, scratch, graph, rollback, events)
        after_down = _snapshot(scratch)
        runner.apply_plan(scratch_settings, scratch, graph, plan, events)
        second = _snapshot(scratch)
    found = [f"after the rollback, {line}" for line in catalog.differences(before, after_down)]
    found += [f"after re-applying, {line}" for line in catalog.differences(first, second)]
    return Verification(str(scratch.database), found)


def _snapshot(url: URL) -> catalog.Snapshot:
    with connect(url) as connection:
        return catalog.snapshot(connection, _schemas())
