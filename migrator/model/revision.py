"""The revision file, read once, into the one object every part of the tool works from.

A revision file is Python so that Alembic can load it, but what it does is declared: module-level
literals (ids, dependencies, phase, settings, lint acceptances, SQL bodies) and `upgrade()` /
`downgrade()` functions that only call `run_sql(BODY)` and `backfill(...)` with literal
arguments. Reading it with Python's parser, never importing it, gives every consumer the same
answer: guards and lint, the graph, plans and their hashes, plain-SQL export, checksums, and
the runner, which executes the steps read here and checks that the file's functions ask for
exactly these. Every step and statement carries its line in the file, so that every message
can point at it.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from migrator.config import parse_duration_ms
from migrator.errors import MigratorError
from migrator.model import services
from migrator.model.services import Service
from migrator.model.statement import Statement

HEADER_FIELDS = ("Migration", "Service", "Author", "Date", "Dependencies")
PHASES = (None, "expand", "contract")
DIRECTIONS = ("upgrade", "downgrade")
# The functions a revision's upgrade() and downgrade() may call (`migrator.revision` defines
# them for Alembic's run).
STEP_FUNCTIONS = ("run_sql", "backfill")


class RevisionFileError(MigratorError):
    """A revision file that cannot be read as a revision; the message names file and line."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        where = f"{_location(path)}:{line}" if line is not None else _location(path)
        super().__init__(f"{where}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class SqlStep:
    """`run_sql(BODY)`: the body's statements, each with its file line and where it runs.
    The body is parsed when first asked for, so that reading a history to show where it
    stands costs no SQL parsing."""

    body: str
    first_line: int  # the file line the body's text starts on
    line: int  # the file line of the call
    # What an earlier read found, as the cache keeps it (`cache.statement_values`): used
    # instead of parsing, when first asked for.
    known: tuple | None = field(default=None, compare=False, repr=False)

    comment = None

    @cached_property
    def _parsed(self) -> tuple[tuple[Statement, ...], str | None, int | None]:
        if self.known is not None:
            statements, problem, problem_line = self.known
            return tuple(map(Statement.restored, statements)), problem, problem_line
        from migrator.model import sql  # the parser loads only when a body is first split

        try:
            return tuple(sql.split(self.body, first_line=self.first_line)), None, None
        except sql.SqlError as error:
            return (), error.reason, error.line

    @property
    def statements(self) -> tuple[Statement, ...]:
        return self._parsed[0]

    @property
    def problem(self) -> str | None:
        """Why the body cannot run (a parse error, BEGIN/COMMIT), if it cannot."""
        return self._parsed[1]

    @property
    def problem_line(self) -> int | None:
        return self._parsed[2]

    @property
    def fingerprint(self) -> str:
        if self.problem is not None:
            return self.body
        return "".join(statement.canonical + ";\n" for statement in self.statements)


@dataclass(frozen=True)
class BackfillStep:
    """`backfill(table, set=..., ...)`: an UPDATE that `up` runs in keyed slices."""

    table: str
    set: str
    where: str = "true"
    batch_size: int = 5000
    pause: float = 0.0
    target_batch_ms: int | None = None
    validate_empty: str | None = None
    validate_count: str | None = None
    name: str | None = None
    line: int = field(default=0, compare=False)

    @property
    def arguments(self) -> dict[str, Any]:
        """The call's arguments, as `backfill()` receives them at run time."""
        values = asdict(self)
        del values["line"]
        return values

    @property
    def fingerprint(self) -> str:
        return "backfill " + json.dumps(self.arguments, sort_keys=True) + "\n"

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        """The UPDATE the backfill amounts to: what a reviewer approves and psql runs."""
        from migrator.model import sql

        text = f"UPDATE {self.table} SET {self.set} WHERE {self.where}"
        [statement] = sql.split(text, first_line=self.line)
        return (statement,)

    @property
    def comment(self) -> str:
        return (
            f"backfill of {self.table}: `migrate up` runs this UPDATE in keyed slices of "
            f"{self.batch_size} rows, each its own transaction with a checkpoint"
        )

    @property
    def problem(self) -> str | None:
        from migrator.model import sql

        try:
            self.statements  # noqa: B018 - parsing is the check
        except sql.SqlError as error:
            return f"backfill arguments do not form an UPDATE: {error.reason}"
        return None

    @property
    def problem_line(self) -> int:
        return self.line


Step = SqlStep | BackfillStep


@dataclass(frozen=True)
class Body:
    """A module-level SQL string (UPGRADE, DOWNGRADE) and the file line its text starts on."""

    name: str
    text: str
    first_line: int


@dataclass(frozen=True)
class RevisionSettings:
    """Engine settings a revision overrides for itself (None: the run's own)."""

    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    lock_retries: int | None = None


@dataclass(frozen=True, eq=False)
class Revision:
    """Everything a revision file declares."""

    id: str
    path: Path
    service: Service
    down_revisions: tuple[str, ...]
    dependencies: tuple[str, ...]
    branch_labels: tuple[str, ...]
    doc: str
    header: dict[str, str]
    phase: str | None
    settings: RevisionSettings
    lint_accept: dict[str, str]
    bodies: dict[str, Body]
    upgrade: tuple[Step, ...]
    downgrade: tuple[Step, ...]
    upgrade_function: ast.FunctionDef | None = field(repr=False, default=None)
    # A squashed revision: the ids it stands for, oldest first; a database whose version table
    # holds the last of them moves to this revision without running it.
    replaces: tuple[str, ...] = ()

    @property
    def parents(self) -> tuple[str, ...]:
        return self.down_revisions + self.dependencies

    @property
    def title(self) -> str:
        return self.doc.splitlines()[0] if self.doc else ""

    @property
    def location(self) -> str:
        """The file as people find it in the project: services/<service>/versions/<file>."""
        return _location(self.path)

    def at(self, line: int) -> str:
        """`services/crm/versions/<file>.py:30`: a place in the file an editor opens."""
        return f"{self.location}:{line}"

    def steps(self, direction: str) -> tuple[Step, ...]:
        return self.upgrade if direction == "upgrade" else self.downgrade

    def checksum(self, direction: str) -> str:
        """The fingerprint of what one direction runs: every statement in pglast's canonical
        form (comments and layout do not count, any change to a statement does) and every
        backfill's arguments."""
        return self._checksums[direction]

    @cached_property
    def _checksums(self) -> dict[str, str]:
        return {
            direction: hashlib.sha256(
                "".join(step.fingerprint for step in self.steps(direction)).encode()
            ).hexdigest()
            for direction in DIRECTIONS
        }

    @cached_property
    def legacy_checksum(self) -> str:
        """The checksum the first version of the tool recorded: UPGRADE's canonical statements
        and the shape of `upgrade()`. Databases migrated then still carry it."""
        from migrator.model import sql

        digest = hashlib.sha256()
        body = self.bodies.get("UPGRADE")
        if body is not None:
            try:
                statements = sql.split(body.text)
            except sql.SqlError:
                statements = []
            for statement in statements:
                digest.update(statement.canonical.encode() + b";\n")
        # A revision that came from the cache has no syntax tree; its file still does.
        function = self.upgrade_function or _File(self.path).functions.get("upgrade")
        digest.update(_legacy_shape(function).encode())
        return digest.hexdigest()

    def refuse_unless_runnable(self, direction: str) -> None:
        """Raise, naming file and line, when a step of `direction` cannot run."""
        for step in self.steps(direction):
            if step.problem is not None:
                raise RevisionFileError(
                    self.path,
                    step.problem_line or step.line,
                    f"revision {self.id}: {step.problem}; fix the {direction} of the revision",
                )


def _location(path: Path) -> str:
    """services/<service>/versions/<file>, from wherever the project lies."""
    return str(path.relative_to(path.parents[3])) if len(path.parents) > 3 else str(path)


def parse_header(docstring: str) -> dict[str, str]:
    """`Key: value` lines of the header, for the known keys."""
    header = {}
    for line in docstring.splitlines():
        key, separator, value = line.partition(":")
        if separator and key.strip() in HEADER_FIELDS:
            header[key.strip()] = value.strip()
    return header


def revision_files(project_root: Path) -> list[Path]:
    """Every revision file of the project, in the services' versions folders, in the order of
    their paths."""
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for service in os.scandir(project_root / "services"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                found += [
                    entry.path
                    for entry in os.scandir(os.path.join(service.path, "versions"))
                    if entry.name.endswith(".py") and not entry.name.startswith("__")
                ]
    return [Path(path) for path in sorted(found)]


class _File:
    """One parse of one file, with the lookups the reader needs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError as error:
            raise RevisionFileError(
                path, error.lineno, f"does not parse as Python: {error.msg}; fix the file"
            ) from error
        except (OSError, UnicodeDecodeError) as error:
            raise RevisionFileError(path, None, f"cannot be read: {error}") from error
        self.assigned: dict[str, ast.expr] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        for number, node in enumerate(self.tree.body):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self.assigned[target.id] = node.value
                    continue
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.assigned[node.target.id] = node.value
                    continue
            elif isinstance(node, ast.FunctionDef) and node.name in DIRECTIONS:
                if node.decorator_list or node.args.args or node.args.kwonlyargs:
                    raise self.fail(node, f"{node.name}() takes no arguments and no decorators")
                self.functions[node.name] = node
                continue
            elif _is_allowed_import(node) or (number == 0 and _is_docstring(node)):
                continue
            raise self.fail(
                node,
                "a revision file holds its header, literal values, imports of run_sql and "
                "backfill from migrator.revision, and upgrade()/downgrade(); found "
                f"`{ast.unparse(node).splitlines()[0]}`",
            )
        for value in self.assigned.values():
            self.value(value)  # every module-level value is a literal

    def fail(self, node: ast.AST, message: str) -> RevisionFileError:
        return RevisionFileError(self.path, getattr(node, "lineno", 1), message)

    def value(self, node: ast.expr) -> Any:
        """A literal, or the name of a module-level literal."""
        if isinstance(node, ast.Name) and node.id in self.assigned:
            return self.value(self.assigned[node.id])
        try:
            return ast.literal_eval(node)
        except ValueError:
            raise self.fail(
                node, f"`{ast.unparse(node)}` is not a literal; write the value itself"
            ) from None

    def get(self, name: str, default: Any = None) -> Any:
        node = self.assigned.get(name)
        return default if node is None else self.value(node)

    def ids(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise self.fail(
            self.assigned[name], f"{name} must be a revision id, a tuple of them or None"
        )

    def body(self, name: str) -> Body | None:
        node = self.assigned.get(name)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return Body(name, node.value, node.lineno)
        return None


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def value_spans(source: bytes) -> dict[str, tuple[int, int]]:
    """Where each module-level literal of a revision file stands in its bytes (start, end):
    the docstring as `__doc__`, and each assigned value under its name. For tools that rewrite
    a value (`migrate rebase` renaming ids) and must keep every other byte as written."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def span(node: ast.expr) -> tuple[int, int]:  # ast counts columns in UTF-8 bytes
        end_line = node.end_lineno or node.lineno
        return (
            starts[node.lineno - 1] + node.col_offset,
            starts[end_line - 1] + (node.end_col_offset or 0),
        )

    spans = {}
    for number, node in enumerate(ast.parse(source).body):
        if number == 0 and isinstance(node, ast.Expr) and _is_docstring(node):
            spans["__doc__"] = span(node.value)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Name):
                spans[node.targets[0].id] = span(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            spans[node.target.id] = span(node.value)
    return spans


def _is_allowed_import(node: ast.stmt) -> bool:
    """`from __future__ import ...` and `from migrator.revision import run_sql, backfill`."""
    if not isinstance(node, ast.ImportFrom):
        return False
    if node.module == "__future__":
        return True
    return node.module == "migrator.revision" and all(
        alias.name in STEP_FUNCTIONS and alias.asname is None for alias in node.names
    )


def _duration(file: _File, name: str) -> int | None:
    value = file.get(name)
    if value is None:
        return None
    try:
        return parse_duration_ms(value, name)
    except MigratorError as error:
        raise file.fail(file.assigned[name], str(error)) from None


def _settings(file: _File) -> RevisionSettings:
    retries = file.get("lock_retries")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or retries < 1
    ):
        raise file.fail(
            file.assigned["lock_retries"],
            f"lock_retries = {retries!r} must be a whole number of at least 1",
        )
    return RevisionSettings(
        lock_timeout_ms=_duration(file, "lock_timeout"),
        statement_timeout_ms=_duration(file, "statement_timeout"),
        lock_retries=retries,
    )


def _sql_step(file: _File, call: ast.Call) -> SqlStep:
    if len(call.args) != 1 or call.keywords:
        raise file.fail(call, "run_sql takes one argument: the SQL body, e.g. run_sql(UPGRADE)")
    argument = call.args[0]
    text = file.value(argument)
    if not isinstance(text, str):
        raise file.fail(call, "run_sql takes a string of SQL")
    first_line = call.lineno
    if isinstance(argument, ast.Name) and (body := file.body(argument.id)) is not None:
        first_line = body.first_line
    elif isinstance(argument, ast.Constant):
        first_line = argument.lineno
    return SqlStep(text, first_line, call.lineno)


_BACKFILL_FIELDS = tuple(name for name in BackfillStep.__dataclass_fields__ if name != "line")


def _backfill_step(file: _File, call: ast.Call) -> BackfillStep:
    names = list(_BACKFILL_FIELDS)
    if len(call.args) > len(names):
        raise file.fail(call, "backfill takes the table, then keyword arguments")
    given = {names[i]: file.value(arg) for i, arg in enumerate(call.args)}
    for keyword in call.keywords:
        if keyword.arg not in names:
            raise file.fail(
                keyword, f"backfill has no argument {keyword.arg!r}; it takes {', '.join(names)}"
            )
        given[keyword.arg] = file.value(keyword.value)
    if "table" not in given or "set" not in given:
        raise file.fail(call, "backfill needs the table and set=...")
    try:
        return BackfillStep(**given, line=call.lineno)
    except TypeError as error:
        raise file.fail(call, f"backfill arguments: {error}") from None


def _steps(file: _File, direction: str) -> tuple[Step, ...]:
    function = file.functions.get(direction)
    if function is None:
        raise file.fail(file.tree, f"defines no {direction}() function")
    steps: list[Step] = []
    for statement in function.body:
        if isinstance(statement, ast.Pass) or (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            continue  # pass, or a docstring
        call = statement.value if isinstance(statement, ast.Expr) else None
        called = call.func.id if call and isinstance(call.func, ast.Name) else None
        if not isinstance(call, ast.Call) or called not in STEP_FUNCTIONS:
            raise file.fail(
                statement,
                f"{direction}() may only call run_sql(...) and backfill(...), so that plans "
                f"show what runs; found `{ast.unparse(statement).splitlines()[0]}`",
            )
        steps.append(_sql_step(file, call) if called == "run_sql" else _backfill_step(file, call))
    return tuple(steps)


def _legacy_shape(function: ast.FunctionDef | None) -> str:
    if function is None:
        return ""
    copy = deepcopy(function)
    if ast.get_docstring(copy) is not None:
        copy.body = copy.body[1:]
    return ast.dump(ast.Module(body=[copy], type_ignores=[]))


def read(path: Path) -> Revision:
    """Read one revision file; RevisionFileError (file and line) when it is not one."""
    file = _File(path)
    service = services.service_of_versions_dir(path)
    if service is None:
        raise RevisionFileError(
            path,
            None,
            f"sits in services/{path.parent.parent.name}, which is not a service's versions "
            "folder; move it to its service's folder",
        )
    revision = file.get("revision")
    if not isinstance(revision, str) or not revision:
        raise RevisionFileError(path, None, 'defines no revision id (revision = "YYYYMMDD_NNN")')
    phase = file.get("phase")
    if phase not in PHASES:
        raise file.fail(
            file.assigned["phase"], f"phase = {phase!r}; use 'expand', 'contract' or leave it out"
        )
    accept = file.get("lint_accept", {})
    if not isinstance(accept, dict):
        raise file.fail(file.assigned["lint_accept"], 'lint_accept must be {"rule": "reason"}')
    doc = (ast.get_docstring(file.tree) or "").strip()
    return Revision(
        id=revision,
        path=path,
        service=service,
        down_revisions=file.ids("down_revision"),
        dependencies=file.ids("depends_on"),
        branch_labels=file.ids("branch_labels"),
        doc=doc,
        header=parse_header(doc),
        phase=phase,
        settings=_settings(file),
        lint_accept={str(rule): str(reason) for rule, reason in accept.items()},
        bodies={name: body for name in ("UPGRADE", "DOWNGRADE") if (body := file.body(name))},
        upgrade=_steps(file, "upgrade"),
        downgrade=_steps(file, "downgrade"),
        upgrade_function=file.functions.get("upgrade"),
        replaces=_replaces(file, revision),
    )


def _replaces(file: _File, revision: str) -> tuple[str, ...]:
    replaced = file.ids("replaces")
    if revision in replaced:
        raise file.fail(file.assigned["replaces"], f"replaces names {revision}, itself")
    return replaced
