"""The `migrate` command: parse, call the engine, render the answer. No SQL here.

Every command reports failures the same way: one line saying what was wrong and what to do,
details (if any) below it, and the exit code of the house convention (1 work failed or check
found problems, 2 bad input).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import URL

from migrator import commands, config, logs, urls
from migrator.checks import drift, health, lint, metrics, verify
from migrator.commands import plainsql
from migrator.database import connect, database_heads
from migrator.errors import CheckFailed, MigratorError, UsageError
from migrator.events import (
    BatchProgress,
    Event,
    EventSink,
    HistoryNotRecorded,
    RunFinished,
    RunStarted,
    StepFailed,
    StepFinished,
    StepStarted,
)
from migrator.model import guards, mirror, services
from migrator.model import plan as planning
from migrator.model.graph import RevisionGraph
from migrator.ops import backup, devdb, embedded, policy
from migrator.run import apply as runner
from migrator.run import history, validation
from migrator.run import lock as locking

app = typer.Typer(
    help="Migrations of the Inopsio platform: nine services, one PostgreSQL, one safe runner.",
    no_args_is_help=True,
    add_completion=False,
)
deps_app = typer.Typer(
    help="Cross-service dependencies and their YAML mirror.", no_args_is_help=True
)
db_app = typer.Typer(
    help="The embedded PostgreSQL used when no database is configured.", no_args_is_help=True
)
app.add_typer(deps_app, name="deps")
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL; defaults to $DATABASE_URL, else the embedded server.",
        show_default=False,
    ),
]
Project = Annotated[
    Path | None,
    typer.Option(
        "--project", help="The migrations project (folder of alembic.ini).", show_default=False
    ),
]
ServiceName = Annotated[
    str | None,
    typer.Option(
        "--service", "-s", help="A service: crm, crm-service, inosec-core, inosec_core..."
    ),
]
Version = Annotated[
    str | None, typer.Option("--version", "-v", help="A revision id, e.g. 20240101_001.")
]
AsSql = Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it.")]
LockTimeout = Annotated[
    str | None,
    typer.Option(help="How long a statement may wait for a lock (2s; MIGRATE_LOCK_TIMEOUT)."),
]
StatementTimeout = Annotated[
    str | None,
    typer.Option(help="How long a statement may run (off; MIGRATE_STATEMENT_TIMEOUT)."),
]
LockRetries = Annotated[
    int | None,
    typer.Option(help="Tries of a revision that hits lock_timeout (5; MIGRATE_LOCK_RETRIES)."),
]
LockWait = Annotated[
    str | None,
    typer.Option(help="How long to wait for another migrator to finish (120s; MIGRATE_LOCK_WAIT)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Environment = Annotated[
    str | None,
    typer.Option(
        "--env",
        help="development, staging or production (MIGRATE_ENV; default development).",
        show_default=False,
    ),
]
Approve = Annotated[
    str | None,
    typer.Option(help="The hash of the plan you reviewed (`migrate plan`); production needs it."),
]
Phase = Annotated[
    str | None,
    typer.Option(
        help="expand: stop each branch before its first contract revision; contract: the rest."
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the engine's errors into the house format: one line, details, exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except MigratorError as error:
            err.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True, markup=True)
            for problem in getattr(error, "problems", []):
                err.print(f"  - {problem}", soft_wrap=True, markup=False)
            raise typer.Exit(error.exit_code) from None

    return wrapper


def _load(
    project: Path | None,
    database_url: str | None,
    engine_flags: dict | None = None,
    environment: str | None = None,
) -> tuple[config.Settings, RevisionGraph]:
    settings = config.load_settings(
        project=project,
        database_url=database_url,
        engine_flags=engine_flags,
        environment=environment,
    )
    return settings, RevisionGraph.load(config.alembic_config(settings))


def _announce_policy(settings: config.Settings) -> policy.Policy:
    """Every writing command starts by saying which rules it runs under."""
    rules = policy.for_settings(settings)
    err.print(f"[bold]{escape(rules.describe())}[/bold]", soft_wrap=True)
    return rules


def _report_outcome(outcome: commands.Outcome) -> None:
    if outcome.backup is not None:
        out.print(f"backup: {outcome.backup.path}", soft_wrap=True)
    if outcome.verification is not None:
        out.print(f"rollback verified on {outcome.verification.scratch_database} (dropped)")
    if outcome.seeded:
        seeded = ", ".join(path.parent.parent.name for path in outcome.seeded)
        out.print(f"seeds ({outcome.seeded[0].stem}) loaded for {seeded}")


class _Progress:
    """Shows the engine's events as they happen and counts the steps done; `quiet` keeps
    steps (of a scratch or template database) off the screen. A backfill shows a progress bar
    on a terminal and a line every few seconds elsewhere."""

    BATCH_LINE_EVERY_SECONDS = 5.0

    def __init__(self, quiet: bool = False) -> None:
        self.steps: list[StepFinished] = []
        self.quiet = quiet
        self._bar: Progress | None = None
        self._last_batch_line = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self.steps.append(event)
            self._close_bar()
            if not self.quiet:
                colour = "green" if event.direction == "upgrade" else "yellow"
                out.print(f"[{colour}]{escape(event.describe())}[/{colour}]")
        elif isinstance(event, BatchProgress):
            self._batch(event)
        elif isinstance(event, HistoryNotRecorded):
            err.print(f"[red]warning:[/red] {escape(event.describe())}")
        elif not self.quiet and not isinstance(
            event, RunStarted | RunFinished | StepStarted | StepFailed
        ):
            err.print(f"[dim]{escape(event.describe())}[/dim]")

    def _batch(self, event: BatchProgress) -> None:
        if err.is_terminal:
            if self._bar is None:
                self._bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} rows/s"),
                    TimeRemainingColumn(),
                    console=err,
                    transient=True,
                )
                self._bar.start()
                self._task = self._bar.add_task(f"{event.revision} {event.table}", total=None)
            self._bar.update(
                self._task,
                completed=event.rows_done,
                total=event.rows_total,
                rate=event.rows_per_second,
            )
            return
        now = time.monotonic()
        finished = event.rows_done >= event.rows_total
        if finished or now - self._last_batch_line >= self.BATCH_LINE_EVERY_SECONDS:
            self._last_batch_line = now
            err.print(escape(event.describe()))

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@dataclass
class _Logging:
    """The global --log-format and --log-file options."""

    log_format: str = "text"
    log_file: Path | None = None


_logging = _Logging()


@app.callback()
def _global_options(
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="MIGRATE_LOG_FORMAT",
            help="text or json: one line per event (runs, revisions, retries, lock waits, "
            "batch checkpoints, errors).",
        ),
    ] = "text",
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", envvar="MIGRATE_LOG_FILE", help="Append the event lines here."),
    ] = None,
) -> None:
    """Migrations of the Inopsio platform: nine services, one PostgreSQL, one safe runner."""
    if log_format not in logs.FORMATS:
        raise typer.BadParameter(f"--log-format {log_format!r}: use text or json")
    _logging.log_format, _logging.log_file = log_format, log_file


def _events(
    settings: config.Settings, graph: RevisionGraph, quiet: bool = False
) -> tuple[_Progress, EventSink]:
    """The console's progress, and the log lines the global options ask for."""
    json_on_stderr = _logging.log_format == "json" and _logging.log_file is None
    progress = _Progress(quiet=quiet or json_on_stderr)
    if _logging.log_format == "text" and _logging.log_file is None:
        return progress, progress

    def service_of(revision: str) -> str | None:
        known = graph.revisions.get(revision)
        return known.service.name if known else None

    lines = logs.LogLines(_logging.log_file, _logging.log_format, settings.environment, service_of)
    return progress, logs.tee(progress, lines)


@app.command()
@reports_errors
def up(
    service: ServiceName = None,
    version: Version = None,
    phase: Phase = None,
    environment: Environment = None,
    approve: Approve = None,
    sql: AsSql = False,
    lock_timeout: LockTimeout = None,
    statement_timeout: StatementTimeout = None,
    lock_retries: LockRetries = None,
    lock_wait: LockWait = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Apply pending migrations: all services, one service (and what it depends on), or up to
    one revision; in production only the plan approved by its hash."""
    settings, graph = _load(project, database_url, _engine_flags(locals()), environment)
    targets = commands.upgrade_targets(graph, service, version)
    _check_phase(phase)
    url = config.resolve_database_url(settings)
    if sql:
        target = targets[0] if len(targets) == 1 and phase is None else "heads"
        if phase is not None:
            plan = commands.current_plan(settings, url, graph, targets, phase)
            with connect(url) as connection:
                applied = graph.applied(database_heads(connection, settings))
            [target] = graph.targets_of(plan.revisions, applied) or [None]
            if target is None:
                return
        runner.render_sql(settings, url, graph, upgrade_target=target, output=sys.stdout)
        return
    _announce_policy(settings)
    progress, events = _events(settings, graph)
    command_line = " ".join(
        [
            "migrate up",
            *(["--env", settings.environment] if environment else []),
            *(["--service", service] if service else []),
            *(["--version", version] if version else []),
            *(["--phase", phase] if phase else []),
            "--approve HASH",
        ]
    )
    outcome = commands.upgrade(
        settings,
        url,
        graph,
        events,
        targets=targets,
        phase=phase,
        approve=approve,
        command_line=command_line,
    )
    _report_outcome(outcome)
    if progress.steps:
        out.print(
            f"{len(progress.steps)} revision(s) applied to {urls.redacted(url)}", soft_wrap=True
        )
    else:
        out.print("nothing to apply: already at the requested revision")


def _check_phase(phase: str | None) -> None:
    if phase not in (None, "expand", "contract"):
        raise UsageError(f"--phase {phase!r}: use expand or contract")


def _engine_flags(arguments: dict) -> dict:
    """The engine settings given on the command line, by their configuration names."""
    names = ("lock_timeout", "statement_timeout", "lock_retries", "lock_wait")
    return {name: arguments[name] for name in names if arguments.get(name) is not None}


def _rollback_revision(
    graph: RevisionGraph,
    applied: set[str],
    service: str | None,
    version: str | None,
    applied_order: dict[str, int],
) -> str:
    if version is not None:
        return commands.named_revision(graph, version, service)
    chosen = services.resolve(service) if service is not None else None
    last = graph.last_applied(applied, chosen, applied_order)
    if last is None:
        where = f"of {chosen.name} " if chosen else ""
        raise MigratorError(f"no migration {where}is applied; nothing to roll back")
    return last


@app.command()
@reports_errors
def down(
    service: ServiceName = None,
    version: Version = None,
    cascade: Annotated[
        bool, typer.Option("--cascade", help="Also roll back the revisions that depend on it.")
    ] = False,
    environment: Environment = None,
    approve: Approve = None,
    sql: AsSql = False,
    lock_timeout: LockTimeout = None,
    statement_timeout: StatementTimeout = None,
    lock_retries: LockRetries = None,
    lock_wait: LockWait = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Roll back the last applied migration (of all services, or of one), or a given revision.

    "Last" is the history's order: the revision applied most recently, whatever its service."""
    settings, graph = _load(project, database_url, _engine_flags(locals()), environment)
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        applied = graph.applied(database_heads(connection, settings))
        recorded = history.latest_success_by_revision(connection, settings.tool_schema)
    applied_order = {rev: row.id for rev, row in history.recorded_as_applied(recorded).items()}
    revision = _rollback_revision(graph, applied, service, version, applied_order)
    plan = graph.rollback_plan(revision, applied)
    dependents = [rev for rev in plan if rev != revision]
    if dependents and not cascade:
        raise CheckFailed(
            f"{len(dependents)} applied revision(s) depend on {revision}; roll them back first, "
            "or re-run with --cascade to roll back all of them",
            [
                f"{rev} ({graph.revisions[rev].service.name}) {graph.revisions[rev].path.name}"
                for rev in dependents
            ],
        )
    if sql:
        runner.render_sql(settings, url, graph, rollback_plan=plan, output=sys.stdout)
        return
    _announce_policy(settings)
    command_line = " ".join(
        [
            "migrate down",
            *(["--env", settings.environment] if environment else []),
            *(["--service", service] if service else []),
            *(["--version", version] if version else []),
            *(["--cascade"] if cascade else []),
            "--approve HASH",
        ]
    )
    outcome = commands.downgrade(
        settings,
        url,
        graph,
        _events(settings, graph)[1],
        revisions=plan,
        approve=approve,
        command_line=command_line,
    )
    _report_outcome(outcome)
    out.print(f"{len(plan)} revision(s) rolled back")


@app.command("new")
@reports_errors
def new_command(
    service: Annotated[str, typer.Option("--service", "-s", help="The service it belongs to.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What the change does.")],
    autogenerate: Annotated[
        bool,
        typer.Option(
            help="Compare the service's models with the migrated database and write "
            "the difference as SQL."
        ),
    ] = False,
    depends_on: Annotated[
        list[str] | None,
        typer.Option("--depends-on", help="A revision of another service it needs (repeatable)."),
    ] = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Write the service's next revision in the house format: an empty template, or the SQL
    autogenerate finds between the models and the database."""
    settings, graph = _load(project, database_url)
    path = commands.new_revision(
        settings,
        graph,
        out.print,
        service=service,
        message=message,
        autogenerate=autogenerate,
        depends_on=depends_on or [],
    )
    if path is not None:
        out.print(f"wrote {path.relative_to(settings.project_root)}")


@app.command("export-sql")
@reports_errors
def export_sql_command(
    target: Annotated[Path, typer.Argument(help="The folder to write into (created).")],
    project: Project = None,
) -> None:
    """Write every revision as plain SQL (<service>/schema and <service>/rollback, BEGIN/COMMIT
    around transactional statements) and an ORDER file listing them in dependency order."""
    _, graph = _load(project, None)
    written = plainsql.export_sql(graph, target)
    out.print(
        f"wrote {len(written)} migration(s) to {target}; apply them in order with "
        f'`while read f; do psql -v ON_ERROR_STOP=1 -f "{target}/$f"; done < {target}/ORDER`'
    )


@app.command("import-sql")
@reports_errors
def import_sql_command(
    source: Annotated[Path, typer.Argument(help="A plain .sql migration, or a folder of them.")],
    service: Annotated[str, typer.Option("--service", "-s", help="The service they belong to.")],
    project: Project = None,
) -> None:
    """Turn plain-SQL migrations ({id}_{service}_{description}.sql, header comments, BEGIN/
    COMMIT, rollback/ beside them) into revision files, keeping ids, dependencies and bodies."""
    settings, graph = _load(project, None)
    written = plainsql.import_sql(settings, graph, source, service)
    mirror.write(RevisionGraph.load(config.alembic_config(settings)), settings.dependencies_file)
    for path in written:
        out.print(f"wrote {path.relative_to(settings.project_root)}")


@app.command("lint")
@reports_errors
def lint_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Revision files to lint (default: all).")
    ] = None,
    service: ServiceName = None,
    pg_version: Annotated[
        str | None,
        typer.Option(help="PostgreSQL major version to lint for (default: the database's)."),
    ] = None,
    json_output: AsJson = False,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Lint the revisions' UPGRADE and DOWNGRADE SQL with squawk and the house rules; exit 1
    when an error is not accepted in writing."""
    settings, graph = _load(project, database_url)
    chosen = services.resolve(service) if service else None
    wanted = {path.resolve() for path in paths or []}
    revisions = [
        rev
        for rev in graph.in_order(graph.revisions)
        if (chosen is None or graph.revisions[rev].service == chosen)
        and (not wanted or graph.revisions[rev].path.resolve() in wanted)
    ]
    version = pg_version or _lint_version(settings)
    findings = lint.lint(settings, graph, revisions, version)
    root = settings.project_root
    if json_output:
        out.print_json(json.dumps([finding.as_json(root) for finding in findings]))
    else:
        colours = {"error": "red", "warning": "yellow"}
        for finding in findings:
            colour = "dim" if finding.accepted else colours.get(finding.severity, "white")
            out.print(f"[{colour}]{escape(finding.describe(root))}[/{colour}]")
    errors = [f for f in findings if f.counts and f.severity == "error"]
    warnings = [f for f in findings if f.counts and f.severity == "warning"]
    accepted = len(findings) - len(errors) - len(warnings)
    summary = (
        f"{len(revisions)} revision(s) linted for PostgreSQL {version}: {len(errors)} error(s), "
        f"{len(warnings)} warning(s), {accepted} accepted with a reason"
    )
    if errors:
        raise CheckFailed(summary, [])
    if not json_output:
        out.print(summary)


def _lint_version(settings: config.Settings) -> str:
    """The major version squawk lints for: pyproject's postgres_version, the configured
    database's server, or the embedded server's."""
    configured = config.pyproject_settings(settings.project_root).get("postgres_version")
    if configured:
        return str(configured)
    if settings.database_url is None:
        return embedded.bundled_major_version()
    with connect(settings.database_url) as connection:
        return str(connection.dialect.server_version_info[0])


@app.command("health")
@reports_errors
def health_command(
    service: ServiceName = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too.")] = False,
    long_transaction: Annotated[
        str, typer.Option(help="A transaction open longer than this is reported.")
    ] = "5min",
    json_output: AsJson = False,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Check the database as migrations see it: ok, warning or failing, with the figures.
    Exit 0 when all is ok, 1 on warnings with --strict, 2 when anything fails; with --service,
    only what that service needs (a readiness probe)."""
    settings, graph = _load(project, database_url)
    threshold = config.parse_duration_ms(long_transaction, "--long-transaction") / 1000
    url = config.resolve_database_url(settings)
    checks = health.run(settings, url, graph, service, threshold)
    if json_output:
        out.print_json(json.dumps([check.as_json() for check in checks]))
    else:
        colours = {health.OK: "green", health.WARNING: "yellow", health.FAILING: "red"}
        for check in checks:
            colour = colours[check.status]
            out.print(
                f"[{colour}]{check.status:<8}[/{colour}] {check.name:<24} {escape(check.summary)}"
            )
            for detail in check.details:
                out.print(f"         {escape(detail)}")
    raise typer.Exit(health.exit_code(checks, strict))


@app.command("drift")
@reports_errors
def drift_command(
    service: ServiceName = None, database_url: DatabaseUrl = None, project: Project = None
) -> None:
    """Replay the applied migrations into a scratch database and report every object of the
    live database that differs (tables, columns, defaults, constraints, indexes, views,
    functions, triggers, sequences). Exit 1 when anything does; the live database is only
    read."""
    settings, graph = _load(project, database_url)
    url = config.resolve_database_url(settings)
    found = drift.drift(settings, url, graph, _events(settings, graph, quiet=True)[1], service)
    for line in found:
        out.print(escape(line))
    if found:
        raise CheckFailed(f"{len(found)} difference(s) between the migrations and the database", [])
    out.print("no drift: the database is what its migrations build")


def _pending_plan(
    project: Path | None,
    database_url: str | None,
    environment: str | None,
    service: str | None,
    version: str | None,
    phase: str | None,
) -> tuple[config.Settings, RevisionGraph, URL, planning.Plan]:
    """What `up` with these options would apply, and where: for plan and verify."""
    settings, graph = _load(project, database_url, environment=environment)
    _check_phase(phase)
    url = config.resolve_database_url(settings)
    targets = commands.upgrade_targets(graph, service, version)
    return settings, graph, url, commands.current_plan(settings, url, graph, targets, phase)


@app.command("metrics")
@reports_errors
def metrics_command(
    textfile: Annotated[
        Path | None,
        typer.Option(help="Write them atomically here (a node exporter's textfile collector)."),
    ] = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Per service, in the Prometheus text format: revisions applied and pending, the last
    run's duration and outcome, and histograms of revision durations from the history."""
    settings, graph = _load(project, database_url)
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        registry = metrics.registry_for(connection, settings, graph)
    if textfile is not None:
        metrics.write_textfile(registry, textfile)
        out.print(f"metrics written to {textfile}")
        return
    sys.stdout.write(metrics.exposition(registry))


@app.command("plan")
@reports_errors
def plan_command(
    service: ServiceName = None,
    version: Version = None,
    phase: Phase = None,
    environment: Environment = None,
    json_output: AsJson = False,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Print exactly what `up` would run (each revision's SQL, and where each statement runs)
    and the plan's hash, which `up --approve HASH` requires in production."""
    settings, graph, _, plan = _pending_plan(
        project, database_url, environment, service, version, phase
    )
    if json_output:
        document = {"hash": plan.hash, "revisions": list(plan.revisions)}
        out.print_json(json.dumps(document))
        return
    print(planning.render(graph, plan))
    flags = f"--env {settings.environment} " if environment else ""
    out.print(f"plan {plan.hash}: approve it with `migrate up {flags}--approve {plan.hash}`")


@app.command("verify")
@reports_errors
def verify_command(
    service: ServiceName = None,
    version: Version = None,
    phase: Phase = None,
    environment: Environment = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Apply the pending plan, roll it back and apply it again on a scratch copy of the
    database, and report every object the rollback or the second apply gets wrong."""
    settings, graph, url, plan = _pending_plan(
        project, database_url, environment, service, version, phase
    )
    if not plan:
        out.print("nothing pending: nothing to verify")
        return
    result = verify.verify(settings, url, graph, plan, _events(settings, graph, quiet=True)[1])
    if result.differences:
        raise CheckFailed(
            f"plan {plan.hash} does not roll back cleanly ({len(result.differences)} "
            "difference(s)); fix the DOWNGRADE of its revisions",
            result.differences,
        )
    out.print(
        f"plan {plan.hash} ({len(plan.revisions)} revision(s)) applies, rolls back to the same "
        "schema and applies again identically"
    )


backup_app = typer.Typer(help="Backups with pg_dump.", invoke_without_command=True)
app.add_typer(backup_app, name="backup")


@backup_app.callback()
@reports_errors
def backup_command(
    ctx: typer.Context,
    environment: Environment = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Back up the database now (`migrate backup`), or manage backups (`list`)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = config.load_settings(
        project=project, database_url=database_url, environment=environment
    )
    url = config.resolve_database_url(settings)
    made = backup.create(settings, url, "manual")
    out.print(f"backup written: {made.path} ({made.size} bytes, mode 0600)", soft_wrap=True)


@backup_app.command("list")
@reports_errors
def backup_list(
    environment: Environment = None, json_output: AsJson = False, project: Project = None
) -> None:
    """The backups in the backup folder, newest first."""
    settings = config.load_settings(project=project, environment=environment)
    found = backup.listed(settings)
    if json_output:
        document = [
            {
                "path": str(b.path),
                "environment": b.environment,
                "created": b.created.isoformat(),
                "label": b.label,
                "bytes": b.size,
            }
            for b in found
        ]
        out.print_json(json.dumps(document))
        return
    for item in found:
        out.print(
            f"{item.created:%Y-%m-%d %H:%M:%S}  {item.environment:<12} {item.size:>12} B  "
            f"{item.path}",
            soft_wrap=True,
        )
    if not found:
        out.print(f"no backups in {settings.backup_dir}")


@app.command()
@reports_errors
def restore(
    file: Annotated[Path, typer.Argument(help="A backup file (`migrate backup list`).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    environment: Environment = None,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Replace the services' schemas with a backup's, in one transaction."""
    settings = config.load_settings(
        project=project, database_url=database_url, environment=environment
    )
    _announce_policy(settings)
    url = config.resolve_database_url(settings)
    if not yes and not typer.confirm(
        f"Replace every service schema of {urls.redacted(url)} with {file.name}?"
    ):
        raise UsageError("restore cancelled; nothing was changed")
    backup.restore(settings, url, file)
    out.print(f"restored {file.name} into {urls.redacted(url)}", soft_wrap=True)


dev_app = typer.Typer(help="Development conveniences.", no_args_is_help=True)
app.add_typer(dev_app, name="dev")


@dev_app.command("reset")
@reports_errors
def dev_reset(
    environment: Environment = None, database_url: DatabaseUrl = None, project: Project = None
) -> None:
    """Drop and recreate the development database at head with its seeds (cloned from a
    cached template when no revision or seed changed)."""
    settings = config.load_settings(
        project=project, database_url=database_url, environment=environment
    )
    _announce_policy(settings)
    url = config.resolve_database_url(settings)
    result = devdb.reset(
        settings,
        url,
        lambda: RevisionGraph.load(config.alembic_config(settings)),
        _Progress(quiet=True),
    )
    how = (
        f"cloned from template {result.template}"
        if result.from_template
        else f"{result.applied} revision(s) applied and seeded; cached as {result.template}"
    )
    out.print(f"database {result.database} recreated: {how}")


@app.command()
@reports_errors
def status(
    json_output: AsJson = False, database_url: DatabaseUrl = None, project: Project = None
) -> None:
    """Show every service: current revision, head, pending revisions, and when and by whom it
    last changed."""
    settings, graph = _load(project, database_url)
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        rows = graph.status(database_heads(connection, settings))
        latest = _latest_by_service(
            history.latest_success_by_revision(connection, settings.tool_schema)
        )
    if json_output:
        document = []
        for row in rows:
            last = latest.get(row.service.name)
            document.append(
                {
                    "service": row.service.name,
                    "current": row.current,
                    "head": row.head,
                    "pending": len(row.pending),
                    "pending_revisions": list(row.pending),
                    "last_change": last.finished_at.isoformat() if last else None,
                    "last_change_by": f"{last.os_user}@{last.host}" if last else None,
                    "last_action": f"{last.direction} {last.revision}" if last else None,
                }
            )
        out.print_json(json.dumps(document))
        return
    # Compact enough for 80 columns (CI logs); --json has the full timestamps and actions.
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("service", "current", "head", "pending", "last change", "by"):
        table.add_column(column, justify="right" if column == "pending" else "left", no_wrap=True)
    for row in rows:
        pending = str(len(row.pending)) if row.pending else "[green]0[/green]"
        last = latest.get(row.service.name)
        table.add_row(
            row.service.name,
            row.current or "-",
            row.head or "-",
            pending,
            f"{last.finished_at:%m-%d %H:%M}" if last else "-",
            f"{last.os_user}@{last.host}" if last else "-",
        )
    out.print(table)
    out.print(f"database: {urls.redacted(url)}", soft_wrap=True)


def _latest_by_service(latest: dict[str, history.Row]) -> dict[str, history.Row]:
    by_service: dict[str, history.Row] = {}
    for row in latest.values():
        if row.service and (row.service not in by_service or row.id > by_service[row.service].id):
            by_service[row.service] = row
    return by_service


@app.command("history")
@reports_errors
def history_command(
    service: ServiceName = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many rows, newest first.")] = 50,
    json_output: AsJson = False,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Every attempt to apply, roll back, stamp or repair a revision, newest first."""
    settings = config.load_settings(project=project, database_url=database_url)
    chosen = [services.resolve(service).name] if service else None
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        rows = history.read(connection, settings.tool_schema, services=chosen, limit=limit)
    if json_output:
        out.print_json(json.dumps([row.as_json() for row in rows]))
        return
    # One line a row, like `git log --oneline`: readable at any width, and easy to grep.
    colours = {"success": "green", "failed": "red", "rolled_back": "yellow"}
    for row in rows:
        colour = colours.get(row.outcome, "white")
        outcome = row.outcome if row.attempt == 1 else f"{row.outcome} (try {row.attempt})"
        detail = f"[{row.sqlstate}] {row.error_message}" if row.error_message else row.note or ""
        out.print(
            f"{row.finished_at:%Y-%m-%d %H:%M:%S}  {row.revision or '-':<12}  "
            f"{row.service or '-':<11}  {row.direction:<9}  [{colour}]{outcome:<11}[/{colour}]  "
            f"{row.duration_ms:>6} ms  {row.os_user}@{row.host}  {escape(detail)}".rstrip(),
            soft_wrap=True,
        )
    if not rows:
        out.print("no history yet: nothing was applied through this tool")


@app.command()
@reports_errors
def validate(
    json_output: AsJson = False, database_url: DatabaseUrl = None, project: Project = None
) -> None:
    """Compare every applied revision with its file: edited files, revisions the database
    records that no file defines, and applied revisions whose files are gone."""
    settings, graph = _load(project, database_url)
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        found = validation.check(connection, settings, graph)
    if json_output:
        document = [
            {"kind": f.kind, "revision": f.revision, "detail": f.detail, "blocking": f.blocking}
            for f in found
        ]
        out.print_json(json.dumps(document))
    else:
        for finding in found:
            colour = "red" if finding.blocking else "yellow"
            out.print(f"[{colour}]{escape(finding.describe())}[/{colour}]", soft_wrap=True)
    blocking = [finding for finding in found if finding.blocking]
    if blocking:
        raise CheckFailed(f"{len(blocking)} applied revision(s) disagree with their files", [])
    if not json_output:
        out.print("every applied revision agrees with its file")


@app.command()
@reports_errors
def repair(
    version: Annotated[str, typer.Option("--version", "-v", help="The applied revision.")],
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Accept the current checksum of an applied revision whose file was edited on purpose,
    recording who accepted it."""
    settings, graph = _load(project, database_url)
    revision = graph[version].id
    url = config.resolve_database_url(settings)
    who = history.identity(settings.environment)
    with (
        connect(url) as connection,
        locking.migration_lock(
            connection,
            settings.tool_schema,
            settings.engine.lock_wait_ms,
            _events(settings, graph)[1],
        ),
    ):
        history.ensure_tables(connection, settings.tool_schema)
        accepted = validation.repair(connection, settings, graph, revision, who)
    out.print(
        f"accepted checksum {accepted[:12]} of {revision} (recorded as {who.os_user}@{who.host})"
    )


@deps_app.command("check")
@reports_errors
def deps_check(project: Project = None) -> None:
    """Fail when a revision file breaks the house rules (folder, name, header, unique id) or
    migration-dependencies.yml and the revisions' depends_on disagree."""
    settings = config.load_settings(project=project)
    broken = guards.problems(settings.project_root)
    if broken:
        raise CheckFailed(f"{len(broken)} problem(s) with the revision files", broken)
    graph = RevisionGraph.load(config.alembic_config(settings))
    mirror.check(graph, settings.dependencies_file)
    out.print(f"{settings.dependencies_file.name} agrees with {len(graph.revisions)} revision(s)")


@deps_app.command("sync")
@reports_errors
def deps_sync(project: Project = None) -> None:
    """Rewrite migration-dependencies.yml from the revisions' depends_on."""
    settings, graph = _load(project, None)
    changed = mirror.write(graph, settings.dependencies_file)
    verb = "rewrote" if changed else "already in step:"
    out.print(f"{verb} {settings.dependencies_file.name}")


def _embedded_settings(project: Path | None) -> config.Settings:
    settings = config.load_settings(project=project)
    if not settings.uses_embedded_server:
        raise UsageError(
            "DATABASE_URL is set, so the embedded server is not used; unset it to manage the "
            "embedded server"
        )
    return settings


@db_app.command("url")
@reports_errors
def db_url(project: Project = None) -> None:
    """Print the embedded database's URL (starting the server if needed), for psql and apps."""
    settings = _embedded_settings(project)
    print(urls.libpq_dsn(config.resolve_database_url(settings)))


@db_app.command("start")
@reports_errors
def db_start(project: Project = None) -> None:
    """Start the embedded server and create its database."""
    settings = _embedded_settings(project)
    url = config.resolve_database_url(settings)
    out.print(f"embedded PostgreSQL running: {urls.libpq_dsn(url)}")


@db_app.command("stop")
@reports_errors
def db_stop(project: Project = None) -> None:
    """Stop the embedded server (its data stays in .pgdata)."""
    settings = _embedded_settings(project)
    stopped = embedded.stop(embedded.data_dir(settings.project_root))
    out.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


def main() -> None:
    app()
