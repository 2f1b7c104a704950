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
from migrator.context import Context
from migrator.database import VERSION_TABLE, connect
from migrator.errors import CheckFailed
from migrator.events import Event
from migrator.model import plan as planning
from migrator.model import services
from migrator.model.plan import Plan
from migrator.ops.backup import copy_into, dsn_without_password
from migrator.ops.embedded import client_binary
from migrator.ops.scratch import scratch_database
from migrator.run.apply import apply_plan


class VerificationFailed(CheckFailed):
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
        table = f'"{tool_schema}".{VERSION_TABLE}'
        rows = [*dump, "--data-only", "--table", table, dsn_without_password(source)]
        copy_into(target, rows, source)


def _has_version_table(url: URL, tool_schema: str) -> bool:
    with connect(url) as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT to_regclass(%s) IS NOT NULL", (f'"{tool_schema}".{VERSION_TABLE}',)
            ).scalar()
        )


def _schemas() -> list[str]:
    return [service.schema for service in services.SERVICES]


def verify(ctx: Context, plan: Plan) -> Verification:
    """Apply, roll back and re-apply `plan` (an upgrade plan) on a scratch copy of the
    context's database; the scratch run's events are not the target's. Its repeatables are
    left out: no rollback removes them, they are replaced."""
    plan = replace(plan, repeatables=())
    with scratch_database(ctx.url, "verify") as scratch:
        _copy_schema(ctx.url, scratch, ctx.settings.tool_schema)
        copy = ctx.on(scratch, events=_quiet)
        before = _snapshot(scratch)
        apply_plan(copy, plan)
        first = _snapshot(scratch)
        apply_plan(copy, planning.reverse(ctx.graph, plan, copy.heads()))
        after_down = _snapshot(scratch)
        apply_plan(copy, plan)
        second = _snapshot(scratch)
    found = [f"after the rollback, {line}" for line in catalog.differences(before, after_down)]
    found += [f"after re-applying, {line}" for line in catalog.differences(first, second)]
    return Verification(str(scratch.database), found)


def _quiet(event: Event) -> None:
    """A verification's own steps are not reported as the target's."""


def _snapshot(url: URL) -> catalog.Snapshot:
    with connect(url) as connection:
        return catalog.snapshot(connection, _schemas())
