"""Prechecks: the rows a new constraint would reject, found before the statement that adds it.

`ALTER TABLE ... ADD CHECK`, `SET NOT NULL`, a new UNIQUE or PRIMARY KEY, a FOREIGN KEY or
`VALIDATE CONSTRAINT` scans the table and fails on the first row that violates it: after the
run took its locks, often after a long scan, in the middle of a revision. Each such statement
is turned here, from its parse tree, into two read-only queries over the rows as they stand:
how many violate the constraint, and the keys of a few of them, so that the operator learns it
before anything runs and can fix the rows.

The plan is read in order, because what runs before a statement decides what it will see: a
table the plan creates has no rows yet, a table the plan updates first does not hold the rows
it holds now (so it is skipped, with the reason), and `VALIDATE CONSTRAINT` validates the
definition an earlier `ADD CONSTRAINT ... NOT VALID` gave, or the one the catalog holds.

Pure: the queries are built from pglast's deparsed expressions and psycopg's quoted
identifiers, and the catalog is asked through `Catalog`, which the live side implements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pglast
from pglast import ast
from pglast.stream import RawStream
from pglast.visitors import Visitor
from psycopg import sql

from migrator.model.plan import Plan
from migrator.model.sql import parse
from migrator.model.statement import Statement

EXAMPLES = 5
NEW_TABLE = "new table"
_FIX = "fix the rows or add the constraint NOT VALID and VALIDATE it after cleaning"
_FILL = "fill the NULLs first (a backfill), then SET NOT NULL"
_DEDUPLICATE = "remove or merge the duplicate rows first"
_DEFAULT = "give the column a DEFAULT, or add it nullable, fill it, then SET NOT NULL"
_REVALIDATE = "fix the rows, then VALIDATE it again"

Name = tuple[str | None, str]  # (schema as written or None, table)
PrimaryKey = Callable[[ast.RangeVar], tuple[str, ...]]


class Catalog(Protocol):
    """What the derivation asks of the target; `relation` is a quoted, qualified name as
    `to_regclass` reads it."""

    def exists(self, relation: str) -> bool: ...

    def has_column(self, relation: str, column: str) -> bool: ...

    def key_columns(self, relation: str) -> tuple[str, ...]: ...

    def constraint_definition(self, relation: str, name: str) -> str | None: ...


@dataclass(frozen=True)
class Place:
    """Where a statement stands: its revision, the revision's file and the statement's line."""

    revision: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"revision {self.revision} ({self.file}:{self.line})"


@dataclass(frozen=True)
class Precheck:
    """The queries that find the rows a constraint would reject. `key_columns` are what
    `examples_query` returns for each row: the table's primary key, else its ctid."""

    table: str
    constraint_kind: str  # CHECK | NOT NULL | UNIQUE | PRIMARY KEY | FOREIGN KEY
    description: str
    count_query: str
    examples_query: str
    key_columns: tuple[str, ...]
    hint: str  # what to do when rows violate it


@dataclass(frozen=True)
class Skipped:
    """A constraint whose rows cannot be checked before the run, and why."""

    table: str
    constraint_kind: str
    description: str
    reason: str


@dataclass(frozen=True)
class _Violation:
    """A constraint over a table, as the predicate its violating rows satisfy."""

    relation: ast.RangeVar
    kind: str
    constraint: str  # as a reader would write it: CHECK (amount >= 0)
    predicate: sql.Composable
    hint: str
    referenced: ast.RangeVar | None = None

    @property
    def description(self) -> str:
        return f"{self.constraint} on {_shown(self.relation)}"


def statements_of(plan: Plan) -> Iterator[tuple[Place, ast.Node]]:
    """The statements of the plan that prechecks read, in the order they run, with their
    places."""
    for item in plan.items:
        for step in item.steps:
            for statement in step.statements:
                node = _tree(statement)
                if node is not None:
                    yield Place(item.id, item.revision.location, statement.line), node


def _tree(statement: Statement) -> ast.Node | None:
    """The statement's parse tree, as far as prechecks read it. A statement from the revision
    cache is read first as the parser's JSON, cheaply: most of a plan (CREATE TABLE, indexes,
    comments, grants) is not built into Python objects again, and of CREATE TABLE only the
    name counts (a table the plan creates has no rows)."""
    if statement.node is not None:
        return statement.node
    tree = json.loads(pglast.parser.parse_sql_json(statement.text))["stmts"][0]["stmt"]
    [(kind, body)] = tree.items()
    if kind == "CreateStmt":
        relation = body["relation"]
        return ast.CreateStmt(
            relation=ast.RangeVar(
                schemaname=relation.get("schemaname"), relname=relation["relname"], inh=True
            )
        )
    if kind in _READ:
        return parse(statement.text)[0].stmt
    return None


def prechecks(
    statements: Iterable[tuple[Place, ast.Node]], catalog: Catalog
) -> Iterator[tuple[Place, Precheck | Skipped]]:
    """The precheck (or the reason there is none) of every constraint the statements add over
    existing rows, in order."""
    walk = _Walk(catalog)
    for place, node in statements:
        for found in walk.derived(node):
            yield place, found
        walk.remember(place, node)


@dataclass
class _Walk:
    """What the statements before the current one did, as far as prechecks care."""

    catalog: Catalog
    created: list[Name] = field(default_factory=list)
    written: list[tuple[Name, Place]] = field(default_factory=list)
    unknown_writer: Place | None = None
    not_valid: dict[tuple[Name, str], ast.Constraint] = field(default_factory=dict)
    existing: dict[str, bool] = field(default_factory=dict)

    def derived(self, node: ast.Node) -> Iterator[Precheck | Skipped]:
        for found in self._violations(node):
            yield found if isinstance(found, Skipped) else self._checked(found)

    def remember(self, place: Place, node: ast.Node) -> None:
        if isinstance(node, ast.CreateStmt):
            self.created.append(_name(node.relation))
        elif isinstance(node, ast.CreateTableAsStmt):
            self.created.append(_name(node.into.rel))
        for command in _commands(node):
            if _kind(command) == "AT_AddConstraint" and command.def_.skip_validation:
                self.not_valid[(_name(node.relation), command.def_.conname)] = command.def_
        if not isinstance(node, _MAY_WRITE):
            return
        writes = _Writes()
        writes(node)
        self.written += [(_name(relation), place) for relation in writes.tables]
        if writes.unknown and self.unknown_writer is None:
            self.unknown_writer = place

    def _violations(self, node: ast.Node) -> Iterator[_Violation | Skipped]:
        if isinstance(node, ast.IndexStmt) and node.unique:
            yield _unique_index(node)
        for command in _commands(node):
            kind, relation = _kind(command), node.relation
            if kind == "AT_AddConstraint" and not command.def_.skip_validation:
                yield from _from_constraint(relation, command.def_, self._primary_key)
            elif kind == "AT_SetNotNull":
                yield _not_null(relation, command.name)
            elif kind == "AT_AddColumn":
                yield from self._added_column(relation, command)
            elif kind == "AT_ValidateConstraint":
                yield from self._validated(relation, command.name)

    def _added_column(
        self, relation: ast.RangeVar, command: ast.AlterTableCmd
    ) -> Iterator[_Violation]:
        """ADD COLUMN ... NOT NULL (or PRIMARY KEY) with nothing to fill it: every row
        violates it. The column's other constraints see only its default."""
        column: ast.ColumnDef = command.def_
        kinds = {_constraint_kind(c) for c in column.constraints or ()}
        required = column.is_not_null or kinds & {"CONSTR_NOTNULL", "CONSTR_PRIMARY"}
        filled = kinds & {"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"}
        if not required or filled:
            return
        exists = command.missing_ok and not self._is_new(relation)
        if exists and self.catalog.has_column(_regclass(relation), column.colname):
            return  # IF NOT EXISTS, and it exists: nothing happens
        yield _Violation(
            relation,
            "NOT NULL",
            f"ADD COLUMN {column.colname} NOT NULL without a DEFAULT",
            sql.SQL("true"),
            _DEFAULT,
        )

    def _validated(self, relation: ast.RangeVar, name: str) -> Iterator[_Violation | Skipped]:
        """VALIDATE CONSTRAINT: the definition an earlier statement of the plan gave, else
        the catalog's."""
        shown = f"VALIDATE CONSTRAINT {name} on {_shown(relation)}"
        constraint = self.not_valid.get((_name(relation), name))
        if constraint is None:
            if self._is_new(relation):
                yield Skipped(_shown(relation), "VALIDATE", shown, NEW_TABLE)
                return
            definition = self.catalog.constraint_definition(_regclass(relation), name)
            if definition is None:
                reason = "no such constraint on the table yet"
                yield Skipped(_shown(relation), "VALIDATE", shown, reason)
                return
            constraint = _parsed_constraint(definition)
        for found in _from_constraint(relation, constraint, self._primary_key):
            if isinstance(found, _Violation):
                validated = f"VALIDATE CONSTRAINT {name} ({found.constraint})"
                found = replace(found, constraint=validated, hint=_REVALIDATE)
            yield found

    def _checked(self, violation: _Violation) -> Precheck | Skipped:
        relation = violation.relation
        reason = self._why_unchecked(relation, violation.referenced)
        if reason is not None:
            return Skipped(_shown(relation), violation.kind, violation.description, reason)
        keys = self.catalog.key_columns(_regclass(relation)) or ("ctid",)
        selected = sql.SQL(", ").join(map(sql.Identifier, keys))
        rows = sql.SQL("FROM {} WHERE {}").format(_relation(relation), violation.predicate)
        count = sql.SQL("SELECT count(*) {}").format(rows)
        examples = sql.SQL("SELECT {keys} {rows} ORDER BY {keys} LIMIT {limit}").format(
            keys=selected, rows=rows, limit=sql.Literal(EXAMPLES)
        )
        return Precheck(
            _shown(relation),
            violation.kind,
            violation.description,
            count.as_string(None),
            examples.as_string(None),
            keys,
            violation.hint,
        )

    def _why_unchecked(self, relation: ast.RangeVar, referenced: ast.RangeVar | None) -> str | None:
        if self._is_new(relation):
            return NEW_TABLE
        for table in filter(None, (relation, referenced)):
            for written, place in self.written:
                if _same(_name(table), written):
                    where = f"{place.file}:{place.line}"
                    return f"the plan changes the rows of {_shown(table)} first, at {where}"
        if self.unknown_writer is not None:
            place = self.unknown_writer
            return f"a statement before it may change any rows, at {place.file}:{place.line}"
        if referenced is not None and self._is_new(referenced):
            return f"it refers to {_shown(referenced)}, which the plan creates first"
        return None

    def _primary_key(self, relation: ast.RangeVar) -> tuple[str, ...]:
        """The columns a foreign key that names none references; none for a new table."""
        return () if self._is_new(relation) else self.catalog.key_columns(_regclass(relation))

    def _is_new(self, relation: ast.RangeVar) -> bool:
        """Created earlier in the plan, or not in the target yet: no rows to violate."""
        if any(_same(_name(relation), created) for created in self.created):
            return True
        name = _regclass(relation)
        if name not in self.existing:
            self.existing[name] = self.catalog.exists(name)
        return not self.existing[name]


def _from_constraint(
    relation: ast.RangeVar, constraint: ast.Constraint, primary_key: PrimaryKey
) -> Iterator[_Violation | Skipped]:
    """A table constraint as it would be validated (NOT VALID or not: the caller decides)."""
    kind = _constraint_kind(constraint)
    if constraint.indexname:
        return  # USING INDEX: the index already holds its rows to it
    if kind == "CONSTR_CHECK":
        expression = _deparsed(constraint.raw_expr)
        yield _Violation(
            relation,
            "CHECK",
            f"CHECK ({expression})",
            sql.SQL("NOT ({})").format(sql.SQL(expression)),
            _FIX,
        )
    elif kind == "CONSTR_NOTNULL":
        for column in _names(constraint.keys):
            yield _not_null(relation, column)
    elif kind in ("CONSTR_UNIQUE", "CONSTR_PRIMARY"):
        columns = _names(constraint.keys)
        label = "UNIQUE" if kind == "CONSTR_UNIQUE" else "PRIMARY KEY"
        yield _Violation(
            relation,
            label,
            f"{label} ({', '.join(columns)})",
            _duplicates(
                relation,
                [sql.Identifier(column) for column in columns],
                primary=kind == "CONSTR_PRIMARY",
                nulls_distinct=not constraint.nulls_not_distinct,
            ),
            _DEDUPLICATE,
        )
    elif kind == "CONSTR_FOREIGN":
        yield _foreign_key(relation, constraint, primary_key)


def _foreign_key(
    relation: ast.RangeVar, constraint: ast.Constraint, primary_key: PrimaryKey
) -> _Violation | Skipped:
    """Rows whose key is set (MATCH SIMPLE: every column; MATCH FULL: any) and finds no row in
    the referenced table. With no referenced columns written, the referenced primary key."""
    columns = _names(constraint.fk_attrs)
    referenced = constraint.pktable
    targets = _names(constraint.pk_attrs) or list(primary_key(referenced))
    written = (
        f"FOREIGN KEY ({', '.join(columns)}) REFERENCES {_shown(referenced)} ({', '.join(targets)})"
    )
    if not targets:
        reason = f"{_shown(referenced)} has no primary key yet (the plan makes it first)"
        description = f"{written} on {_shown(relation)}"
        return Skipped(_shown(relation), "FOREIGN KEY", description, reason)
    outer = sql.Identifier(relation.relname)
    set_ = sql.SQL(" OR " if constraint.fk_matchtype == "f" else " AND ").join(
        sql.SQL("{}.{} IS NOT NULL").format(outer, sql.Identifier(column)) for column in columns
    )
    match = sql.SQL(" AND ").join(
        sql.SQL("migrator_referenced.{} = {}.{}").format(
            sql.Identifier(target), outer, sql.Identifier(column)
        )
        for column, target in zip(columns, targets, strict=True)
    )
    predicate = sql.SQL(
        "({set_}) AND NOT EXISTS (SELECT FROM {table} AS migrator_referenced WHERE {match})"
    ).format(set_=set_, table=_relation(referenced), match=match)
    return _Violation(relation, "FOREIGN KEY", written, predicate, _FIX, referenced)


def _unique_index(node: ast.IndexStmt) -> _Violation:
    keys = [
        sql.Identifier(element.name) if element.name else sql.SQL(_deparsed(element.expr))
        for element in node.indexParams
    ]
    shown = ", ".join(element.name or _deparsed(element.expr) for element in node.indexParams)
    where = _deparsed(node.whereClause) if node.whereClause is not None else None
    return _Violation(
        node.relation,
        "UNIQUE",
        f"UNIQUE INDEX{' ' + node.idxname if node.idxname else ''} ({shown})",
        _duplicates(
            node.relation,
            keys,
            primary=False,
            nulls_distinct=not node.nulls_not_distinct,
            where=where,
        ),
        _DEDUPLICATE,
    )


def _duplicates(
    relation: ast.RangeVar,
    keys: list[sql.Composable],
    *,
    primary: bool,
    nulls_distinct: bool,
    where: str | None = None,
) -> sql.Composable:
    """Rows that share their key with another row (a key holding NULL shares nothing, unless
    NULLS NOT DISTINCT), and for a primary key the rows whose key holds NULL."""
    named = [(key, sql.Identifier(f"migrator_key_{n}")) for n, key in enumerate(keys, 1)]
    items = sql.SQL(", ").join(sql.SQL("{} AS {}").format(k, n) for k, n in named)
    positions = sql.SQL(", ").join(sql.Literal(n) for n in range(1, len(keys) + 1))
    only = sql.SQL(" WHERE {}").format(sql.SQL(where)) if where else sql.SQL("")
    inner = sql.SQL("SELECT {} FROM {}{} GROUP BY {} HAVING count(*) > 1").format(
        items, _relation(relation), only, positions
    )
    equal = sql.SQL(" = " if nulls_distinct else " IS NOT DISTINCT FROM ")
    match = sql.SQL(" AND ").join(
        sql.SQL("migrator_duplicated.{}{}({})").format(n, equal, k) for k, n in named
    )
    predicate = sql.SQL("EXISTS (SELECT FROM ({}) AS migrator_duplicated WHERE {})").format(
        inner, match
    )
    if where:
        predicate = sql.SQL("({}) AND {}").format(sql.SQL(where), predicate)
    if primary:
        nulls = sql.SQL(" OR ").join(sql.SQL("({}) IS NULL").format(k) for k in keys)
        predicate = sql.SQL("{} OR {}").format(nulls, predicate)
    return predicate


def _not_null(relation: ast.RangeVar, column: str) -> _Violation:
    return _Violation(
        relation,
        "NOT NULL",
        f"NOT NULL ({column})",
        sql.SQL("{} IS NULL").format(sql.Identifier(column)),
        _FILL,
    )


# The statements that may change rows, themselves or in a CTE or block they hold; the others
# (CREATE TABLE, most of a plan) are not walked.
_MAY_WRITE = (
    ast.InsertStmt,
    ast.UpdateStmt,
    ast.DeleteStmt,
    ast.MergeStmt,
    ast.TruncateStmt,
    ast.SelectStmt,
    ast.AlterTableStmt,
    ast.DoStmt,
    ast.CallStmt,
    ast.CreateTableAsStmt,
    ast.ExplainStmt,
)


_READ = frozenset({"AlterTableStmt", "IndexStmt", *(kind.__name__ for kind in _MAY_WRITE)})


class _Writes(Visitor):
    """The tables whose rows a statement changes; `unknown` when it cannot tell (CALL, a DO
    block that runs dynamic SQL or is not PL/pgSQL)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[ast.RangeVar] = []
        self.unknown = False

    def visit_InsertStmt(self, parent: Any, node: ast.InsertStmt) -> None:
        self.tables.append(node.relation)

    visit_UpdateStmt = visit_DeleteStmt = visit_MergeStmt = visit_InsertStmt

    def visit_TruncateStmt(self, parent: Any, node: ast.TruncateStmt) -> None:
        self.tables += list(node.relations)

    def visit_AlterTableStmt(self, parent: Any, node: ast.AlterTableStmt) -> None:
        if any(_kind(command) == "AT_AlterColumnType" for command in _commands(node)):
            self.tables.append(node.relation)  # USING may rewrite any value

    def visit_DoStmt(self, parent: Any, node: ast.DoStmt) -> None:
        """A PL/pgSQL block's own statements, read with PL/pgSQL's parser."""
        options = {option.defname: option.arg.sval for option in node.args or ()}
        if options.get("language", "plpgsql") != "plpgsql":
            self.unknown = True
            return
        try:
            tree = pglast.parse_plpgsql(_deparsed(node))
        except pglast.parser.ParseError:
            self.unknown = True
            return
        for key, value in _walked(tree):
            if key in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"):
                self.unknown = True
            elif key == "PLpgSQL_stmt_execsql":
                try:
                    parsed = pglast.parse_sql(value["sqlstmt"]["PLpgSQL_expr"]["query"])
                except pglast.parser.ParseError:
                    self.unknown = True
                    continue
                for raw in parsed:
                    self(raw.stmt)

    def visit_CallStmt(self, parent: Any, node: ast.CallStmt) -> None:
        self.unknown = True


def _walked(tree: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of PL/pgSQL's parse tree (nested dicts and lists), depth first."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key, value
            yield from _walked(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _walked(item)


def _parsed_constraint(definition: str) -> ast.Constraint:
    """A constraint from pg_get_constraintdef's text, through the parser like any other."""
    [raw] = parse(f"ALTER TABLE migrator_table ADD {definition}")
    return raw.stmt.cmds[0].def_


def _commands(node: ast.Node) -> tuple[ast.AlterTableCmd, ...]:
    if not isinstance(node, ast.AlterTableStmt):
        return ()
    if getattr(node.objtype, "name", "") != "OBJECT_TABLE":
        return ()
    return tuple(c for c in node.cmds or () if isinstance(c, ast.AlterTableCmd))


def _kind(command: ast.AlterTableCmd) -> str:
    return getattr(command.subtype, "name", "")


def _constraint_kind(constraint: ast.Constraint) -> str:
    return getattr(constraint.contype, "name", "")


def _names(strings: tuple[ast.String, ...] | None) -> list[str]:
    return [item.sval for item in strings or ()]


def _deparsed(node: ast.Node) -> str:
    return RawStream()(node)


def _name(relation: ast.RangeVar) -> Name:
    return relation.schemaname, relation.relname


def _same(one: Name, other: Name) -> bool:
    """The same table, as far as names written with and without a schema can tell."""
    return one[1] == other[1] and (one[0] is None or other[0] is None or one[0] == other[0])


def _identifier(relation: ast.RangeVar) -> sql.Identifier:
    parts = (relation.schemaname, relation.relname)
    return sql.Identifier(*filter(None, parts))


def _relation(relation: ast.RangeVar) -> sql.Composable:
    only = sql.SQL("" if relation.inh else "ONLY ")
    return sql.Composed([only, _identifier(relation)])


def _regclass(relation: ast.RangeVar) -> str:
    return _identifier(relation).as_string(None)


def _shown(relation: ast.RangeVar) -> str:
    return ".".join(filter(None, (relation.schemaname, relation.relname)))
