"""What a plan does to the live tables: for each statement the locks and work the parse tree
says (`model.impact`), the size of the tables it works on, and how long that work should take
on this server; for each revision the strongest lock, how long it is held, and a verdict.

Durations are the work's bytes over this server's throughput for that kind of work (reading,
building an index, rewriting), measured once on a table of a few MB in a transaction that is
rolled back, and kept per server (its system identifier and version) in the project's
git-ignored `.migrator/` folder: nothing is left in the database.

A lock is held until its transaction ends, so a lock a revision takes for an instant is still
held while a later statement of the same transaction works: holds are counted per transaction,
the way the runner groups statements (those that run outside the revision's transaction each
commit on their own).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from migrator.context import Context
from migrator.model import impact as model
from migrator.model.cache import FOLDER
from migrator.model.impact import LOCK_MODES, StatementImpact, TypeTarget
from migrator.model.plan import Plan
from migrator.model.revision import BackfillStep
from migrator.model.statement import Statement

VERDICTS = ("online", "brief lock", "blocks writes", "blocks reads and writes")  # "unknown" too
THROUGHPUT_FILE = "throughput.json"
# A lock that blocks writes while it works on tables this small (a few thousand rows) lasts
# milliseconds: a brief lock rather than an outage.
BRIEF_BYTES = 1024 * 1024
_CALIBRATION_ROWS = 60_000


@dataclass(frozen=True)
class TableSize:
    table: str
    bytes: int
    rows: int


@dataclass(frozen=True)
class EstimatedStatement:
    impact: StatementImpact
    sizes: tuple[TableSize, ...]
    seconds: float | None  # None: unknown


@dataclass(frozen=True)
class RevisionImpact:
    revision: str
    service: str
    statements: tuple[EstimatedStatement, ...]
    strongest_lock: str | None
    longest_lock_seconds: float | None
    largest_table_bytes: int
    verdict: str  # one of VERDICTS or "unknown"


@dataclass(frozen=True)
class Throughput:
    """Bytes of table (its indexes included) this server gets through per second, by work."""

    scan: float
    build: float
    rewrite: float

    def seconds(self, work: str, size: int) -> float:
        return size / getattr(self, work)


def assess(ctx: Context, plan: Plan) -> list[RevisionImpact]:
    """The impact of every revision of the plan on the database it would run on."""
    if not plan:
        return []
    with ctx.reading() as connection:
        catalog = LiveCatalog(connection)
        throughput = calibrated(ctx.settings.project_root, connection)
        reader = model.Reader(catalog)
        return [
            _revision(
                item.id,
                item.revision.service.name,
                [
                    [estimate(reader.impact(_node(s)), catalog, throughput) for s in segment]
                    for segment in _segments(item.steps)
                ],
            )
            for item in plan.items
        ]


def _segments(steps: tuple) -> list[list[Statement]]:
    """The statements in the transactions they run in: the revision's transactional
    statements together until one runs outside it; each of those, and each backfill slice,
    alone."""
    segments: list[list[Statement]] = []
    open_segment = False
    for step in steps:
        for statement in step.statements:
            if statement.transactional and not isinstance(step, BackfillStep):
                if not open_segment:
                    segments.append([])
                    open_segment = True
                segments[-1].append(statement)
            else:
                segments.append([statement])
                open_segment = False
    return segments


def _revision(
    revision: str, service: str, segments: list[list[EstimatedStatement]]
) -> RevisionImpact:
    estimated = [statement for segment in segments for statement in segment]
    holds = [hold for segment in segments for hold in _holds(segment)]
    strongest = model.strongest([mode for mode, _, _ in holds])
    held = [seconds for mode, seconds, _ in holds if mode == strongest]
    verdicts = [verdict for _, _, verdict in holds]
    verdicts += ["unknown" for e in estimated if e.impact.work == "unknown"]
    longest = None if None in held else max((s for s in held if s is not None), default=0.0)
    return RevisionImpact(
        revision=revision,
        service=service,
        statements=tuple(estimated),
        strongest_lock=strongest,
        longest_lock_seconds=longest,
        largest_table_bytes=max((s.bytes for e in estimated for s in e.sizes), default=0),
        verdict=_worst(verdicts),
    )


def _node(statement: Statement) -> object:
    if statement.node is not None:
        return statement.node
    from migrator.model import sql

    return sql.parse(statement.text)[0].stmt


def estimate(
    impact: StatementImpact, catalog: LiveCatalog, throughput: Throughput
) -> EstimatedStatement:
    """A statement's tables with their sizes, and its seconds: none for a catalog change,
    unknown when its work or a worked table's size is."""
    tables = dict.fromkeys([*(lock.table for lock in impact.locks), *impact.worked_tables])
    sizes = {table: catalog.size(table) for table in tables}
    known = tuple(size for size in sizes.values() if size is not None)
    if impact.work == "catalog":
        return EstimatedStatement(impact, known, 0.0)
    worked = [sizes[table] for table in impact.worked_tables]
    if impact.work == "unknown" or any(size is None for size in worked):
        return EstimatedStatement(impact, known, None)
    work_bytes = sum(catalog.work_bytes(table, impact.work) for table in impact.worked_tables)
    return EstimatedStatement(impact, known, throughput.seconds(impact.work, work_bytes))


def _holds(segment: list[EstimatedStatement]) -> list[tuple[str, float | None, str]]:
    """Each lock of a transaction: its mode, how long it is held (from the statement that
    takes it to the transaction's end), and what that means for other sessions."""
    found = []
    for start, statement in enumerate(segment):
        rest = segment[start:]
        seconds = [e.seconds for e in rest]
        held = None if None in seconds else sum(s for s in seconds if s is not None)
        working = [e for e in rest if e.impact.work != "catalog"]
        worked_bytes = [
            s.bytes for e in working for s in e.sizes if s.table in e.impact.worked_tables
        ]
        for lock in statement.impact.locks:
            found.append((lock.mode, held, _verdict(lock.mode, working, worked_bytes)))
    return found


def _verdict(mode: str, working: list[EstimatedStatement], worked_bytes: list[int]) -> str:
    rank = LOCK_MODES.index(mode)
    if rank < LOCK_MODES.index(model.SHARE) or not working:
        return "online"  # lets writes through, or held only for a catalog change
    if any(e.impact.work == "unknown" for e in working):
        return "unknown"
    if all(e.seconds is not None for e in working) and sum(worked_bytes) <= BRIEF_BYTES:
        return "brief lock"
    return "blocks reads and writes" if mode == model.AE else "blocks writes"


def _worst(verdicts: list[str]) -> str:
    """The worst verdict; "unknown" when something is unknown, unless the rest already says
    the worst there is."""
    known = [v for v in verdicts if v != "unknown"]
    worst = max(known, key=VERDICTS.index, default="online")
    if "unknown" in verdicts and worst != VERDICTS[-1]:
        return "unknown"
    return worst


# --- the live catalog -----------------------------------------------------------------------------


def _split(name: str) -> tuple[str | None, str]:
    schema, _, relation = name.rpartition(".")
    return schema or None, relation


class LiveCatalog:
    """`model.impact.Catalog` answered by the database, each question asked once."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self.connection = connection
        self._answers: dict[tuple, object] = {}

    def _one(self, query: str, *params: object) -> tuple | None:
        key = (query, params)
        if key not in self._answers:
            self._answers[key] = self.connection.execute(query, params).fetchone()
        return self._answers[key]  # type: ignore[return-value]

    def _relation(self, name: str) -> int | None:
        schema, relation = _split(name)
        if schema is None:
            row = self._one(
                "SELECT oid FROM pg_class WHERE relname = %s AND pg_table_is_visible(oid)",
                relation,
            )
        else:
            row = self._one(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = %s AND n.nspname = %s",
                relation,
                schema,
            )
        return row[0] if row else None

    def size(self, table: str) -> TableSize | None:
        """The table's bytes (indexes and TOAST included) and row estimate, None when it does
        not exist yet."""
        oid = self._relation(table)
        if oid is None:
            return None
        row = self._sizes(oid)
        return TableSize(table, int(row[0]), int(row[2])) if row else None

    def work_bytes(self, table: str, work: str) -> int:
        """What the work goes through: a scan or an index build reads the table's rows (its
        heap and TOAST), a rewrite writes them and every index again."""
        oid = self._relation(table)
        row = self._sizes(oid) if oid is not None else None
        if row is None:
            return 0
        return int(row[0] if work == "rewrite" else row[1])

    def _sizes(self, oid: int) -> tuple | None:
        return self._one(
            "SELECT pg_total_relation_size(c.oid), pg_table_size(c.oid), "
            "CASE WHEN c.reltuples >= 0 THEN c.reltuples ELSE coalesce(s.n_live_tup, 0) END "
            "FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid WHERE c.oid = %s",
            oid,
        )

    def volatility(self, function: str) -> str | None:
        schema, name = _split(function)
        rows = self.connection.execute(
            "SELECT DISTINCT p.provolatile FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = %s AND "
            "(n.nspname = %s OR (%s::text IS NULL AND pg_function_is_visible(p.oid)))",
            (name, schema, schema),
        ).fetchall()
        return str(rows[0][0]) if len(rows) == 1 else None

    def validated_not_null_check(self, table: str, column: str) -> bool | None:
        from pglast import ast, parse_sql

        oid = self._relation(table)
        if oid is None:
            return None
        rows = self.connection.execute(
            "SELECT pg_get_expr(conbin, conrelid) FROM pg_constraint "
            "WHERE conrelid = %s AND contype = 'c' AND convalidated",
            (oid,),
        ).fetchall()
        for (expression,) in rows:
            node = parse_sql(f"SELECT {expression}")[0].stmt.targetList[0].val
            if (
                isinstance(node, ast.NullTest)
                and node.nulltesttype.name == "IS_NOT_NULL"
                and isinstance(node.arg, ast.ColumnRef)
                and [f.sval for f in node.arg.fields] == [column]
            ):
                return True
        return False

    def binary_coercible(self, table: str, column: str, target: TypeTarget) -> bool | None:
        oid = self._relation(table)
        row = self._one(
            "SELECT a.atttypid, a.atttypmod, t.typname, to_regtype(%s)::oid FROM pg_attribute a "
            "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = %s AND a.attname = %s "
            "AND NOT a.attisdropped",
            target.name,
            oid,
            column,
        )
        if row is None or row[3] is None or target.modifiers is None:
            return None
        old_type, old_modifier, type_name, new_type = row
        new_modifier = _modifier(type_name, target.modifiers)
        if old_type == new_type:
            return _same_type_coercible(type_name, old_modifier, new_modifier)
        cast = self._one(
            "SELECT castmethod FROM pg_cast WHERE castsource = %s AND casttarget = %s",
            old_type,
            new_type,
        )
        return bool(cast and cast[0] == "b" and new_modifier == -1)

    def table_of_index(self, index: str) -> str | None:
        oid = self._relation(index)
        row = self._one(
            "SELECT n.nspname || '.' || c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.indexrelid = %s",
            oid,
        )
        return str(row[0]) if row else None


def _modifier(type_name: str, modifiers: tuple[int, ...]) -> int | None:
    """atttypmod of the length-limited types whose limit can grow in place; None for others."""
    if not modifiers:
        return -1
    if type_name in ("varchar", "bpchar") and len(modifiers) == 1:
        return modifiers[0] + 4
    if type_name in ("varbit", "bit") and len(modifiers) == 1:
        return modifiers[0]
    if type_name == "numeric":
        precision, scale = (*modifiers, 0)[:2]
        return ((precision << 16) | scale) + 4
    return None


def _same_type_coercible(type_name: str, old: int, new: int | None) -> bool | None:
    """Whether a column keeps its type with another limit without a rewrite: the same limit,
    a longer varchar or varbit, a numeric's greater precision at the same scale, or no limit."""
    if new is None:
        return None
    if new == old:
        return True
    if type_name in ("varchar", "varbit"):
        return new == -1 or (old != -1 and new > old)
    if type_name == "numeric" and old != -1:
        return new == -1 or ((new - 4) & 0xFFFF == (old - 4) & 0xFFFF and new > old)
    return False


# --- calibration ----------------------------------------------------------------------------------


def throughput_path(project_root: Path) -> Path:
    return project_root / FOLDER / THROUGHPUT_FILE


def calibrated(project_root: Path, connection: psycopg.Connection) -> Throughput:
    """This server's throughput, measured on first use and cached per server."""
    key = _server_key(connection)
    path = throughput_path(project_root)
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads(path.read_text()).get(key)
        if stored:
            return Throughput(**stored)
    measured = measure(connection)
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(path.read_text()) if path.exists() else {}
        known[key] = vars(measured)
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(known, indent=2) + "\n")
    return measured


def _server_key(connection: psycopg.Connection) -> str:
    """The server's system identifier and version; its address where the identifier is not
    readable (pg_control_system needs a privilege some logins lack)."""
    version = connection.execute("SHOW server_version_num").fetchone()
    try:
        with connection.transaction():
            row = connection.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
        server = str(row[0]) if row else ""
    except psycopg.errors.InsufficientPrivilege:
        info = connection.info
        server = f"{info.host}:{info.port}"
    return f"{server}/{version[0] if version else ''}"


def measure(connection: psycopg.Connection) -> Throughput:
    """Time a scan, an index build and a rewrite of a table of a few MB shaped like the
    platform's (a key, e-mail addresses in no order, a status, a timestamp), created in a
    transaction that is rolled back. A scan and a build go through the table's rows (its heap),
    a rewrite through the heap and its indexes; short timings are taken at their best of a
    few, as a shared machine's hiccups only ever add time."""
    with connection.transaction(force_rollback=True):
        schema = _calibration_schema(connection)
        table = pgsql.Identifier(schema, "throughput")
        index = pgsql.Identifier(schema, "throughput_email")
        connection.execute(
            pgsql.SQL(
                "CREATE TABLE {} (id int PRIMARY KEY, email text, status varchar(20), "
                "created_at timestamptz)"
            ).format(table)
        )
        connection.execute(
            pgsql.SQL(
                "INSERT INTO {} SELECT g, md5(random()::text) || '@example.com', 'lead', now() "
                "FROM generate_series(1, %s) g"
            ).format(table),
            (_CALIBRATION_ROWS,),
        )
        scan = pgsql.SQL("SELECT count(*) FROM {} WHERE NOT (email IS NOT NULL)").format(table)
        connection.execute(scan)  # the first read sets hint bits: a write, not a scan
        scan_seconds = min(_timed(connection, scan) for _ in range(3))
        heap = _size(connection, "pg_table_size", schema)
        build = pgsql.SQL("DROP INDEX IF EXISTS {}; CREATE INDEX {} ON {} (email)")
        build_seconds = min(
            _timed(connection, build.format(index, pgsql.Identifier("throughput_email"), table))
            for _ in range(2)
        )
        total = _size(connection, "pg_total_relation_size", schema)
        rewrite = pgsql.SQL("ALTER TABLE {} ADD COLUMN token float8 NOT NULL DEFAULT random()")
        rewrite_seconds = _timed(connection, rewrite.format(table))
    return Throughput(
        scan=heap / scan_seconds, build=heap / build_seconds, rewrite=total / rewrite_seconds
    )


def _calibration_schema(connection: psycopg.Connection) -> str:
    """A schema made for the measurement, where its table is logged as migrated ones are; the
    temporary schema where the login may not create schemas. Both go with the rollback."""
    try:
        with connection.transaction():
            connection.execute("CREATE SCHEMA migrator_calibration")
    except psycopg.errors.InsufficientPrivilege:
        return "pg_temp"
    return "migrator_calibration"


def _timed(connection: psycopg.Connection, statement: pgsql.Composable) -> float:
    started = time.perf_counter()
    connection.execute(statement)
    return max(time.perf_counter() - started, 1e-6)


def _size(connection: psycopg.Connection, function: str, schema: str) -> int:
    query = pgsql.SQL("SELECT {}(to_regclass(%s))").format(pgsql.Identifier(function))
    row = connection.execute(query, (f"{schema}.throughput",)).fetchone()
    return int(row[0]) if row else 0
