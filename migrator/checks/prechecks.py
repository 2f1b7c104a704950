"""Running the prechecks of a plan on the target: read-only, before the run takes any lock.

Each precheck runs in a READ ONLY transaction of its own with the run's statement_timeout and
lock_timeout (the revision's, where it sets its own), so that counting the rows of a large
table cannot outlast what the statement itself would be allowed, and cannot change anything.
A query that names a column, table or function the plan itself creates first is skipped with
the reason: the rows it would read are not there yet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors

from migrator.context import Context
from migrator.database import INSUFFICIENT_PRIVILEGE
from migrator.errors import CheckFailed, MigratorError
from migrator.model import prechecks
from migrator.model.plan import Plan
from migrator.model.prechecks import Place, Precheck, Skipped

# Undefined column, table, function, object: what a statement before it creates.
_CREATED_BY_THE_PLAN = (
    errors.UndefinedColumn,
    errors.UndefinedTable,
    errors.UndefinedFunction,
    errors.UndefinedObject,
)


@dataclass(frozen=True)
class Result:
    """One precheck and what it found: a count of violating rows and a few of their keys, or
    the reason it did not run."""

    place: Place
    check: Precheck | Skipped
    violations: int | None = None
    examples: tuple[str, ...] = ()

    @property
    def skipped(self) -> str | None:
        if isinstance(self.check, Skipped):
            return self.check.reason
        return None

    @property
    def failed(self) -> bool:
        return bool(self.violations)

    def describe(self) -> str:
        """One line: where, what, and what it found."""
        head = f"{self.place}: {self.check.description}"
        if self.skipped is not None:
            return f"{head}: not checked, {self.skipped}"
        if not self.failed:
            return f"{head}: no row violates it"
        assert isinstance(self.check, Precheck)
        return (
            f"{head} would fail: {self.violations} row(s) violate it, e.g. "
            f"{', '.join(self.examples)}; {self.check.hint}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.place.revision,
            "file": self.place.file,
            "line": self.place.line,
            "table": self.check.table,
            "kind": self.check.constraint_kind,
            "constraint": self.check.description,
            "violations": self.violations,
            "examples": list(self.examples),
            "skipped": self.skipped,
        }


def run(ctx: Context, plan: Plan) -> list[Result]:
    """Every precheck of the plan, run on the target; the target is connected to only when a
    statement of the plan adds a constraint over rows."""
    with contextlib.ExitStack() as stack:
        catalog = _Catalog(lambda: stack.enter_context(ctx.reading()))
        found = []
        for place, check in prechecks.prechecks(prechecks.statements_of(plan), catalog):
            if isinstance(check, Skipped):
                found.append(Result(place, check))
            else:
                found.append(_counted(ctx, catalog.connection, place, check))
        return found


def refuse_violations(ctx: Context, plan: Plan) -> None:
    """Stop before anything runs when a precheck finds rows its constraint would reject: the
    first on one line, any others after it."""
    failed = [result for result in run(ctx, plan) if result.failed]
    if failed:
        raise CheckFailed(failed[0].describe(), [result.describe() for result in failed[1:]])


def _counted(ctx: Context, connection: psycopg.Connection, place: Place, check: Precheck) -> Result:
    engine = ctx.settings.engine
    own = ctx.graph[place.revision].settings.statement_timeout_ms
    timeout = engine.statement_timeout_ms if own is None else own
    try:
        with connection.transaction():
            connection.execute("SET TRANSACTION READ ONLY")
            connection.execute(
                "SELECT set_config('statement_timeout', %s, true), "
                "set_config('lock_timeout', %s, true)",
                (f"{timeout}ms", f"{engine.lock_timeout_ms}ms"),
            )
            count = _scalar(connection, check.count_query)
            rows = connection.execute(check.examples_query).fetchall() if count else []
    except _CREATED_BY_THE_PLAN as error:
        reason = f"it refers to what the plan creates first ({error.diag.message_primary})"
        skipped = Skipped(check.table, check.constraint_kind, check.description, reason)
        return Result(place, skipped)
    except psycopg.Error as error:
        if error.sqlstate == INSUFFICIENT_PRIVILEGE:
            raise  # named with the GRANT it needs where the connection is made
        waited = isinstance(error, errors.QueryCanceled | errors.LockNotAvailable)
        remedy = "raise statement_timeout or lock_timeout" if waited else "check the constraint"
        raise MigratorError(
            f"{place}: counting the rows that violate {check.description} failed "
            f"({error.diag.message_primary}); nothing was changed. {remedy.capitalize()}, or "
            "pass --skip-data-checks to run without counting"
        ) from error
    examples = tuple(_key(check.key_columns, row) for row in rows)
    return Result(place, check, count, examples)


def _key(columns: tuple[str, ...], row: tuple) -> str:
    pairs = ", ".join(f"{column}={value}" for column, value in zip(columns, row, strict=True))
    return pairs if len(columns) == 1 else f"({pairs})"


def _scalar(connection: psycopg.Connection, query: str, parameters: tuple = ()) -> Any:
    found = connection.execute(query, parameters or None).fetchone()
    return found[0] if found else None


class _Catalog:
    """The target's catalog as the derivation asks for it, connected to when first asked."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect
        self._connection: psycopg.Connection | None = None

    @property
    def connection(self) -> psycopg.Connection:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def exists(self, relation: str) -> bool:
        return bool(_scalar(self.connection, "SELECT to_regclass(%s) IS NOT NULL", (relation,)))

    def has_column(self, relation: str, column: str) -> bool:
        query = (
            "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = %s AND attnum > 0 AND NOT attisdropped)"
        )
        return bool(_scalar(self.connection, query, (relation, column)))

    def key_columns(self, relation: str) -> tuple[str, ...]:
        query = (
            "SELECT a.attname FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY k.position"
        )
        return tuple(row[0] for row in self.connection.execute(query, (relation,)))

    def constraint_definition(self, relation: str, name: str) -> str | None:
        query = (
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) AND conname = %s"
        )
        return _scalar(self.connection, query, (relation, name))
