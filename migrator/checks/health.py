"""Is the database healthy, as far as migrations go? Each check says ok, warning or failing.

Operators ask it before a deploy, and services use it as a readiness probe (`--service crm`
checks only crm and what crm depends on): the database answers, every branch is at head, the
applied revisions match their files, no index was left INVALID and no constraint NOT VALID, no
transaction has been open for too long, nothing waits for a lock on the services' tables, and
a backup would fit on the disk. While a migration runs, it says which revision, its statement
and for how long, what it waits for and which sessions queue behind it.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator import units
from migrator.config import Settings
from migrator.database import APPLICATION_NAME, connect, database_heads
from migrator.errors import MigratorError
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.ops.policy import Load
from migrator.run import history, replicas, validation

OK, WARNING, FAILING = "ok", "warning", "failing"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    summary: str
    details: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scope:
    """What one probe looks at: some revisions and the schemas of their services."""

    revisions: set[str]
    schemas: list[str]


def scope_of(graph: RevisionGraph, service: str | None) -> Scope:
    if service is None:
        return Scope(set(graph.revisions), [known.schema for known in services.SERVICES])
    chosen = services.resolve(service)
    branch = graph.branch(chosen)
    needed = graph.ancestors([branch[-1].id]) if branch else set()
    owners = {graph.revisions[rev].service.schema for rev in needed} | {chosen.schema}
    return Scope(needed, sorted(owners))


def run(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    service: str | None = None,
    long_transaction_seconds: float = 300,
) -> list[Check]:
    """Every check, in the order an operator reads them."""
    scope = scope_of(graph, service)
    in_scope = {"schemas": scope.schemas}
    try:
        with connect(url) as connection:
            checks = [_connectivity(connection)]
            checks += [
                _pending(connection, settings, graph, scope),
                _checksums(connection, settings, graph, scope),
                *(listing.run(connection, in_scope) for listing in _SCOPED_LISTINGS),
                _LONG_TRANSACTIONS.run(
                    connection,
                    {
                        "limit": long_transaction_seconds,
                        "limit_text": units.duration(long_transaction_seconds * 1000),
                    },
                ),
                _LOCK_WAITS.run(connection, in_scope),
                _running_migrations(connection, settings),
                _replicas(connection, settings),
                _disk(connection, settings),
            ]
    except MigratorError as error:
        return [Check("connectivity", FAILING, str(error))]
    return checks


def exit_code(checks: list[Check], strict: bool) -> int:
    """The house convention: 1 when a check found problems (a failing one; a warning too
    under --strict), 0 otherwise; --json tells failing from warning."""
    statuses = {check.status for check in checks}
    return 1 if FAILING in statuses or (strict and WARNING in statuses) else 0


def _rows(connection: Connection, query: str, parameters: dict | None = None) -> list:
    rows = connection.exec_driver_sql(query, parameters or {}).all()
    connection.commit()
    return rows


def _connectivity(connection: Connection) -> Check:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        connection.exec_driver_sql("SELECT 1").scalar()
        timings.append((time.perf_counter() - started) * 1000)
    connection.commit()
    version = connection.dialect.server_version_info
    rtt = round(statistics.median(timings), 2)
    return Check(
        "connectivity",
        OK,
        f"PostgreSQL {'.'.join(map(str, version))} answers in {rtt} ms",
        figures={"round_trip_ms": rtt},
    )


def _pending(
    connection: Connection, settings: Settings, graph: RevisionGraph, scope: Scope
) -> Check:
    heads = database_heads(connection, settings)
    known = [head for head in heads if head in graph.revisions]
    applied = graph.ancestors(known)
    pending = graph.in_order(scope.revisions - applied)
    if not pending:
        return Check("at-head", OK, "every branch is at head", figures={"pending": 0})
    return Check(
        "at-head",
        FAILING,
        f"{len(pending)} revision(s) pending; run `migrate up`",
        [
            f"{rev} ({graph.revisions[rev].service.name}) {graph.revisions[rev].path.name}"
            for rev in pending
        ],
        {"pending": len(pending)},
    )


def _checksums(
    connection: Connection, settings: Settings, graph: RevisionGraph, scope: Scope
) -> Check:
    found = [
        f
        for f in validation.check(connection, settings, graph)
        if f.revision in scope.revisions or f.revision not in graph.revisions
    ]
    blocking = [f for f in found if f.blocking]
    if blocking:
        return Check(
            "checksums",
            FAILING,
            f"{len(blocking)} applied revision(s) disagree with "
            "their files; `migrate validate` explains",
            [f.describe() for f in blocking],
        )
    if found:
        return Check(
            "checksums",
            WARNING,
            f"{len(found)} applied revision(s) without a recorded checksum",
            [f.describe() for f in found],
        )
    return Check("checksums", OK, "applied revisions match their files")


@dataclass(frozen=True)
class _Listing:
    """A check that lists what a catalog query finds: `status` and `summary` (with `{count}`
    and the query's parameters) when it finds anything, `ok` otherwise; `row` says how a found
    row reads, `counted` adds the count to the figures."""

    name: str
    query: str
    status: str
    summary: str
    ok: str
    row: Callable[[Any], str] = itemgetter(0)
    counted: bool = False

    def run(self, connection: Connection, parameters: dict[str, Any]) -> Check:
        rows = _rows(connection, self.query, parameters)
        figures = {"count": len(rows)} if self.counted else {}
        if rows:
            summary = self.summary.format(count=len(rows), **parameters)
            return Check(self.name, self.status, summary, [self.row(r) for r in rows], figures)
        return Check(self.name, OK, self.ok.format(**parameters), figures=figures)


_SCOPED_LISTINGS = (
    _Listing(
        "invalid-indexes",
        "SELECT n.nspname || '.' || c.relname FROM pg_index x "
        "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT x.indisvalid AND n.nspname = ANY(%(schemas)s) ORDER BY 1",
        FAILING,
        "{count} INVALID index(es), left by a failed CREATE INDEX CONCURRENTLY; "
        "`migrate up` rebuilds those its revisions create, or drop them",
        "no INVALID index",
    ),
    _Listing(
        "unvalidated-constraints",
        "SELECT c.conrelid::regclass::text || ' ' || c.conname FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE NOT c.convalidated AND n.nspname = ANY(%(schemas)s) ORDER BY 1",
        WARNING,
        "{count} constraint(s) NOT VALID: rows written before them are unchecked; finish "
        "with ALTER TABLE ... VALIDATE CONSTRAINT",
        "every constraint is validated",
    ),
)

_LONG_TRANSACTIONS = _Listing(
    "long-transactions",
    "SELECT pid, usename, application_name, "
    "extract(epoch FROM now() - xact_start)::int AS age, left(query, 80) "
    "FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
    "AND datname = current_database() "
    "AND now() - xact_start > make_interval(secs => %(limit)s) ORDER BY age DESC",
    WARNING,
    "{count} transaction(s) open longer than {limit_text}: they hold locks and stall vacuum, "
    "and a migration would queue behind them",
    "no transaction open longer than {limit_text}",
    row=lambda r: f"pid {r[0]} {r[1]} ({r[2] or '-'}) open {units.duration(r[3] * 1000)}: {r[4]}",
    counted=True,
)

_LOCK_WAITS = _Listing(
    "lock-waits",
    "SELECT l.pid, n.nspname || '.' || c.relname, l.mode, "
    "array_to_string(pg_blocking_pids(l.pid), ',') "
    "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT l.granted AND n.nspname = ANY(%(schemas)s) ORDER BY 2",
    WARNING,
    "{count} session(s) waiting for a lock on the services' tables",
    "nothing waits for a lock on the services' tables",
    row=lambda r: f"pid {r[0]} waits for {r[2]} on {r[1]} (blocked by {r[3] or '?'})",
)


def _replicas(connection: Connection, settings: Settings) -> Check:
    """Each streaming replica's lag as the primary sees it; a warning above max_replica_lag,
    the limit under which migrations run without waiting for it."""
    found = replicas.replicas(connection)
    connection.commit()
    if not found:
        return Check("replicas", OK, "no replicas")
    limit = settings.engine.max_replica_lag_ms / 1000
    listed = [
        {
            "name": replica.name,
            "client": replica.client,
            "state": replica.state,
            "sync_state": replica.sync_state,
            "write_lag_seconds": replica.write_lag,
            "flush_lag_seconds": replica.flush_lag,
            "replay_lag_seconds": replica.replay_lag,
            "bytes_behind": replica.bytes_behind,
        }
        for replica in found
    ]
    hidden = [replica.name or str(replica.pid) for replica in found if not replica.visible]
    lagging = [
        replica.name
        for replica in found
        if limit and replica.replay_lag is not None and replica.replay_lag > limit
    ]
    details = [
        f"{r['name']} ({r['client'] or 'local socket'}): {r['state']}, {r['sync_state']}, "
        f"replay lag {units.duration((r['replay_lag_seconds'] or 0) * 1000)}, "
        f"{r['bytes_behind'] or 0} bytes behind"
        for r in listed
        if r["state"] is not None
    ]
    figures = {"replicas": listed, "max_replica_lag_seconds": limit}
    if hidden:
        return Check(
            "replicas",
            WARNING,
            f"{len(hidden)} replica(s) whose lag this role may not read; grant it pg_monitor",
            details,
            figures,
        )
    if lagging:
        return Check(
            "replicas",
            WARNING,
            f"{', '.join(lagging)} replay more than {units.duration(limit * 1000)} behind; "
            "migrations wait for them",
            details,
            figures,
        )
    return Check("replicas", OK, f"{len(found)} replica(s) within the lag limit", details, figures)


def _disk(connection: Connection, settings: Settings) -> Check:
    size = int(connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())
    connection.commit()
    folder = settings.backup_dir if settings.backup_dir.exists() else settings.project_root
    free = shutil.disk_usage(folder).free
    figures = {"database_bytes": size, "backup_free_bytes": free}
    if free - size < settings.backup_reserve_bytes:
        return Check(
            "disk",
            WARNING,
            f"a backup ({units.size(size)}) would not fit in {folder} ({units.size(free)} free)",
            figures=figures,
        )
    return Check(
        "disk",
        OK,
        f"database {units.size(size)}; {units.size(free)} free for backups",
        figures=figures,
    )


# The label the runner puts before a revision's batch: `/* migrator: upgrade <rev> (<service>) */`.
_LABEL, _LABEL_END = "/* migrator: ", " */"
# A migration's session: labelled, or the migrator's own session holding a two-key advisory
# lock (the migration lock) while it runs a statement outside a batch.
_MIGRATIONS = (
    "SELECT a.pid, a.query, a.wait_event_type, a.wait_event, pg_blocking_pids(a.pid), "
    "extract(epoch FROM now() - a.query_start) FROM pg_stat_activity a "
    "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state <> 'idle' "
    "AND (a.query LIKE '/* migrator: %%' OR (a.application_name = %(application)s AND EXISTS ("
    "SELECT FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted "
    "AND l.objsubid = 2))) ORDER BY a.pid"
)
_BLOCKED = (
    "SELECT pid, application_name, query_start FROM pg_stat_activity "
    "WHERE %(pid)s = ANY(pg_blocking_pids(pid)) ORDER BY query_start"
)
_STATEMENT_CHARS = 120


def _running_migrations(connection: Connection, settings: Settings) -> Check:
    """Each migration under way: its revision, statement and duration, the sessions it waits
    for and those that queue behind it (pg_blocking_pids), so an operator sees at once whether
    to wait, or whom to stop."""
    found = [
        _running(connection, settings, row)
        for row in _rows(connection, _MIGRATIONS, {"application": APPLICATION_NAME})
    ]
    if not found:
        return Check("running-migration", OK, "no migration running", figures={"running": []})
    stuck = any(run["waits_for"] or run["blocks"] for run in found)
    return Check(
        "running-migration",
        WARNING if stuck else OK,
        f"{len(found)} migration(s) running"
        + (": waiting for a lock, or blocking other sessions" if stuck else ""),
        [_described(run) for run in found],
        {"running": found},
    )


def _running(connection: Connection, settings: Settings, row: Any) -> dict[str, Any]:
    pid, query, wait_type, wait_event, waits_for, seconds = row
    revision, service = _labelled(query) or _latest_try(connection, settings.tool_schema)
    blocked = _rows(connection, _BLOCKED, {"pid": pid})
    return {
        "revision": revision,
        "service": service,
        "pid": pid,
        "statement": _statement(query),
        "seconds": round(float(seconds or 0), 1),
        "wait_event_type": wait_type,
        "wait_event": wait_event,
        "waits_for": list(waits_for),
        "blocks": [
            {
                "pid": other,
                "application_name": application,
                "query_start": started.isoformat() if started else None,
            }
            for other, application, started in blocked
        ],
    }


def _labelled(query: str) -> tuple[str, str] | None:
    """The revision and service of a labelled batch."""
    if not query.startswith(_LABEL) or _LABEL_END not in query:
        return None
    words = query[len(_LABEL) : query.index(_LABEL_END)].split()
    return (words[1], words[2].strip("()")) if len(words) == 3 else None


def _latest_try(connection: Connection, schema: str) -> tuple[str, str]:
    """The revision whose try the history shows running (a statement outside a batch carries
    no label)."""
    table = f'"{schema}".{history.HISTORY_TABLE}'
    row = None
    if connection.exec_driver_sql("SELECT to_regclass(%s)", (table,)).scalar():
        row = connection.exec_driver_sql(
            f"SELECT revision, service FROM {table} WHERE outcome = 'running' "
            "ORDER BY id DESC LIMIT 1"
        ).first()
    connection.commit()
    return (row[0], row[1]) if row else ("?", "?")


def _statement(query: str) -> str:
    """The revision's statements in the session's query, without the batch's bookkeeping; the
    text as it stands when PostgreSQL cut it short (track_activity_query_size) and it does
    not parse."""
    from migrator.model import sql as parsing  # the parser, only while a migration runs

    try:
        kept = []
        for raw, _ in parsing.located(query):
            start = raw.stmt_location or 0
            end = start + raw.stmt_len if raw.stmt_len else len(query)
            if not _bookkeeping(raw.stmt):
                kept.append(query[start:end].strip())
    except parsing.SqlError:
        kept = [query]
    text = " ".join("; ".join(kept).split())
    if text.startswith(_LABEL):
        text = text[text.index(_LABEL_END) + len(_LABEL_END) :].strip()
    return text if len(text) <= _STATEMENT_CHARS else text[: _STATEMENT_CHARS - 1] + "…"


def _bookkeeping(node: Any) -> bool:
    """What the runner adds around a revision's statements: transaction control, SET LOCAL,
    the history rows' EXECUTE, and `SELECT set_config(...)` for the revision's timeouts."""
    from pglast import ast

    if isinstance(node, ast.TransactionStmt | ast.VariableSetStmt | ast.ExecuteStmt):
        return True
    return (
        isinstance(node, ast.SelectStmt)
        and not node.fromClause
        and bool(node.targetList)
        and all(
            isinstance(target.val, ast.FuncCall)
            and [name.sval for name in target.val.funcname] == ["set_config"]
            for target in node.targetList
        )
    )


def _described(run: dict[str, Any]) -> str:
    line = (
        f"{run['revision']} ({run['service']}) pid {run['pid']}, running "
        f"{units.duration(run['seconds'] * 1000)}: {run['statement']}"
    )
    if run["waits_for"]:
        pids = ", ".join(map(str, run["waits_for"]))
        line += f"; waits for {run['wait_event_type']}/{run['wait_event']} held by pid {pids}"
    if run["blocks"]:
        line += "; blocks " + ", ".join(
            f"pid {other['pid']} ({other['application_name'] or '-'}, since "
            f"{other['query_start'] or '?'})"
            for other in run["blocks"]
        )
    return line


def load(connection: Connection) -> Load:
    """How busy the database is now: its active sessions (ours not counted) and the
    transactions it ended over one second."""

    def transactions() -> int:
        count = connection.exec_driver_sql(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).scalar()
        connection.commit()
        return int(count or 0)

    active = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND datname = current_database() AND pid <> pg_backend_pid()"
    ).scalar()
    connection.commit()
    first, started = transactions(), time.perf_counter()
    time.sleep(1)
    last, elapsed = transactions(), time.perf_counter() - started
    return Load(int(active or 0), max(last - first, 0) / elapsed)
