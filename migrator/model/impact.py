"""What a statement does to the tables it touches: the lock it takes on each, and whether it
only changes the catalog, scans a table, builds an index or rewrites a table.

Read from pglast's parse tree, against PostgreSQL's documented lock levels (the "Explicit
Locking" chapter and each command's page, ALTER TABLE's per sub-command). Some answers need
the live catalog (is this default's function volatile? is the new column type binary-coercible
with the old one? does a validated `CHECK (col IS NOT NULL)` exist?): they are asked through a
`Catalog`, and the offline one answers only what is certain without a database, so that a
question it cannot answer makes the work "unknown" instead of a guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pglast import ast

LOCK_MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)  # weakest to strongest
WORKS = ("catalog", "scan", "build", "rewrite")  # cheapest to dearest; "unknown" beside them

ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SUE, SHARE, SRE, EXCLUSIVE, AE = LOCK_MODES


@dataclass(frozen=True)
class TableLock:
    table: str  # "schema.name" as written/resolved
    mode: str  # one of LOCK_MODES


@dataclass(frozen=True)
class StatementImpact:
    kind: str  # e.g. "ALTER TABLE ADD COLUMN", "CREATE INDEX CONCURRENTLY"
    locks: tuple[TableLock, ...]
    work: str  # "catalog" | "scan" | "rewrite" | "build" | "unknown"
    worked_tables: tuple[str, ...]  # tables scanned, rewritten or indexed
    reason: str  # one line: why this lock and this work


def strongest(modes: Iterator[str] | tuple[str, ...] | list[str]) -> str | None:
    """The strongest of some lock modes (None for none)."""
    ranked = [LOCK_MODES.index(mode) for mode in modes]
    return LOCK_MODES[max(ranked)] if ranked else None


@dataclass(frozen=True)
class TypeTarget:
    """The type an `ALTER COLUMN ... TYPE` names: its name as PostgreSQL resolves it, and its
    modifiers (`varchar(300)`: (300,)); `modifiers` is None when they are not plain numbers."""

    name: str
    modifiers: tuple[int, ...] | None


class Catalog(Protocol):
    """Answers that only the live database has; None means "not known"."""

    def volatility(self, function: str) -> str | None:
        """pg_proc.provolatile of a function named as written: 'i', 's' or 'v'."""

    def validated_not_null_check(self, table: str, column: str) -> bool | None:
        """Whether a validated CHECK (column IS NOT NULL) exists on the table."""

    def binary_coercible(self, table: str, column: str, target: TypeTarget) -> bool | None:
        """Whether the column's current type changes to `target` without a rewrite."""

    def table_of_index(self, index: str) -> str | None:
        """The table an index belongs to."""


# Built-in functions whose volatility is certain without asking a server (pg_proc of every
# supported version agrees); any other function makes a default's effect "unknown" offline.
_BUILTIN_VOLATILITY = {
    **dict.fromkeys(
        (
            "random",
            "gen_random_uuid",
            "uuid_generate_v1",
            "uuid_generate_v4",
            "uuidv4",
            "uuidv7",
            "nextval",
            "clock_timestamp",
            "timeofday",
            "random_normal",
        ),
        "v",
    ),
    **dict.fromkeys(
        (
            "now",
            "transaction_timestamp",
            "statement_timestamp",
            "current_setting",
            "to_char",
            "to_jsonb",
            "jsonb_build_object",
            "json_build_object",
            "concat",
            "date_trunc",
        ),
        "s",
    ),
    **dict.fromkeys(
        (
            "lower",
            "upper",
            "length",
            "md5",
            "btrim",
            "ltrim",
            "rtrim",
            "replace",
            "abs",
            "round",
            "make_interval",
            "make_date",
            "jsonb_build_array",
            "array_length",
        ),
        "i",
    ),
}


class Offline:
    """The catalog without a database: built-in volatilities, nothing else."""

    def volatility(self, function: str) -> str | None:
        schema, _, name = function.rpartition(".")
        return _BUILTIN_VOLATILITY.get(name) if schema in ("", "pg_catalog") else None

    def validated_not_null_check(self, table: str, column: str) -> bool | None:
        return None

    def binary_coercible(self, table: str, column: str, target: TypeTarget) -> bool | None:
        return None

    def table_of_index(self, index: str) -> str | None:
        return None


OFFLINE = Offline()


@dataclass
class _Part:
    """One piece of a statement (an ALTER TABLE sub-command, or the whole statement)."""

    kind: str
    locks: list[TableLock]
    work: str
    worked: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class Reader:
    """Reads statements in the order a plan runs them, remembering the tables created on the
    way: work on a table created earlier in the same plan is work on an empty table."""

    catalog: Catalog = OFFLINE
    created: set[str] = field(default_factory=set)

    def impact(self, node: ast.Node) -> StatementImpact:
        parts = list(self._parts(node))
        locks: dict[str, str] = {}
        for part in parts:
            for lock in part.locks:
                locks[lock.table] = strongest((locks.get(lock.table, ACCESS_SHARE), lock.mode))
        worked = [t for part in parts for t in part.worked if t not in self.created]
        works = [part.work for part in parts]
        work = "unknown" if "unknown" in works else max(works, key=WORKS.index, default="catalog")
        reason = "; ".join(part.reason for part in parts if part.reason)
        if work in WORKS[1:] and not worked:
            empty = "the table is created earlier in this plan, empty"
            work, reason = "catalog", f"{reason}; {empty}" if reason else empty
        if isinstance(node, ast.CreateStmt | ast.CreateTableAsStmt) and node.relation is not None:
            self.created.add(_name(node.relation))
        if isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
            self.created.add(_name(node.into.rel))
        return StatementImpact(
            kind=", ".join(dict.fromkeys(part.kind for part in parts)),
            locks=tuple(TableLock(table, mode) for table, mode in locks.items()),
            work=work,
            worked_tables=tuple(dict.fromkeys(worked)) if work in WORKS[1:] else (),
            reason=reason,
        )

    def _parts(self, node: ast.Node) -> Iterator[_Part]:
        if isinstance(node, ast.AlterTableStmt) and _enum(node.objtype) == "OBJECT_TABLE":
            table = _name(node.relation)
            for cmd in node.cmds or ():
                yield self._alter(table, cmd)
            return
        for kinds, reader in _READERS:
            if isinstance(node, kinds):
                yield reader(self, node)
                return
        yield _unknown(_words(type(node).__name__.removesuffix("Stmt")))

    # --- ALTER TABLE ----------------------------------------------------------------------

    def _alter(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        subtype = _enum(cmd.subtype)
        if subtype in _SIMPLE_ALTER:
            label, mode, work = _SIMPLE_ALTER[subtype]
            worked = [table] if work != "catalog" else []
            return _Part(f"ALTER TABLE {label}", [TableLock(table, mode)], work, worked, "")
        special = _SPECIAL_ALTER.get(subtype)
        if special is None:
            return _unknown(f"ALTER TABLE {subtype.removeprefix('AT_')}")
        return special(self, table, cmd)

    def _add_column(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        column: ast.ColumnDef = cmd.def_
        part = _Part("ALTER TABLE ADD COLUMN", [TableLock(table, AE)], "catalog")
        type_name = _type_name(column.typeName)
        if type_name.rpartition(".")[2] in _SERIALS:
            part.work, part.reason = "rewrite", "a serial column fills every row from a sequence"
        constraints = column.constraints or ()
        has_default = False
        for constraint in constraints:
            contype = _enum(constraint.contype)
            if contype == "CONSTR_DEFAULT":
                has_default = True
                volatile = self._volatile(constraint.raw_expr)
                if volatile is None:
                    _worse(part, "unknown", "whether the default is volatile is not known")
                elif volatile:
                    _worse(part, "rewrite", "a volatile default is computed for every row")
            elif contype == "CONSTR_IDENTITY":
                _worse(part, "rewrite", "an identity column fills every row from a sequence")
            elif contype == "CONSTR_GENERATED" and constraint.generated_kind != "v":
                _worse(part, "rewrite", "a stored generated column is computed for every row")
            elif contype == "CONSTR_CHECK":
                _worse(part, "scan", "its CHECK is verified on every row")
            elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
                _worse(part, "build", "its index is built")
            elif contype == "CONSTR_FOREIGN":
                part.locks.append(TableLock(_name(constraint.pktable), SRE))
        if (
            not has_default
            and any(_enum(c.contype) == "CONSTR_NOTNULL" for c in constraints)
            and part.work == "catalog"
        ):
            _worse(part, "scan", "NOT NULL without a default is verified on every row")
        if part.work == "catalog":
            part.reason = "a column without a volatile default changes only the catalog"
        if part.work != "catalog" and part.work != "unknown":
            part.worked = [table]
        return part

    def _volatile(self, expression: Any) -> bool | None:
        """Whether an expression calls a volatile function (None: cannot tell)."""
        answers = []
        for node in _walk(expression):
            if isinstance(node, ast.FuncCall):
                answers.append(self.catalog.volatility(_dotted(node.funcname)))
            elif isinstance(node, ast.SubLink):
                answers.append(None)
        if "v" in answers:
            return True
        return None if None in answers else False

    def _add_constraint(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        constraint: ast.Constraint = cmd.def_
        contype = _enum(constraint.contype)
        unchecked = bool(constraint.skip_validation)
        if contype == "CONSTR_FOREIGN":
            referenced = _name(constraint.pktable)
            locks = [TableLock(table, SRE), TableLock(referenced, SRE)]
            if unchecked:
                reason = "NOT VALID: existing rows are checked later, by VALIDATE"
                return _Part("ALTER TABLE ADD FOREIGN KEY NOT VALID", locks, "catalog", [], reason)
            reason = "every row is checked against the referenced table"
            return _Part("ALTER TABLE ADD FOREIGN KEY", locks, "scan", [table, referenced], reason)
        label = {
            "CONSTR_CHECK": "CHECK",
            "CONSTR_PRIMARY": "PRIMARY KEY",
            "CONSTR_UNIQUE": "UNIQUE",
            "CONSTR_EXCLUSION": "EXCLUDE",
            "CONSTR_NOTNULL": "NOT NULL",
        }.get(contype)
        if label is None:
            return _unknown(f"ALTER TABLE ADD CONSTRAINT {contype}")
        locks = [TableLock(table, AE)]
        kind = f"ALTER TABLE ADD {label}"
        if contype in ("CONSTR_CHECK", "CONSTR_NOTNULL"):
            if unchecked:
                reason = "NOT VALID: existing rows are checked later, by VALIDATE"
                return _Part(f"{kind} NOT VALID", locks, "catalog", [], reason)
            return _Part(kind, locks, "scan", [table], "every row is checked")
        if constraint.indexname:
            return _Part(f"{kind} USING INDEX", locks, "catalog", [], "the index already exists")
        return _Part(kind, locks, "build", [table], "its index is built")

    def _set_not_null(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        locks = [TableLock(table, AE)]
        checked = self.catalog.validated_not_null_check(table, cmd.name)
        if checked:
            reason = f"a validated CHECK ({cmd.name} IS NOT NULL) spares the scan"
            return _Part("ALTER TABLE SET NOT NULL", locks, "catalog", [], reason)
        reason = "every row is checked" + (
            f", unless a validated CHECK ({cmd.name} IS NOT NULL) exists (not known here)"
            if checked is None
            else ""
        )
        return _Part("ALTER TABLE SET NOT NULL", locks, "scan", [table], reason)

    def _alter_type(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        column: ast.ColumnDef = cmd.def_
        locks = [TableLock(table, AE)]
        kind = "ALTER TABLE ALTER COLUMN TYPE"
        if column.raw_default is not None:
            return _Part(kind, locks, "rewrite", [table], "USING computes every row again")
        typmods = column.typeName.typmods or ()
        modifiers = tuple(
            m.val.ival
            for m in typmods
            if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer)
        )
        target = TypeTarget(
            _type_name(column.typeName), modifiers if len(modifiers) == len(typmods) else None
        )
        coercible = self.catalog.binary_coercible(table, cmd.name, target)
        if coercible is None:
            reason = "rewrites unless the cast is binary-coercible (not known here)"
            return _Part(kind, locks, "unknown", [], reason)
        if coercible:
            return _Part(kind, locks, "catalog", [], "the cast is binary-coercible: no rewrite")
        reason = "the cast is not binary-coercible: the table and its indexes are rewritten"
        return _Part(kind, locks, "rewrite", [table], reason)

    def _rel_options(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        names = [option.defname for option in cmd.def_ or ()]
        weak = all(
            name in _SUE_OPTIONS or name.startswith(("autovacuum_", "toast.")) for name in names
        )
        mode = SUE if weak else AE
        reason = (
            f"{'SHARE UPDATE EXCLUSIVE' if weak else 'ACCESS EXCLUSIVE'} for {', '.join(names)}"
        )
        return _Part(
            "ALTER TABLE SET (storage parameters)", [TableLock(table, mode)], "catalog", [], reason
        )

    def _partition(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        partition = _name(cmd.def_.name)
        if _enum(cmd.subtype) == "AT_AttachPartition":
            locks = [TableLock(table, SUE), TableLock(partition, AE)]
            reason = "the partition's rows are checked against its bounds"
            return _Part("ALTER TABLE ATTACH PARTITION", locks, "scan", [partition], reason)
        if cmd.def_.concurrent:
            locks = [TableLock(table, SUE), TableLock(partition, SUE)]
            return _Part("ALTER TABLE DETACH PARTITION CONCURRENTLY", locks, "catalog")
        locks = [TableLock(table, AE), TableLock(partition, AE)]
        return _Part("ALTER TABLE DETACH PARTITION", locks, "catalog")

    def _inherit(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        locks = [TableLock(table, AE), TableLock(_name(cmd.def_), SUE)]
        return _Part("ALTER TABLE INHERIT", locks, "catalog")

    def _validate(self, table: str, cmd: ast.AlterTableCmd) -> _Part:
        reason = "existing rows are checked under a lock that lets reads and writes go on"
        return _Part(
            "ALTER TABLE VALIDATE CONSTRAINT", [TableLock(table, SUE)], "scan", [table], reason
        )

    # --- other statements -----------------------------------------------------------------

    def _index(self, node: ast.IndexStmt) -> _Part:
        table = _name(node.relation)
        kind = "CREATE UNIQUE INDEX" if node.unique else "CREATE INDEX"
        if node.concurrent:
            reason = "built while reads and writes go on"
            return _Part(f"{kind} CONCURRENTLY", [TableLock(table, SUE)], "build", [table], reason)
        reason = "writes wait for the whole build"
        return _Part(kind, [TableLock(table, SHARE)], "build", [table], reason)

    def _reindex(self, node: ast.ReindexStmt) -> _Part:
        kind = _enum(node.kind).removeprefix("REINDEX_OBJECT_")
        if kind not in ("TABLE", "INDEX") or node.relation is None:
            return _unknown(f"REINDEX {kind}")
        name = _name(node.relation)
        table = (self.catalog.table_of_index(name) or name) if kind == "INDEX" else name
        if any(option.defname == "concurrently" for option in node.params or ()):
            return _Part(
                f"REINDEX {kind} CONCURRENTLY",
                [TableLock(table, SUE)],
                "build",
                [table],
                "rebuilt while reads and writes go on",
            )
        return _Part(
            f"REINDEX {kind}",
            [TableLock(table, SHARE)],
            "build",
            [table],
            "writes wait for the rebuild",
        )

    def _drop(self, node: ast.DropStmt) -> _Part:
        removed = _enum(node.removeType).removeprefix("OBJECT_")
        names = [_dotted(obj) for obj in node.objects or () if isinstance(obj, tuple | list)]
        if removed == "INDEX":
            mode = SUE if node.concurrent else AE
            tables = [self.catalog.table_of_index(name) or name for name in names]
            kind = "DROP INDEX CONCURRENTLY" if node.concurrent else "DROP INDEX"
            return _Part(
                kind, [TableLock(t, mode) for t in tables], "catalog", [], "locks the index's table"
            )
        if removed in ("TABLE", "VIEW", "MATVIEW", "SEQUENCE", "FOREIGN_TABLE"):
            return _Part(
                f"DROP {removed.replace('_', ' ')}", [TableLock(n, AE) for n in names], "catalog"
            )
        if removed in ("TRIGGER", "POLICY", "RULE"):
            tables = [name.rpartition(".")[0] for name in names]
            return _Part(f"DROP {removed}", [TableLock(t, AE) for t in tables], "catalog")
        if _enum(node.behavior) == "DROP_CASCADE":
            return _unknown(f"DROP {removed} CASCADE")
        return _Part(f"DROP {removed}", [], "catalog", [], "no table is locked")

    def _create(self, node: ast.CreateStmt) -> _Part:
        locks = []
        for element in node.tableElts or ():
            constraints = (
                element.constraints or () if isinstance(element, ast.ColumnDef) else (element,)
            )
            for constraint in constraints:
                if isinstance(constraint, ast.Constraint) and constraint.pktable is not None:
                    locks.append(TableLock(_name(constraint.pktable), SRE))
        parent_mode = AE if node.partbound is not None else SUE
        locks += [TableLock(_name(parent), parent_mode) for parent in node.inhRelations or ()]
        kind = "CREATE TABLE PARTITION OF" if node.partbound is not None else "CREATE TABLE"
        reason = "a new table; the tables it references are locked" if locks else "a new table"
        return _Part(kind, locks, "catalog", [], reason)

    def _create_as(self, node: ast.CreateTableAsStmt) -> _Part:
        sources = _read_tables(node.query)
        locks = [TableLock(t, ACCESS_SHARE) for t in sources]
        kind = (
            "CREATE MATERIALIZED VIEW"
            if _enum(node.objtype) == "OBJECT_MATVIEW"
            else ("CREATE TABLE AS")
        )
        if node.into is not None and node.into.skipData:
            return _Part(kind, locks, "catalog", [], "WITH NO DATA")
        return _Part(kind, locks, "scan", sources, "its query reads the tables it names")

    def _view(self, node: ast.ViewStmt) -> _Part:
        locks = [TableLock(t, ACCESS_SHARE) for t in _read_tables(node.query)]
        if node.replace:
            locks.append(TableLock(_name(node.view), AE))
        return _Part("CREATE VIEW", locks, "catalog")

    def _refresh(self, node: ast.RefreshMatViewStmt) -> _Part:
        view = _name(node.relation)
        mode = EXCLUSIVE if node.concurrent else AE
        kind = "REFRESH MATERIALIZED VIEW" + (" CONCURRENTLY" if node.concurrent else "")
        if node.skipData:
            return _Part(kind, [TableLock(view, mode)], "catalog", [], "WITH NO DATA")
        return _Part(kind, [TableLock(view, mode)], "rewrite", [view], "its query runs again")

    def _vacuum(self, node: ast.VacuumStmt) -> _Part:
        options = {option.defname for option in node.options or ()}
        tables = [_name(rel.relation) for rel in node.rels or () if rel.relation is not None]
        if not tables:
            return _unknown("VACUUM of the whole database")
        if node.is_vacuumcmd and "full" in options:
            return _Part(
                "VACUUM FULL",
                [TableLock(t, AE) for t in tables],
                "rewrite",
                tables,
                "the table is copied anew",
            )
        kind = "VACUUM" if node.is_vacuumcmd else "ANALYZE"
        return _Part(
            kind, [TableLock(t, SUE) for t in tables], "scan", tables, "reads and writes go on"
        )

    def _cluster(self, node: ast.ClusterStmt) -> _Part:
        if node.relation is None:
            return _unknown("CLUSTER of the whole database")
        table = _name(node.relation)
        return _Part(
            "CLUSTER",
            [TableLock(table, AE)],
            "rewrite",
            [table],
            "the table is copied anew in index order",
        )

    def _truncate(self, node: ast.TruncateStmt) -> _Part:
        tables = [_name(rel) for rel in node.relations or ()]
        return _Part(
            "TRUNCATE",
            [TableLock(t, AE) for t in tables],
            "catalog",
            [],
            "new empty files replace the table's",
        )

    def _rename(self, node: ast.RenameStmt) -> _Part:
        renamed = _enum(node.renameType).removeprefix("OBJECT_")
        if node.relation is None:
            return _Part(f"RENAME {renamed}", [], "catalog", [], "no table is locked")
        mode = SUE if renamed == "INDEX" else AE  # an index alone, since PostgreSQL 12
        return _Part(f"RENAME {renamed}", [TableLock(_name(node.relation), mode)], "catalog")

    def _set_schema(self, node: ast.AlterObjectSchemaStmt) -> _Part:
        moved = _enum(node.objectType).removeprefix("OBJECT_")
        if node.relation is None:
            return _Part(f"ALTER {moved} SET SCHEMA", [], "catalog", [], "no table is locked")
        return _Part(f"ALTER {moved} SET SCHEMA", [TableLock(_name(node.relation), AE)], "catalog")

    def _trigger(self, node: ast.CreateTrigStmt) -> _Part:
        return _Part("CREATE TRIGGER", [TableLock(_name(node.relation), SRE)], "catalog")

    def _policy(self, node: ast.CreatePolicyStmt | ast.AlterPolicyStmt) -> _Part:
        kind = "CREATE POLICY" if isinstance(node, ast.CreatePolicyStmt) else "ALTER POLICY"
        return _Part(kind, [TableLock(_name(node.table), AE)], "catalog")

    def _rule(self, node: ast.RuleStmt) -> _Part:
        return _Part("CREATE RULE", [TableLock(_name(node.relation), AE)], "catalog")

    def _comment(self, node: ast.CommentStmt) -> _Part:
        on = _enum(node.objtype).removeprefix("OBJECT_")
        if on in ("TABLE", "VIEW", "MATVIEW", "INDEX", "SEQUENCE", "FOREIGN_TABLE"):
            table = _dotted(node.object)
        elif on in ("COLUMN", "TABCONSTRAINT", "TRIGGER", "POLICY", "RULE"):
            table = _dotted(node.object[:-1])
        else:
            return _Part(f"COMMENT ON {on}", [], "catalog", [], "no table is locked")
        return _Part(f"COMMENT ON {on}", [TableLock(table, SUE)], "catalog")

    def _lock(self, node: ast.LockStmt) -> _Part:
        mode = LOCK_MODES[node.mode - 1]
        tables = [_name(rel) for rel in node.relations or ()]
        return _Part(
            "LOCK TABLE",
            [TableLock(t, mode) for t in tables],
            "catalog",
            [],
            "held until the transaction ends",
        )

    def _insert(self, node: ast.InsertStmt) -> _Part:
        table = _name(node.relation)
        sources = _read_tables(node.selectStmt)
        locks = [TableLock(table, ROW_EXCLUSIVE), *(TableLock(t, ACCESS_SHARE) for t in sources)]
        if sources:
            return _Part(
                "INSERT SELECT", locks, "scan", sources, "reads the tables it selects from"
            )
        return _Part("INSERT", locks, "catalog", [], "writes only the rows it lists")

    def _update_delete(self, node: ast.UpdateStmt | ast.DeleteStmt) -> _Part:
        table = _name(node.relation)
        extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
        sources = _read_tables(extra)
        locks = [TableLock(table, ROW_EXCLUSIVE), *(TableLock(t, ACCESS_SHARE) for t in sources)]
        kind = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        return _Part(
            kind,
            locks,
            "scan",
            [table, *sources],
            "row locks only; reads and writes of other rows go on",
        )

    def _select(self, node: ast.SelectStmt) -> _Part:
        sources = _read_tables(node)
        if not sources:
            return _unknown("SELECT", "what the functions it calls do is not in its parse tree")
        mode = ROW_SHARE if node.lockingClause else ACCESS_SHARE
        return _Part("SELECT", [TableLock(t, mode) for t in sources], "scan", sources)

    def _catalog_only(self, node: ast.Node) -> _Part:
        kind = type(node).__name__.removesuffix("Stmt")
        return _Part(_CATALOG_ONLY[type(node)], [], "catalog", [], f"no table is locked ({kind})")

    def _grant(self, node: ast.GrantStmt) -> _Part:
        return _Part(
            "GRANT" if node.is_grant else "REVOKE",
            [],
            "catalog",
            [],
            "privileges change in the catalog; no table is locked",
        )


def _worse(part: _Part, work: str, reason: str) -> None:
    """Raise a part's work to `work` when dearer (unknown outranks all), keeping why."""
    if part.work == "unknown":
        return
    if work == "unknown" or WORKS.index(work) > WORKS.index(part.work):
        part.work, part.reason = work, reason


def _unknown(kind: str, reason: str = "not in the tool's lock table") -> _Part:
    return _Part(kind, [], "unknown", [], reason)


_SERIALS = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}
_SUE_OPTIONS = {
    "fillfactor",
    "toast_tuple_target",
    "parallel_workers",
    "vacuum_index_cleanup",
    "vacuum_truncate",
}

# ALTER TABLE sub-commands whose lock and work need no more than their name.
_SIMPLE_ALTER = {
    "AT_ColumnDefault": ("ALTER COLUMN SET/DROP DEFAULT", AE, "catalog"),
    "AT_DropNotNull": ("ALTER COLUMN DROP NOT NULL", AE, "catalog"),
    "AT_SetExpression": ("ALTER COLUMN SET EXPRESSION", AE, "rewrite"),
    "AT_DropExpression": ("ALTER COLUMN DROP EXPRESSION", AE, "catalog"),
    "AT_SetStatistics": ("ALTER COLUMN SET STATISTICS", SUE, "catalog"),
    "AT_SetOptions": ("ALTER COLUMN SET (options)", SUE, "catalog"),
    "AT_ResetOptions": ("ALTER COLUMN RESET (options)", SUE, "catalog"),
    "AT_SetStorage": ("ALTER COLUMN SET STORAGE", AE, "catalog"),
    "AT_SetCompression": ("ALTER COLUMN SET COMPRESSION", AE, "catalog"),
    "AT_DropColumn": ("DROP COLUMN", AE, "catalog"),
    "AT_AddIndexConstraint": ("ADD CONSTRAINT USING INDEX", AE, "catalog"),
    "AT_AlterConstraint": ("ALTER CONSTRAINT", AE, "catalog"),
    "AT_DropConstraint": ("DROP CONSTRAINT", AE, "catalog"),
    "AT_ChangeOwner": ("OWNER TO", AE, "catalog"),
    "AT_ClusterOn": ("CLUSTER ON", SUE, "catalog"),
    "AT_DropCluster": ("SET WITHOUT CLUSTER", SUE, "catalog"),
    "AT_SetLogged": ("SET LOGGED", AE, "rewrite"),
    "AT_SetUnLogged": ("SET UNLOGGED", AE, "rewrite"),
    "AT_SetAccessMethod": ("SET ACCESS METHOD", AE, "rewrite"),
    "AT_SetTableSpace": ("SET TABLESPACE", AE, "rewrite"),
    "AT_ReplaceRelOptions": ("SET (storage parameters)", AE, "catalog"),
    "AT_DropInherit": ("NO INHERIT", AE, "catalog"),
    "AT_AddOf": ("OF", AE, "catalog"),
    "AT_DropOf": ("NOT OF", AE, "catalog"),
    "AT_ReplicaIdentity": ("REPLICA IDENTITY", AE, "catalog"),
    "AT_EnableRowSecurity": ("ENABLE ROW LEVEL SECURITY", AE, "catalog"),
    "AT_DisableRowSecurity": ("DISABLE ROW LEVEL SECURITY", AE, "catalog"),
    "AT_ForceRowSecurity": ("FORCE ROW LEVEL SECURITY", AE, "catalog"),
    "AT_NoForceRowSecurity": ("NO FORCE ROW LEVEL SECURITY", AE, "catalog"),
    "AT_GenericOptions": ("OPTIONS", AE, "catalog"),
    "AT_AddIdentity": ("ALTER COLUMN ADD IDENTITY", AE, "catalog"),
    "AT_SetIdentity": ("ALTER COLUMN SET (identity)", AE, "catalog"),
    "AT_DropIdentity": ("ALTER COLUMN DROP IDENTITY", AE, "catalog"),
    "AT_DetachPartitionFinalize": ("DETACH PARTITION FINALIZE", SUE, "catalog"),
    **{
        f"AT_{state}{what}": (f"{label} TRIGGER", SRE, "catalog")
        for state, label in (
            ("Enable", "ENABLE"),
            ("Disable", "DISABLE"),
            ("EnableAlways", "ENABLE ALWAYS"),
            ("EnableReplica", "ENABLE REPLICA"),
        )
        for what in ("Trig", "TrigAll", "TrigUser")
    },
    **{
        f"AT_{state}Rule": (f"{label} RULE", AE, "catalog")
        for state, label in (
            ("Enable", "ENABLE"),
            ("Disable", "DISABLE"),
            ("EnableAlways", "ENABLE ALWAYS"),
            ("EnableReplica", "ENABLE REPLICA"),
        )
    },
}
_SPECIAL_ALTER = {
    "AT_AddColumn": Reader._add_column,
    "AT_AddConstraint": Reader._add_constraint,
    "AT_SetNotNull": Reader._set_not_null,
    "AT_AlterColumnType": Reader._alter_type,
    "AT_SetRelOptions": Reader._rel_options,
    "AT_ResetRelOptions": Reader._rel_options,
    "AT_AddInherit": Reader._inherit,
    "AT_AttachPartition": Reader._partition,
    "AT_DetachPartition": Reader._partition,
    "AT_ValidateConstraint": Reader._validate,
}
# Statements that change only the catalog and lock no table.
_CATALOG_ONLY = {
    ast.CreateSchemaStmt: "CREATE SCHEMA",
    ast.CreateSeqStmt: "CREATE SEQUENCE",
    ast.AlterSeqStmt: "ALTER SEQUENCE",
    ast.CreateFunctionStmt: "CREATE FUNCTION",
    ast.AlterFunctionStmt: "ALTER FUNCTION",
    ast.CreateEnumStmt: "CREATE TYPE AS ENUM",
    ast.AlterEnumStmt: "ALTER TYPE ADD VALUE",
    ast.CompositeTypeStmt: "CREATE TYPE",
    ast.CreateDomainStmt: "CREATE DOMAIN",
    ast.DefineStmt: "CREATE (definition)",
    ast.CreateRoleStmt: "CREATE ROLE",
    ast.AlterRoleStmt: "ALTER ROLE",
    ast.GrantRoleStmt: "GRANT ROLE",
    ast.AlterDefaultPrivilegesStmt: "ALTER DEFAULT PRIVILEGES",
    ast.AlterOwnerStmt: "ALTER OWNER",
    ast.VariableSetStmt: "SET",
}
_READERS: tuple[tuple[Any, Any], ...] = (
    (ast.IndexStmt, Reader._index),
    (ast.ReindexStmt, Reader._reindex),
    (ast.DropStmt, Reader._drop),
    (ast.CreateStmt, Reader._create),
    (ast.CreateTableAsStmt, Reader._create_as),
    (ast.ViewStmt, Reader._view),
    (ast.RefreshMatViewStmt, Reader._refresh),
    (ast.VacuumStmt, Reader._vacuum),
    (ast.ClusterStmt, Reader._cluster),
    (ast.TruncateStmt, Reader._truncate),
    (ast.RenameStmt, Reader._rename),
    (ast.AlterObjectSchemaStmt, Reader._set_schema),
    (ast.CreateTrigStmt, Reader._trigger),
    (ast.CreatePolicyStmt | ast.AlterPolicyStmt, Reader._policy),
    (ast.RuleStmt, Reader._rule),
    (ast.CommentStmt, Reader._comment),
    (ast.LockStmt, Reader._lock),
    (ast.InsertStmt, Reader._insert),
    (ast.UpdateStmt | ast.DeleteStmt, Reader._update_delete),
    (ast.SelectStmt, Reader._select),
    (ast.GrantStmt, Reader._grant),
    (tuple(_CATALOG_ONLY), Reader._catalog_only),
)


def impacts(nodes: list[ast.Node], catalog: Catalog = OFFLINE) -> list[StatementImpact]:
    """The impact of each statement, read in order (tables created on the way are empty)."""
    reader = Reader(catalog)
    return [reader.impact(node) for node in nodes]


# --- parse-tree helpers -------------------------------------------------------------------------


def _words(name: str) -> str:
    """`CreateExtension` -> `CREATE EXTENSION`: a parse-tree node's name as SQL spells it."""
    return "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()


def _enum(value: Any) -> str:
    return getattr(value, "name", str(value))


def _name(relation: ast.RangeVar) -> str:
    return f"{relation.schemaname}.{relation.relname}" if relation.schemaname else relation.relname


def _dotted(names: Any) -> str:
    return ".".join(n.sval for n in names if isinstance(n, ast.String))


def _type_name(type_name: ast.TypeName) -> str:
    return _dotted(type_name.names)


def _walk(value: Any) -> Iterator[ast.Node]:
    """Every node under `value`, itself included."""
    if isinstance(value, ast.Node):
        yield value
        for slot in value.__slots__:
            yield from _walk(getattr(value, slot, None))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk(item)


def _read_tables(value: Any) -> list[str]:
    """The tables a query (or part of one) reads, in order, each once; common table
    expressions' own names left out."""
    nodes = list(_walk(value))
    ctes = {n.ctename for n in nodes if isinstance(n, ast.CommonTableExpr)}
    found = [
        _name(n)
        for n in nodes
        if isinstance(n, ast.RangeVar) and not (n.schemaname is None and n.relname in ctes)
    ]
    return list(dict.fromkeys(found))
