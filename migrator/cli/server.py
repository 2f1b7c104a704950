"""db start, url and stop: the embedded server on the command line."""

from __future__ import annotations

import typer

from migrator import urls
from migrator.cli import app, context
from migrator.cli.console import out, reports_errors
from migrator.cli.options import Project
from migrator.commands import server

db_app = typer.Typer(
    help="The embedded PostgreSQL used when no database is configured.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("url")
@reports_errors
def db_url(project: Project = None) -> None:
    """Print the embedded database's URL (starting the server if needed), for psql and apps."""
    print(urls.libpq_dsn(server.start(context(project))))


@db_app.command("start")
@reports_errors
def db_start(project: Project = None) -> None:
    """Start the embedded server and create its database."""
    out.print(f"embedded PostgreSQL running: {urls.libpq_dsn(server.start(context(project)))}")


@db_app.command("stop")
@reports_errors
def db_stop(project: Project = None) -> None:
    """Stop the embedded server (its data stays in .pgdata)."""
    stopped = server.stop(context(project))
    out.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
