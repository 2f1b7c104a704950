"""rebase on the command line: it imports `commands.rebase` (Alembic, SQLAlchemy) when it runs,
so that the commands registered beside it start without them."""

from __future__ import annotations

from typing import Annotated

import typer

from migrator.cli import app, context
from migrator.cli.console import out, reports_errors
from migrator.cli.options import Target, Yes, target_options
from migrator.cli.writing import confirmation


@app.command("rebase")
@reports_errors
@target_options()
def rebase_command(
    service: Annotated[
        str, typer.Option("--service", "-s", help="The service whose two heads to put in line.")
    ],
    onto: Annotated[
        str | None,
        typer.Option("--onto", help="The head that stays; the other moves after it."),
    ] = None,
    yes: Yes = False,
    *,
    target: Target,
) -> None:
    """Put one of a service's parallel heads after the other: the one the database has not
    applied gets the next free id, its file is renamed, its down_revision is the other head, and
    what named it (depends_on, migration-dependencies.yml) follows."""
    from migrator.commands import rebase

    ctx = context(target)
    done = rebase.rebase(ctx, service, confirmation(yes), onto=onto)
    moves = ", ".join(f"{old} as {new}" for old, new in done.renamed.items())
    out.print(f"moved {moves} onto {done.onto}")
    for path in done.written:
        out.print(f"wrote {path.relative_to(ctx.settings.project_root)}")
