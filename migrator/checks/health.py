"""Is the database healthy, as far as migrations go? Each check says ok, warning or failing.

Operators ask it before a deploy, and services use it as a readiness probe (`--service crm`
checks only crm and what crm depends on): the database answers, every branch is at head, the
applied revisions match their files, no index was left INVALID and no constraint NOT VALID, no
transaction has been open for too long, nothing waits for a lock on the services' tables, and
a backup would fit on the disk.
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
from migrator.database import connect, database_heads
from migrator.errors import MigratorError
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.run import validation

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
