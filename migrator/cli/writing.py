"""up, down, repair, backup, restore and dev reset on the command line. Each imports
`commands.writing` (Alembic, SQLAlchemy) when it runs: the read-only commands registered beside
them start without it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from migrator import units, urls
from migrator.cli import app, context
from migrator.cli.console import OneLineSummaries, err, out, reports_errors
from migrator.cli.options import (
    Approve,
    AsJson,
    AsSql,
    Cascade,
    Phase,
    Target,
    Yes,
    flag,
    target_options,
)
from migrator.context import Context
from migrator.errors import UsageError

if TYPE_CHECKING:
    from migrator.commands import writing

backup_app = typer.Typer(
    help="Backups with pg_dump.", invoke_without_command=True, cls=OneLineSummaries
)
app.add_typer(backup_app, name="backup")
dev_app = typer.Typer(help="Development conveniences.", no_args_is_help=True, cls=OneLineSummaries)
app.add_typer(dev_app, name="dev")

Drop = flag("--drop", "Drop them all.")
SkipDataChecks = flag(
    "--skip-data-checks", "Do not count the rows a new constraint would reject before running."
)
OutsideWindow = flag(
    "--outside-window", "Run now what must wait for a maintenance window (needs --reason)."
)
Reason = Annotated[
    str | None, typer.Option(help="Why it cannot wait for the window; the history records it.")
]


def _override(outside_window: bool, reason: str | None) -> str | None:
    """The reason to run outside a maintenance window: both options, or neither."""
    reason = (reason or "").strip() or None
    if outside_window and reason is None:
        raise UsageError("--outside-window needs --reason TEXT: say why it cannot wait")
    if reason is not None and not outside_window:
        raise UsageError("--reason goes with --outside-window; add it, or leave --reason out")
    return reason


def announce_policy(ctx: Context) -> None:
    """Every writing command starts by saying which rules it runs under."""
    from migrator.commands import writing

    err.print(f"[bold]{escape(writing.rules(ctx).describe())}[/bold]", soft_wrap=True)


def command_line(verb: str, target: Target, ctx: Context, **flags: object) -> str:
    """The command to approve with, as the user would type it again."""
    words = [f"migrate {verb}"]
    if target.environment:
        words += ["--env", ctx.settings.environment]
    for name, value in flags.items():
        if value is True:
            words.append(f"--{name}")
        elif value:
            words += [f"--{name}", str(value)]
    return " ".join([*words, "--approve HASH"])


def _report(outcome: writing.Outcome, ctx: Context) -> None:
    if outcome.verification is not None:
        out.print(
            f"verified on a scratch copy ({outcome.verification.scratch_database}, dropped): "
            "the plan applies, rolls back and applies again identically"
        )
    if outcome.backup is not None:
        out.print(f"backup: {outcome.backup.path}", soft_wrap=True)
    if outcome.seeded:
        seeded = ", ".join(path.parent.parent.name for path in outcome.seeded)
        out.print(f"seeds ({outcome.seeded[0].stem}) loaded for {seeded}")


@app.command()
@reports_errors
@target_options(selection=True, environment=True, engine=True)
def up(
    phase: Phase = None,
    approve: Approve = None,
    sql: AsSql = False,
    outside_window: OutsideWindow = False,
    reason: Reason = None,
    skip_data_checks: SkipDataChecks = False,
    *,
    target: Target,
) -> None:
    """Apply pending migrations: all services, one service (and what it depends on), or up to
    one revision; in production only the plan approved by its hash."""
    from migrator.commands import writing

    override = _override(outside_window, reason)
    ctx = context(target)
    service, version = target.service, target.version
    if sql:
        plan = writing.upgrade_plan(ctx, service=service, version=version, phase=phase)
        writing.write_sql(ctx, plan, sys.stdout)
        return
    announce_policy(ctx)
    line = command_line("up", target, ctx, service=service, version=version, phase=phase)
    outcome = writing.up(
        ctx,
        service=service,
        version=version,
        phase=phase,
        approve=approve,
        command_line=line,
        outside_window=override,
        check_data=not skip_data_checks,
    )
    _report(outcome, ctx)
    if outcome.done:
        out.print(
            f"{len(outcome.done)} revision(s) applied to {urls.redacted(ctx.database_url)}",
            soft_wrap=True,
        )
    else:
        out.print("nothing to apply: already at the requested revision")


@app.command()
@reports_errors
@target_options(selection=True, environment=True, engine=True)
def down(
    cascade: Cascade = False, approve: Approve = None, sql: AsSql = False, *, target: Target
) -> None:
    """Roll back the last applied migration (of all services, or of one), or a given revision.

    "Last" is the history's order: the revision applied most recently, whatever its service."""
    from migrator.commands import writing

    ctx = context(target)
    service, version = target.service, target.version
    plan = writing.rollback_plan(ctx, service=service, version=version, cascade=cascade)
    if sql:
        writing.write_sql(ctx, plan, sys.stdout)
        return
    announce_policy(ctx)
    line = command_line("down", target, ctx, service=service, version=version, cascade=cascade)
    outcome = writing.run_plan(ctx, plan, approve=approve, command_line=line)
    _report(outcome, ctx)
    out.print(f"{len(outcome.done)} revision(s) rolled back")


@app.command()
@reports_errors
@target_options()
def repair(
    version: Annotated[str, typer.Option("--version", "-v", help="The applied revision.")],
    *,
    target: Target,
) -> None:
    """Accept the current checksum of an applied revision whose file was edited on purpose,
    recording who accepted it."""
    from migrator.commands import writing

    ctx = context(target)
    accepted, who = writing.repair(ctx, version)
    out.print(
        f"accepted checksum {accepted[:12]} of {ctx.graph[version].id} "
        f"(recorded as {who.os_user}@{who.host})"
    )


@backup_app.callback()
@reports_errors
@target_options(environment=True)
def backup_command(typer_context: typer.Context, *, target: Target) -> None:
    """Back up the database now (`migrate backup`), or manage backups (`list`)."""
    from migrator.commands import writing

    if typer_context.invoked_subcommand is not None:
        return
    made = writing.backup_now(context(target))
    out.print(f"backup written: {made.path} ({units.size(made.size)}, mode 0600)", soft_wrap=True)


@backup_app.command("list")
@reports_errors
@target_options(database=False, environment=True)
def backup_list(json_output: AsJson = False, *, target: Target) -> None:
    """The backups in the backup folder, newest first."""
    from migrator.commands import writing

    ctx = context(target)
    found = writing.backups(ctx)
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
            f"{item.created:%Y-%m-%d %H:%M:%S}  {item.environment:<12} {units.size(item.size):>9}  "
            f"{item.path}",
            soft_wrap=True,
        )
    if not found:
        out.print(f"no backups in {ctx.settings.backup_dir}")


@app.command()
@reports_errors
@target_options(environment=True)
def restore(
    file: Annotated[Path, typer.Argument(help="A backup file (`migrate backup list`).")],
    yes: Yes = False,
    approve: Approve = None,
    *,
    target: Target,
) -> None:
    """Replace the services' schemas with a backup's, in one transaction; the audit history
    keeps every row and records the restore. Production needs the restore's approval hash."""
    from migrator.commands import writing

    ctx = context(target)
    announce_policy(ctx)
    target = urls.redacted(ctx.database_url)
    if not confirmation(yes)(f"Replace every service schema of {target} with {file.name}?"):
        raise UsageError("restore cancelled; nothing was changed")
    writing.restore(ctx, file, approve=approve)
    out.print(f"restored {file.name} into {target}", soft_wrap=True)


def confirmation(yes: bool) -> Callable[[str], bool]:
    """Yes when --yes was given; else the person's answer at a terminal; else a refusal that
    says how to give it (a script without a terminal cannot answer)."""

    def confirmed(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"{question.split('?')[0]}? No terminal to ask; pass --yes to confirm")
        return typer.confirm(question)

    return confirmed


@dev_app.command("reset")
@reports_errors
@target_options(environment=True)
def dev_reset(yes: Yes = False, *, target: Target) -> None:
    """Drop and recreate the development database at head with its seeds (cloned from a
    cached template when no revision or seed changed). A database other than the embedded
    server's is dropped only after a confirmation naming it (--yes for scripts)."""
    from migrator.commands import writing

    ctx = context(target, quiet=True)
    announce_policy(ctx)
    result = writing.dev_reset(ctx, confirmation(yes))
    how = (
        f"cloned from template {result.template}"
        if result.from_template
        else f"{result.applied} revision(s) applied and seeded; cached as {result.template}"
    )
    out.print(f"database {result.database} recreated: {how}")


@dev_app.command("templates")
@reports_errors
@target_options()
def dev_templates(
    drop: Drop = False,
    *,
    target: Target,
) -> None:
    """List the template databases `dev reset` keeps (the newest few per server), or drop them."""
    from migrator.commands import writing

    ctx = context(target)
    if drop:
        dropped = writing.drop_templates(ctx)
        out.print(f"dropped {len(dropped)} template database(s)")
        return
    names = writing.templates(ctx)
    for name in names:
        out.print(name)
    if not names:
        out.print("no template databases")
