"""`migrate squash` on the command line: shows what it writes and removes, then asks."""

from __future__ import annotations

from typing import Annotated

import typer

from migrator.cli import app, context
from migrator.cli.console import out, reports_errors
from migrator.cli.options import Target, Yes, target_options
from migrator.cli.writing import confirmation
from migrator.errors import UsageError


@app.command("squash")
@reports_errors
@target_options()
def squash_command(
    service: Annotated[str, typer.Option("--service", "-s", help="The service to squash.")],
    through: Annotated[
        str, typer.Option("--through", help="Its last revision to squash (from its first).")
    ],
    yes: Yes = False,
    *,
    target: Target,
) -> None:
    """Replace a service's revisions from its first through --through with one revision that
    builds its schema as it stands there (replayed on a scratch database); databases that ran
    them move past it without running it."""
    from migrator.commands import squash

    ctx = context(target)
    planned = squash.prepare(ctx, service, through)
    root = ctx.settings.project_root
    out.print(f"write  {planned.path.relative_to(root)}", soft_wrap=True)
    for path in planned.rewritten:
        out.print(f"update {path.relative_to(root)}", soft_wrap=True)
    for path in planned.removed:
        out.print(f"remove {path.relative_to(root)}", soft_wrap=True)
    question = f"Squash {len(planned.removed)} revision(s) into {planned.revision}?"
    if not confirmation(yes)(question):
        raise UsageError("squash cancelled; nothing was changed")
    squash.write(ctx, planned)
    out.print(
        f"squashed {planned.range.ids[0]}..{planned.range.through} into {planned.revision}; "
        f"run `migrate verify` and `migrate lint` before committing",
        soft_wrap=True,
    )
