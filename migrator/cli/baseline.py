"""`migrate baseline` on the command line: the proposal as a table (or JSON), then a question
(`--yes` for scripts) before anything is recorded."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from migrator.cli import app, context
from migrator.cli.console import out, reports_errors
from migrator.cli.options import Approve, AsJson, ServiceName, Target, Yes, target_options
from migrator.cli.writing import announce_policy, command_line, confirmation

if TYPE_CHECKING:
    from migrator.checks.baseline import Proposal

Reason = Annotated[
    str | None,
    typer.Option(
        help="Why the database is adopted; the history records it (staging and production "
        "require it)."
    ),
]


@app.command("baseline")
@reports_errors
@target_options(environment=True)
def baseline_command(
    service: ServiceName = None,
    reason: Reason = None,
    yes: Yes = False,
    approve: Approve = None,
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """Adopt a database whose schemas were built outside the tool: find the newest revision
    each service's live schema equals (replayed on a scratch database), show it, and record
    it in the version table and the history, running nothing.

    A schema that matches no revision is refused with its differences; production records
    only the proposal approved by its hash."""
    from migrator.commands import baseline

    ctx = context(target, quiet=True)
    announce_policy(ctx)
    why = baseline.refuse_without_reason(ctx, reason)
    proposal = baseline.propose(ctx, service)
    document = {
        "hash": proposal.plan.hash,
        "services": [
            {
                "service": adoption.service.name,
                "revision": adoption.revision,
                "marks_applied": list(adoption.marks_applied),
            }
            for adoption in proposal.adoptions
        ],
        "recorded": False,
    }
    if not json_output:
        _show(proposal)
    if not proposal.plan:
        if json_output:
            out.print_json(json.dumps(document))
        else:
            out.print("nothing to baseline: the database has no schema of these services")
        return
    line = command_line("baseline", target, ctx, service=service, reason=why and shlex.quote(why))
    recorded = baseline.record(
        ctx, proposal, confirmation(yes), reason=why, approve=approve, command_line=line
    )
    if json_output:
        out.print_json(json.dumps({**document, "recorded": True}))
        return
    out.print(
        f"recorded: {len(recorded.revisions)} revision(s) marked applied; the version table "
        f"holds {', '.join(recorded.heads)}",
        soft_wrap=True,
    )


def _show(proposal: Proposal) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("service", no_wrap=True)
    table.add_column("proposed revision", no_wrap=True)
    table.add_column("marks applied", overflow="fold")
    for adoption in proposal.adoptions:
        if adoption.revision is None:
            table.add_row(adoption.service.name, "-", "no schema in the database: nothing to do")
        else:
            table.add_row(
                adoption.service.name, adoption.revision, escape(", ".join(adoption.marks_applied))
            )
    out.print(table)
    out.print(f"proposal hash: {proposal.plan.hash}")
