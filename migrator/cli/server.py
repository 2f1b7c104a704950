"""db start, url and stop: the embedded server on the command line. Each imports
`commands.server` when it runs, so that the commands registered beside them start without it."""

from __future__ import annotations

import typer

from migrator import urls
from migrator.cli import app, context
from migrator.cli.console import OneLineSummaries, out, reports_errors
from migrator.cli.options import Target, target_options

db_app = typer.Typer(
    help="The embedded PostgreSQL used when no database is configured.",
    no_args_is_help=True,
    cls=OneLineSummaries,
)
app.add_typer(db_app, name="db")


@db_app.command("url")
@reports_errors
@target_options(database=False)
def db_url(*, target: Target) -> None:
    """Print the embedded database's URL (starting the server if needed), for psql and apps."""
    from migrator.commands import server

    print(urls.libpq_dsn(server.start(context(target))))


@db_app.command("start")
@reports_errors
@target_options(database=False)
def db_start(*, target: Target) -> None:
    """Start the embedded server and create its database."""
    from migrator.commands import server

    out.print(f"embedded PostgreSQL running: {urls.libpq_dsn(server.start(context(target)))}")


@db_app.command("stop")
@reports_errors
@target_options(database=False)
def db_stop(*, target: Target) -> None:
    """Stop the embedded server (its data stays in .pgdata)."""
    from migrator.commands import server

    stopped = server.stop(context(target))
    out.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
