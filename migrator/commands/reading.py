"""The commands that only read: status, history, validate, plan, verify, health, drift,
metrics and lint. Each returns data for the command line to render; none changes the target
(verify and drift work on scratch databases of their own).

`status` is the command people run most, often in a loop: it reads through psycopg alone and
asks only for what it shows, through the audit history's own reader (`run.history`, which
loads no SQLAlchemy). What the other commands need (the checks, validation, and through them
SQLAlchemy, Alembic, pglast and the Prometheus client) is imported by the command that needs it,
so that importing this module costs `status` nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migrator import config, database
from migrator.context import Context
from migrator.errors import UsageError
from migrator.model import repeatable, services
from migrator.model.graph import ServiceStatus
from migrator.ops import embedded
from migrator.run import history as history_rows

if TYPE_CHECKING:
    import psycopg
    from prometheus_client import CollectorRegistry

    from migrator.checks import health as health_check
    from migrator.checks import impact as impact_check
    from migrator.checks import lint as lint_check
    from migrator.checks import prechecks as precheck
    from migrator.checks import verify as verify_check
    from migrator.model.plan import Plan
    from migrator.run import validation


@dataclass(frozen=True)
class ServiceRow:
    """One service in `status`: where it stands, its newest change, and its repeatable files
    new or changed since they last ran, and those the history knows whose file is gone."""

    status: ServiceStatus
    last: history_rows.LastChange | None
    repeatables_pending: int = 0
    repeatables_removed: tuple[str, ...] = ()


def status(ctx: Context) -> list[ServiceRow]:
    schema = ctx.settings.tool_schema
    with ctx.reading() as connection:
        rows = ctx.graph.status(database.recorded_heads(connection, schema))
        last = history_rows.last_changes(connection, schema, [row.service.name for row in rows])
        recorded = _recorded_repeatables(ctx, connection)
    removed = recorded.removed()
    return [
        ServiceRow(
            row,
            last.get(row.service.name),
            len(recorded.changed([row.service])),
            tuple(key for key in removed if key.startswith(f"{row.service.name}/")),
        )
        for row in rows
    ]


def recorded_repeatables(ctx: Context) -> repeatable.Recorded:
    """The project's repeatable files, with the checksums the database's history recorded
    for them: what plans need to tell which are pending."""
    with ctx.reading() as connection:
        return _recorded_repeatables(ctx, connection)


def _recorded_repeatables(ctx: Context, connection: psycopg.Connection) -> repeatable.Recorded:
    files = repeatable.load(ctx.settings.project_root)
    schema = ctx.settings.tool_schema
    return repeatable.Recorded(files, history_rows.repeatable_checksums(connection, schema))


def history(ctx: Context, service: str | None, limit: int) -> list[history_rows.Row]:

    if limit < 0:
        raise UsageError(f"--limit {limit}: give a number of rows, 0 or more")
    chosen = [services.resolve(service).name] if service else None
    with ctx.connect() as connection:
        return history_rows.read(connection, ctx.settings.tool_schema, services=chosen, limit=limit)


def validate(ctx: Context) -> list[validation.Finding]:
    from migrator.run import validation

    with ctx.connect() as connection:
        return validation.check(connection, ctx.settings, ctx.graph)


def verify(ctx: Context, plan: Plan) -> verify_check.Verification:
    from migrator.checks import verify as verify_check

    return verify_check.verify(ctx, plan)


def prechecks(ctx: Context, plan: Plan) -> list[precheck.Result]:
    """`plan --check-data`: the rows each constraint the plan adds would reject, counted on the
    target read-only, as `up` counts them before it runs."""
    from migrator.checks import prechecks as precheck

    return precheck.run(ctx, plan)


def impact(ctx: Context, plan: Plan) -> list[impact_check.RevisionImpact]:
    """For `plan`: per revision, the locks each statement takes, the work it does on how large
    a table, how long that should take on this server, and a verdict. A view of the plan, never
    part of its hash."""
    from migrator.checks import impact as impact_check

    return impact_check.assess(ctx, plan)


def health(ctx: Context, service: str | None, long_transaction: str) -> list[health_check.Check]:
    from migrator.checks import health as health_check

    threshold = config.parse_duration_ms(long_transaction, "--long-transaction") / 1000
    return health_check.run(ctx.settings, ctx.url, ctx.graph, service, threshold)


def drift(ctx: Context, service: str | None) -> list[str]:
    from migrator.checks import drift as drift_check

    return drift_check.drift(ctx, service)


def metrics(ctx: Context) -> CollectorRegistry:
    from migrator.checks import metrics as metrics_check

    with ctx.connect() as connection:
        return metrics_check.registry_for(connection, ctx.settings, ctx.graph)


def refuse_unwritable_textfile(path: Path) -> None:
    """`metrics --textfile` into a missing folder (or onto a folder) is bad input, refused
    before the database is read."""
    config.refuse_unwritable_file(path, "--textfile", replaced=True)


@dataclass(frozen=True)
class LintReport:
    revisions: int
    pg_version: str
    findings: list[lint_check.Finding]

    @property
    def errors(self) -> list[lint_check.Finding]:
        return [f for f in self.findings if f.counts and f.severity == "error"]

    @property
    def warnings(self) -> list[lint_check.Finding]:
        return [f for f in self.findings if f.counts and f.severity == "warning"]

    @property
    def accepted(self) -> int:
        return len(self.findings) - len(self.errors) - len(self.warnings)


def lint(
    ctx: Context, paths: list[Path], service: str | None, pg_version: str | None
) -> LintReport:
    """squawk and the house rules over the chosen revisions and repeatable files (all by
    default)."""
    from migrator.checks import lint as lint_check

    graph = ctx.graph
    chosen = services.resolve(service) if service else None
    wanted = {path.resolve() for path in paths}
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise UsageError(f"no such revision file: {', '.join(missing)}")
    revisions = [
        rev
        for rev in graph.in_order(graph.revisions)
        if (chosen is None or graph[rev].service == chosen)
        and (not wanted or graph[rev].path.resolve() in wanted)
    ]
    files = [
        file
        for file in repeatable.load(ctx.settings.project_root)
        if (chosen is None or file.service == chosen)
        and (not wanted or file.path.resolve() in wanted)
    ]
    if wanted and not revisions and not files:
        raise UsageError("none of the given files is a revision of the project")
    version = pg_version or _lint_version(ctx)
    sized = _blocking_on_large_tables(ctx, revisions) if ctx.settings.database_url else []
    found = lint_check.lint(ctx.settings, graph, revisions, version, sized, files)
    return LintReport(len(revisions), version, found)


def _blocking_on_large_tables(ctx: Context, revisions: list[str]) -> list[lint_check.Finding]:
    """The size rule: what the chosen revisions that are pending on the connected database
    would hold back there. Applied revisions are history: their tables' sizes say nothing
    about the locks they took."""
    from migrator.checks import lint as lint_check
    from migrator.model import plan as planning
    from migrator.ops import policy

    everything = planning.upgrade_targets(ctx.graph, None, None)
    pending = planning.upgrade(ctx.graph, ctx.heads(), everything, None)
    threshold = policy.for_settings(ctx.settings).window_threshold_bytes
    return lint_check.blocking_on_large_tables(
        pending, impact(ctx, pending), revisions, threshold or lint_check.LARGE_TABLE_BYTES
    )


def _lint_version(ctx: Context) -> str:
    """The major version squawk lints for: pyproject's postgres_version, the configured
    database's server, or the embedded server's."""
    configured = config.pyproject_settings(ctx.settings.project_root).get("postgres_version")
    if configured:
        return str(configured)
    if ctx.settings.database_url is None:
        return embedded.bundled_major_version()
    with ctx.connect() as connection:
        return str(connection.dialect.server_version_info[0])
