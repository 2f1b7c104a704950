"""Repeatable objects: views, functions, procedures and triggers a service defines as
`CREATE OR REPLACE` in `services/<service>/repeatable/*.sql`.

A versioned revision runs once; a repeatable runs again whenever its file changes, so that the
body of a view or a function lives in one file whose history git shows, instead of being
copied into a new revision for every edit. Only statements that can run again over an
existing object belong there: `CREATE OR REPLACE` of a view, function, procedure or trigger,
and `COMMENT ON` / `GRANT` on them. Dropping one is a decision, so it is a versioned revision.

Which repeatables are pending is decided by the audit history: the checksum of the file
against the checksum of the newest successful `repeatable` row of that file. Among themselves
they run in the order their statements need (a view after the repeatable view it selects
from, a trigger after the repeatable function it executes), ties by service and file name.

Reading a file costs no parse (`status` reads checksums only); the statements are parsed with
PostgreSQL's own parser when a plan or lint needs them.
"""

from __future__ import annotations

import graphlib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.errors import MigratorError
from migrator.model import services
from migrator.model.services import Service

if TYPE_CHECKING:
    from pglast import ast

    from migrator.model.statement import Statement

FOLDER = "repeatable"
# The history's `direction` of a row that records a repeatable's run.
DIRECTION = "repeatable"

Name = tuple[str, str]  # (schema, name) of a relation or a function


class RepeatableError(MigratorError):
    """A repeatable file that cannot run, named with its file and line."""


@dataclass(frozen=True)
class Repeatable:
    """One repeatable file of a service."""

    service: Service
    path: Path
    text: str

    @property
    def key(self) -> str:
        """How the history names it: `crm/customer_summary.sql`."""
        return f"{self.service.name}/{self.path.name}"

    @property
    def location(self) -> str:
        return f"services/{self.service.name}/{FOLDER}/{self.path.name}"

    def at(self, line: int) -> str:
        return f"{self.location}:{line}"

    @cached_property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        """Its statements, refused (file and line named) when one does not parse, controls
        transactions, or is not a statement that can run again."""
        from migrator.model import sql

        try:
            found = tuple(sql.split(self.text))
        except sql.SqlError as error:
            raise RepeatableError(
                f"repeatable {self.at(error.line or 1)}: {error.reason}; fix the file"
            ) from error
        for statement in found:
            problem = refusal(statement.node)
            if problem is not None:
                raise RepeatableError(f"repeatable {self.at(statement.line)}: {problem}")
        return found

    @cached_property
    def provides(self) -> frozenset[Name]:
        """The views and functions it defines."""
        return frozenset(
            name for statement in self.statements for name in _defined(statement.node, self)
        )

    @cached_property
    def needs(self) -> frozenset[Name]:
        """The relations and functions its statements refer to (its own excluded)."""
        found: set[Name] = set()
        for statement in self.statements:
            found |= _referenced(statement.node, self)
        return frozenset(found - self.provides)


def refusal(node: ast.Node) -> str | None:
    """Why a statement has no place in a repeatable file, or None when it has one."""
    from pglast import ast

    if isinstance(node, ast.CommentStmt | ast.GrantStmt):
        return None
    if isinstance(node, ast.ViewStmt | ast.CreateFunctionStmt | ast.CreateTrigStmt):
        if node.replace:
            return None
        return (
            "CREATE without OR REPLACE fails once the object exists; write "
            "CREATE OR REPLACE, a repeatable runs again whenever its file changes"
        )
    return (
        "only CREATE OR REPLACE VIEW / FUNCTION / PROCEDURE / TRIGGER, COMMENT ON and GRANT "
        "belong in a repeatable file; put anything else in a versioned revision"
    )


def _qualified(parts: Iterable[Any], owner: Repeatable) -> Name | None:
    from pglast import ast

    names = [part.sval for part in parts if isinstance(part, ast.String)]
    if len(names) == 1:
        return (owner.service.schema, names[0])
    return (names[-2], names[-1]) if names else None


def _relation(node: ast.RangeVar, owner: Repeatable) -> Name:
    return (node.schemaname or owner.service.schema, node.relname)


def _defined(node: ast.Node, owner: Repeatable) -> list[Name]:
    from pglast import ast

    if isinstance(node, ast.ViewStmt):
        return [_relation(node.view, owner)]
    if isinstance(node, ast.CreateFunctionStmt):
        name = _qualified(node.funcname, owner)
        return [name] if name else []
    return []


def _referenced(node: ast.Node, owner: Repeatable) -> set[Name]:
    """Relations a statement reads (RangeVar) and functions it calls or a trigger executes,
    from the parse tree."""
    from pglast import ast
    from pglast.visitors import Visitor

    found: set[Name] = set()

    class References(Visitor):
        def visit_RangeVar(self, parent: Any, var: ast.RangeVar) -> None:
            found.add(_relation(var, owner))

        def visit_FuncCall(self, parent: Any, call: ast.FuncCall) -> None:
            name = _qualified(call.funcname, owner)
            if name:
                found.add(name)

    References()(node)
    if isinstance(node, ast.CreateTrigStmt):
        name = _qualified(node.funcname, owner)
        if name:
            found.add(name)
    return found


def load(project_root: Path) -> tuple[Repeatable, ...]:
    """Every service's repeatable files, in service and file name order (not parsed)."""
    found = []
    for service in services.SERVICES:
        folder = project_root / "services" / service.name / FOLDER
        if folder.is_dir():
            for path in sorted(folder.glob("*.sql")):
                found.append(Repeatable(service, path, path.read_text()))
    return tuple(found)


def in_order(repeatables: Iterable[Repeatable]) -> list[Repeatable]:
    """Each after the repeatables whose objects it uses; ties by service, then file name."""
    chosen = list(repeatables)
    rank = {r.key: (services.SERVICES.index(r.service), r.path.name) for r in chosen}
    by_key = {r.key: r for r in chosen}
    providers = {name: r.key for r in chosen for name in r.provides}
    needs = {r.key: {providers[n] for n in r.needs if n in providers} for r in chosen}
    sorter = graphlib.TopologicalSorter(needs)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise RepeatableError(
            f"the repeatable files use each other's objects in a cycle: {cycle}"
        ) from error
    order: list[Repeatable] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank.__getitem__)
        order += [by_key[key] for key in ready]
        sorter.done(*ready)
    return order


@dataclass(frozen=True)
class Recorded:
    """The project's repeatable files beside what a database's history recorded of them: the
    checksum each last ran with, by key."""

    files: tuple[Repeatable, ...]
    applied: Mapping[str, str]

    def changed(self, chosen: Iterable[Service] | None = None) -> list[Repeatable]:
        """The files (of the chosen services, or all) never run or changed since they ran,
        not parsed."""
        wanted = None if chosen is None else set(chosen)
        return [
            r
            for r in self.files
            if (wanted is None or r.service in wanted) and self.applied.get(r.key) != r.checksum
        ]

    def pending(self, chosen: Iterable[Service]) -> list[Repeatable]:
        """What a run applies for the chosen services, in the order it runs them."""
        return in_order(self.changed(chosen))

    def ran(self) -> list[Repeatable]:
        """The files the history records as run, in the order they run (a replay's)."""
        return in_order(r for r in self.files if r.key in self.applied)

    def removed(self) -> list[str]:
        """Keys the history records whose file is gone."""
        present = {r.key for r in self.files}
        return sorted(key for key in self.applied if key not in present)


def removed_message(key: str) -> str:
    return f"removed: {key} — drop it with a revision"
