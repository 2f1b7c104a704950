"""A squash: one revision that builds a service's schema as it stands at a revision, in place
of the branch's revisions up to it.

A long branch costs every fresh database (development, tests, a new installation) the whole
path, expand and contract steps, backfills and renames included, to arrive at a schema that a
few CREATE statements build. The squashed revision holds those statements, taken from a
scratch database brought to the revision (the server's own account of the schema, pg_dump's),
and names the revisions it stands for in `replaces`, so that databases that already ran them
move past it without running it.

Everything here is pure: the text of the new file and of the files that pointed into the range.
"""

from __future__ import annotations

import io
import json
import tokenize
from dataclasses import dataclass
from pathlib import Path

from pglast import ast, enums
from pglast.stream import IndentedStream, RawStream

from migrator.errors import UsageError
from migrator.model import services, sql, template
from migrator.model.graph import RevisionGraph
from migrator.model.revision import Revision

# squawk's warnings about constraints and identities added to tables that hold rows: the
# squashed revision runs only where the service's schema is not there yet (a database that
# ran the replaced revisions moves past it), so its tables are new and empty.
_NEW_TABLE_RULES = (
    "adding-foreign-key-constraint",
    "adding-serial-primary-key-field",
    "ban-alter-identity",
    "constraint-missing-not-valid",
    "disallowed-unique-constraint",
)
_NEW_TABLES = "a squash runs only where its schema is absent: its tables are new and empty"
# psql's meta-commands around pg_dump's script (PostgreSQL 17.6+): not SQL, never kept.
_META_COMMANDS = ("\\restrict ", "\\unrestrict ")


@dataclass(frozen=True)
class Range:
    """The revisions a squash replaces: the service's branch from its root through `through`."""

    service: services.Service
    revisions: tuple[Revision, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(revision.id for revision in self.revisions)

    @property
    def through(self) -> str:
        return self.revisions[-1].id

    @property
    def replaces(self) -> tuple[str, ...]:
        """The ids the new revision stands for: the range's, after those that a squashed
        revision in it stood for already."""
        earlier = [old for revision in self.revisions for old in revision.replaces]
        return (*earlier, *self.ids)

    def depends_on(self) -> tuple[str, ...]:
        """What the range needs of other services."""
        inside = set(self.ids)
        needed = {rev for revision in self.revisions for rev in revision.dependencies}
        return tuple(sorted(needed - inside))


@dataclass(frozen=True)
class Squash:
    """What a squash writes and removes."""

    range: Range
    revision: str
    path: Path
    text: str
    rewritten: dict[Path, str]

    @property
    def removed(self) -> tuple[Path, ...]:
        return tuple(revision.path for revision in self.range.revisions)


def range_through(graph: RevisionGraph, service: str, through: str) -> Range:
    """The branch of `service` from its root through `through`; refuses a revision of another
    service, a range of one revision, and a branch that forks inside the range."""
    chosen = services.resolve(service)
    last = graph[through]
    if last.service != chosen:
        raise UsageError(
            f"revision {through} belongs to {last.service.name}, not {chosen.name}; name one "
            f"of {chosen.name}'s revisions (`migrate history --service {chosen.name}`)"
        )
    branch = graph.branch(chosen)
    revisions = tuple(branch[: [r.id for r in branch].index(through) + 1])
    if len(revisions) < 2:
        raise UsageError(
            f"{through} is the first revision of {chosen.name}; a squash needs at least two"
        )
    ids = {revision.id for revision in revisions}
    for revision in branch[len(revisions) :]:
        inside = [rev for rev in revision.down_revisions if rev in ids and rev != through]
        if inside:
            raise UsageError(
                f"{revision.id} ({revision.location}) builds on {inside[0]}, inside the range; "
                f"squash through a revision that every later {chosen.name} revision follows"
            )
    return Range(chosen, revisions)


def inserted_tables(squashed: Range) -> list[str]:
    """The names of the service's tables the range's SQL inserts rows into (reference data,
    such as deal stages): their rows at the end of the range belong in the squashed revision."""
    found: dict[str, None] = {}
    schema = squashed.service.schema
    for revision in squashed.revisions:
        for step in revision.upgrade:
            for statement in step.statements:
                node = statement.node or sql.parse(statement.text)[0].stmt
                if isinstance(node, ast.InsertStmt) and node.relation.schemaname == schema:
                    found[node.relation.relname] = None
    return list(found)


def bodies(schema_dump: str, data_dump: str) -> tuple[str, str]:
    """UPGRADE and DOWNGRADE from pg_dump's scripts: the schema dumped with --clean --if-exists
    (its DROP statements are the rollback, in the order pg_dump found for them, down to the
    schema itself, which the first revision created) and the rows of the tables data came
    into. The session settings pg_dump starts with are left out; what is created is made safe
    to run twice where PostgreSQL allows it."""
    upgrade, downgrade = [], []
    for node in _statements(schema_dump):
        if _drops(node):
            downgrade.append(node)
        elif _kept(node):
            sql.make_rerunnable(node)
            upgrade.append(node)
    upgrade += [node for node in _statements(data_dump) if _is_data(node)]
    return _render(upgrade), _render(downgrade)


def _statements(dump: str) -> list[ast.Node]:
    text = "".join(line for line in io.StringIO(dump) if not line.startswith(_META_COMMANDS))
    return [raw.stmt for raw in sql.parse(text)]


def _drops(node: ast.Node) -> bool:
    """pg_dump's --clean statements: DROP ... IF EXISTS and ALTER TABLE IF EXISTS."""
    return isinstance(node, ast.DropStmt) or (
        isinstance(node, ast.AlterTableStmt) and bool(node.missing_ok)
    )


def _kept(node: ast.Node) -> bool:
    """Not the session settings pg_dump's script starts with, nor a column's options that only
    the server sets (`pg_*`, which another server refuses)."""
    if isinstance(node, ast.VariableSetStmt | ast.SelectStmt):
        return False
    if isinstance(node, ast.AlterTableStmt):
        node.cmds = tuple(command for command in node.cmds if not _server_option(command))
        return bool(node.cmds)
    return True


def _server_option(command: ast.Node) -> bool:
    return (
        isinstance(command, ast.AlterTableCmd)
        and command.subtype == enums.AlterTableType.AT_SetOptions
        and all(option.defname.startswith("pg_") for option in command.def_)
    )


def _is_data(node: ast.Node) -> bool:
    """The rows pg_dump --inserts writes, and the setval that moves a sequence past them."""
    if isinstance(node, ast.InsertStmt):
        return True
    if not isinstance(node, ast.SelectStmt) or not node.targetList:
        return False
    value = node.targetList[0].val
    return isinstance(value, ast.FuncCall) and value.funcname[-1].sval == "setval"


def _render(nodes: list[ast.Node]) -> str:
    return "\n\n".join(_rendered(node) + ";" for node in nodes)


def _rendered(node: ast.Node) -> str:
    """The statement as pglast lays it out, without the spaces it leaves at some line ends
    (unless they sit inside a string, where they count)."""
    text = IndentedStream(comma_at_eoln=True)(node)
    trimmed = "\n".join(line.rstrip() for line in text.splitlines())
    if RawStream()(sql.parse(trimmed)[0].stmt) == RawStream()(node):
        return trimmed
    return text


def squash(
    graph: RevisionGraph,
    squashed: Range,
    revision: str,
    upgrade_sql: str,
    downgrade_sql: str,
    *,
    project_root: Path,
) -> Squash:
    """The new revision's file, and the files whose down_revision or depends_on point into
    the range, rewritten to point at it."""
    service = squashed.service
    title = f"Squash {service.name} through {squashed.through}"
    depends_on = squashed.depends_on()
    text = template.render(
        project_root,
        revision=revision,
        title=title,
        service=service,
        down_revision=None,
        branch_labels=(service.branch_label,),
        depends_on=depends_on,
        upgrade_sql=upgrade_sql,
        downgrade_sql=downgrade_sql,
    )
    accepted = "".join(f'    "{rule}": "{_NEW_TABLES}",\n' for rule in _NEW_TABLE_RULES)
    replaces = "".join(f'    "{old}",\n' for old in squashed.replaces)
    text = _with_assignment(
        text,
        "depends_on",
        None,
        f"replaces = (\n{replaces})\nlint_accept = {{\n{accepted}}}",
    )
    path = (
        service.versions_dir(project_root)
        / f"{revision}_{service.name}_squash_through_{squashed.through}.py"
    )
    inside = set(squashed.ids)
    rewritten = {}
    for other in graph.revisions.values():
        if other.id in inside:
            continue
        changed = _pointing_at(other, inside, revision)
        if changed is not None:
            rewritten[other.path] = changed
    return Squash(squashed, revision, path, text, rewritten)


def _pointing_at(revision: Revision, inside: set[str], squash: str) -> str | None:
    """The file of `revision` with its down_revision and depends_on moved from ids inside the
    range to the squash (and its header's Dependencies with them); None if it names none."""
    text = revision.path.read_text()
    changed = False
    for name, ids in (
        ("down_revision", revision.down_revisions),
        ("depends_on", revision.dependencies),
    ):
        if not inside.intersection(ids):
            continue
        moved = tuple(dict.fromkeys(squash if rev in inside else rev for rev in ids))
        value = moved[0] if name == "down_revision" and len(moved) == 1 else moved
        text = _with_assignment(text, name, f"{name} = {_literal(value)}")
        if name == "depends_on":
            text = _with_header_dependencies(text, moved)
        changed = True
    return text if changed else None


def _literal(value: str | tuple[str, ...]) -> str:
    """Python source for an id or a tuple of ids, as the template writes them."""
    if isinstance(value, str):
        return f'"{value}"'
    items = [f'"{item}"' for item in value]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _with_assignment(
    text: str, name: str, replacement: str | None, after: str | None = None
) -> str:
    """`text` with the module-level assignment of `name` replaced by `replacement` (kept when
    None), and `after` added on the line after it; found by Python's tokenizer, so a name in
    a string or a comment is never taken for it."""
    lines = text.splitlines(keepends=True)
    start, end = _assignment_lines(text, name)
    kept = lines[start:end] if replacement is None else [replacement + "\n"]
    added = [after + "\n"] if after is not None else []
    return "".join(lines[:start] + kept + added + lines[end:])


def _assignment_lines(text: str, name: str) -> tuple[int, int]:
    """The lines (from, to; counted from 0) of the statement `name = ...` at column 0."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    for number, token in enumerate(tokens):
        if token.type == tokenize.NAME and token.string == name and token.start[1] == 0:
            following = tokens[number + 1]
            if following.type == tokenize.OP and following.string == "=":
                end = next(
                    t for t in tokens[number:] if t.type in (tokenize.NEWLINE, tokenize.ENDMARKER)
                )
                return token.start[0] - 1, end.end[0]
    raise ValueError(f"no module-level assignment of {name}")


def _with_header_dependencies(text: str, dependencies: tuple[str, ...]) -> str:
    """The header's `Dependencies:` line saying `dependencies`, as the template writes it."""
    docstring = next(
        token
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.STRING
    )
    lines = text.splitlines(keepends=True)
    for number in range(docstring.start[0] - 1, docstring.end[0]):
        if lines[number].startswith("Dependencies:"):
            lines[number] = f"Dependencies: {json.dumps(sorted(dependencies))}\n"
            break
    return "".join(lines)
