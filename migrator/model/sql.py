"""Reading SQL with PostgreSQL's own parser (pglast).

Statements are split and classified from the parse tree, never by pattern matching on text:
a semicolon inside a dollar-quoted function body or a string must not split a statement, and
`CONCURRENTLY` inside a comment must not move one out of its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import pglast
from pglast import ast, enums
from pglast.parser import ParseError

from migrator.errors import MigratorError
from migrator.model.statement import Statement


class SqlError(MigratorError):
    """A body that PostgreSQL's parser rejects, or that the tool refuses to run; `line` is
    where (a file line when the caller said where the body starts)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)
        self.reason = reason
        self.line = line


def _concurrent_index(node: ast.Node) -> str | None:
    if not (isinstance(node, ast.IndexStmt) and node.concurrent and node.idxname):
        return None
    schema = node.relation.schemaname
    name = _quoted(node.idxname)
    return f"{_quoted(schema)}.{name}" if schema else name


# Statements PostgreSQL refuses inside a transaction block ("cannot run inside a transaction
# block", SQLSTATE 25001), by parse-tree node.
_ALWAYS_OUTSIDE = (
    ast.CreatedbStmt,
    ast.DropdbStmt,
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
    ast.AlterSystemStmt,
    ast.CreateSubscriptionStmt,
    ast.DropSubscriptionStmt,
)


def _has_option(options: tuple | None, name: str) -> bool:
    return any(isinstance(o, ast.DefElem) and o.defname == name for o in options or ())


def must_run_outside_transaction(node: ast.Node) -> bool:
    """Whether PostgreSQL refuses to run this statement inside a transaction block."""
    if isinstance(node, _ALWAYS_OUTSIDE):
        return True
    if isinstance(node, ast.IndexStmt | ast.DropStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return _has_option(node.params, "concurrently") or node.relation is None
    if isinstance(node, ast.VacuumStmt):
        return bool(node.is_vacuumcmd)
    if isinstance(node, ast.ClusterStmt):
        return node.relation is None
    if isinstance(node, ast.AlterTableStmt):
        return any(
            isinstance(cmd, ast.AlterTableCmd)
            and isinstance(cmd.def_, ast.PartitionCmd)
            and bool(cmd.def_.concurrent)
            for cmd in node.cmds or ()
        )
    return False


# ALTER TABLE forms that take a weaker lock than ACCESS EXCLUSIVE (PostgreSQL's documentation of
# ALTER TABLE and of explicit locking): SHARE UPDATE EXCLUSIVE or SHARE ROW EXCLUSIVE.
_WEAKER_ALTER_TABLE = {
    "AT_ValidateConstraint",
    "AT_SetStatistics",
    "AT_ClusterOn",
    "AT_DropCluster",
    "AT_SetOptions",
    "AT_ResetOptions",
    "AT_AttachPartition",
    "AT_DetachPartitionFinalize",
    "AT_EnableTrig",
    "AT_EnableAlwaysTrig",
    "AT_EnableReplicaTrig",
    "AT_EnableTrigAll",
    "AT_EnableTrigUser",
    "AT_DisableTrig",
    "AT_DisableTrigAll",
    "AT_DisableTrigUser",
}
_RELATION_OBJECTS = {"OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_VIEW", "OBJECT_MATVIEW"}
_ACCESS_EXCLUSIVE_MODE = 8  # AccessExclusiveLock, LOCK TABLE's default


def takes_access_exclusive(node: ast.Node) -> bool:
    """Whether PostgreSQL takes ACCESS EXCLUSIVE on a relation for this statement."""
    if isinstance(node, ast.AlterTableStmt):
        kinds = {getattr(getattr(cmd, "subtype", None), "name", "") for cmd in node.cmds or ()}
        if kinds & {"AT_AddConstraint"} and all(
            isinstance(cmd.def_, ast.Constraint)
            and getattr(cmd.def_.contype, "name", "") == "CONSTR_FOREIGN"
            for cmd in node.cmds or ()
            if getattr(cmd.subtype, "name", "") == "AT_AddConstraint"
        ):
            kinds -= {"AT_AddConstraint"}  # a foreign key takes SHARE ROW EXCLUSIVE
        return bool(kinds - _WEAKER_ALTER_TABLE)
    if isinstance(node, ast.DropStmt):
        kind = getattr(node.removeType, "name", "")
        return kind in _RELATION_OBJECTS and not node.concurrent
    if isinstance(node, ast.TruncateStmt | ast.ClusterStmt):
        return True
    if isinstance(node, ast.RenameStmt):
        return getattr(node.renameType, "name", "") in _RELATION_OBJECTS | {"OBJECT_COLUMN"}
    if isinstance(node, ast.VacuumStmt):
        return _has_option(node.options, "full")
    if isinstance(node, ast.RefreshMatViewStmt):
        return not node.concurrent
    if isinstance(node, ast.LockStmt):
        return node.mode == _ACCESS_EXCLUSIVE_MODE
    return False


def runs_outside_the_revision_transaction(node: ast.Node) -> bool:
    """Whether the tool runs the statement outside the revision's transaction: those
    PostgreSQL refuses in one, and `VALIDATE CONSTRAINT`, whose scan needs only SHARE UPDATE
    EXCLUSIVE but would otherwise hold every lock the revision took before it (the ACCESS
    EXCLUSIVE of the `ADD CONSTRAINT ... NOT VALID` that precedes it, typically) for as long as
    it scans: committing first is what makes NOT VALID then VALIDATE an online change."""
    if must_run_outside_transaction(node):
        return True
    return isinstance(node, ast.AlterTableStmt) and all(
        getattr(getattr(cmd, "subtype", None), "name", "") == "AT_ValidateConstraint"
        for cmd in node.cmds or ()
    )


def _line_of(sql: str, offset: int) -> int:
    return sql.count("\n", 0, offset) + 1


def parse(sql: str, first_line: int = 1) -> tuple[ast.RawStmt, ...]:
    """Parse a body, turning the parser's complaint into a message with its line (counted
    from `first_line`, the line the body starts on in its file)."""
    try:
        return pglast.parse_sql(sql)
    except ParseError as error:
        message, *rest = error.args
        line = (
            _line_of(sql, rest[0]) + first_line - 1 if rest and isinstance(rest[0], int) else None
        )
        raise SqlError(f"SQL does not parse: {message}", line) from error


def split(sql: str, first_line: int = 1) -> list[Statement]:
    """Split a body into statements, each marked with where it must run and the line it
    starts on (counted from `first_line`).

    Bodies hold no BEGIN/COMMIT/ROLLBACK: the tool owns transactions, and a COMMIT inside a
    body would silently end the revision's transaction before its version row is written.
    """
    return list(_split_once(sql, first_line))


@lru_cache(maxsize=4096)
def _split_once(sql: str, first_line: int) -> tuple[Statement, ...]:
    """Bodies repeat (a plan, its hash, its run); one parse each is enough."""
    return tuple(_statements(sql, first_line))


def located(sql: str, first_line: int = 1) -> list[tuple[ast.RawStmt, int]]:
    """Every statement's parse tree with the line it starts on (blank lines and comments
    before it skipped), transaction control included: for readers such as lint."""
    found = []
    for raw in parse(sql, first_line):
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(sql)
        line = _line_of(sql, start) + _leading_newlines(sql[start:end]) + first_line - 1
        found.append((raw, line))
    return found


def _statements(sql: str, first_line: int) -> Iterator[Statement]:
    for raw, line in located(sql, first_line):
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(sql)
        text = sql[start:end].strip()
        if isinstance(raw.stmt, ast.TransactionStmt):
            raise SqlError(
                f"`{text.splitlines()[0]}` controls transactions; remove it, the tool runs "
                "each revision in its own transaction",
                line,
            )
        yield Statement(
            text,
            not runs_outside_the_revision_transaction(raw.stmt),
            line,
            takes_access_exclusive(raw.stmt),
            _concurrent_index(raw.stmt),
            raw.stmt,
        )


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _leading_newlines(text: str) -> int:
    stripped = text.lstrip()
    return text[: len(text) - len(stripped)].count("\n")


def make_rerunnable(node: ast.Node) -> None:
    """IF NOT EXISTS or OR REPLACE on what is created, IF EXISTS on what is dropped, where
    PostgreSQL has them: a written revision (autogenerated, or squashed from a dump) must
    survive being run again after a failure, as the house lint asks of hand-written ones."""
    if isinstance(node, ast.CreateSchemaStmt | ast.CreateStmt | ast.IndexStmt | ast.CreateSeqStmt):
        node.if_not_exists = True
    elif isinstance(node, ast.CreateFunctionStmt | ast.CreateTrigStmt | ast.ViewStmt):
        node.replace = True
    elif isinstance(node, ast.DropStmt):
        node.missing_ok = True
    elif isinstance(node, ast.AlterTableStmt):
        for command in node.cmds or ():
            if command.subtype in (
                enums.AlterTableType.AT_AddColumn,
                enums.AlterTableType.AT_DropColumn,
                enums.AlterTableType.AT_DropConstraint,
            ):
                command.missing_ok = True
