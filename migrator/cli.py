"""The `migrate` command: parse, call the engine, render the answer. No SQL here.

Every command reports failures the same way: one line saying what was wrong and what to do,
details (if any) below it, and the exit code of the house convention (1 work failed or check
found problems, 2 bad input).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from migrator import config, embedded, mirror, runner, services, urls
from migrator.database import connect, database_heads
from migrator.errors import CheckFailed, MigratorError, UsageError
from migrator.graph import RevisionGraph

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

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

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
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the engine's errors into the house format: one line, details, exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except MigratorError as error:
            err.print(f"[red]error:[/red] {error}", soft_wrap=True, markup=True)
            for problem in getattr(error, "problems", []):
                err.print(f"  - {problem}", soft_wrap=True, markup=False)
            raise typer.Exit(error.exit_code) from None

    return wrapper


def _load(project: Path | None, database_url: str | None) -> tuple[config.Settings, RevisionGraph]:
    settings = config.load_settings(project=project, database_url=database_url)
    return settings, RevisionGraph.load(config.alembic_config(settings))


def _print_step(step: runner.Step) -> None:
    arrow = (
        "[green]applied[/green]" if step.direction == "upgrade" else "[yellow]rolled back[/yellow]"
    )
    out.print(f"{arrow} {step.revision}  {step.message}  [dim]({step.duration_ms} ms)[/dim]")


def _named_revision(graph: RevisionGraph, version: str, service: str | None) -> str:
    """The revision `--version` names, refusing one that `--service` contradicts."""
    revision = graph[version]
    if service is not None and revision.service != services.resolve(service):
        raise UsageError(f"revision {version} belongs to {revision.service.name}, not {service}")
    return revision.id


def _upgrade_target(graph: RevisionGraph, service: str | None, version: str | None) -> str:
    if version is not None:
        return _named_revision(graph, version, service)
    if service is not None:
        chosen = services.resolve(service)
        if not graph.branch(chosen):
            raise UsageError(f"service {chosen.name} has no revisions yet; nothing to apply")
        return f"{chosen.branch_label}@head"
    return "heads"


@app.command()
@reports_errors
def up(
    service: ServiceName = None,
    version: Version = None,
    sql: AsSql = False,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Apply pending migrations: all services, one service (and what it depends on), or up to
    one revision."""
    settings, graph = _load(project, database_url)
    target = _upgrade_target(graph, service, version)
    url = config.resolve_database_url(settings)
    if sql:
        runner.render_sql(settings, url, graph, upgrade_target=target, output=sys.stdout)
        return
    steps: list[runner.Step] = []

    def report(step: runner.Step) -> None:
        steps.append(step)
        _print_step(step)

    runner.upgrade(settings, url, target, report)
    if steps:
        out.print(f"{len(steps)} revision(s) applied to {urls.redacted(url)}", soft_wrap=True)
    else:
        out.print("nothing to apply: already at the requested revision")


def _rollback_revision(
    graph: RevisionGraph, applied: set[str], service: str | None, version: str | None
) -> str:
    if version is not None:
        return _named_revision(graph, version, service)
    chosen = services.resolve(service) if service is not None else None
    last = graph.last_applied(applied, chosen)
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
    sql: AsSql = False,
    database_url: DatabaseUrl = None,
    project: Project = None,
) -> None:
    """Roll back the last applied migration (of all services, or of one), or a given revision."""
    settings, graph = _load(project, database_url)
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        applied = graph.applied(database_heads(connection, settings))
    revision = _rollback_revision(graph, applied, service, version)
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
    runner.downgrade(settings, url, graph, plan, _print_step)
    out.print(f"{len(plan)} revision(s) rolled back")


@app.command()
@reports_errors
def status(
    json_output: AsJson = False, database_url: DatabaseUrl = None, project: Project = None
) -> None:
    """Show every service: current revision, head, and how many revisions are pending."""
    settings, graph = _load(project, database_url)
    url = config.resolve_database_url(settings)
    with connect(url) as connection:
        rows = graph.status(database_heads(connection, settings))
    if json_output:
        document = [
            {
                "service": row.service.name,
                "current": row.current,
                "head": row.head,
                "pending": len(row.pending),
                "pending_revisions": list(row.pending),
            }
            for row in rows
        ]
        out.print_json(json.dumps(document))
        return
    table = Table()
    for column in ("service", "current", "head", "pending"):
        table.add_column(column, justify="right" if column == "pending" else "left")
    for row in rows:
        pending = str(len(row.pending)) if row.pending else "[green]0[/green]"
        table.add_row(row.service.name, row.current or "-", row.head or "-", pending)
    out.print(table)
    out.print(f"database: {urls.redacted(url)}", soft_wrap=True)


@deps_app.command("check")
@reports_errors
def deps_check(project: Project = None) -> None:
    """Fail when migration-dependencies.yml and the revisions' depends_on disagree."""
    settings, graph = _load(project, None)
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
