"""status, history, validate, plan, verify, health, drift, metrics and lint on the command
line. A command imports what only it needs when it runs (`commands.writing` for plans, the
checks' modules), so that `status` starts without them."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from migrator import units, urls
from migrator.cli import app, context, formats
from migrator.cli.console import out, reports_errors, say
from migrator.cli.options import (
    AsJson,
    Cascade,
    Phase,
    ServiceName,
    Target,
    flag,
    target_options,
)
from migrator.commands import reading
from migrator.errors import CheckFailed, UsageError
from migrator.model import render, repeatable

if TYPE_CHECKING:
    from migrator.checks import prechecks as precheck

Strict = flag("--strict", "Exit 1 on warnings too.")
CheckData = flag(
    "--check-data",
    "Count on the target, read-only, the rows each constraint the plan adds would reject.",
)


@app.command()
@reports_errors
@target_options()
def status(json_output: AsJson = False, *, target: Target) -> None:
    """Show every service: current revision, head, pending revisions, and when and by whom it
    last changed."""
    ctx = context(target)
    rows = reading.status(ctx)
    if json_output:
        document = [
            {
                "service": row.status.service.name,
                "current": row.status.current,
                "head": row.status.head,
                "heads": list(row.status.heads),
                "pending": len(row.status.pending),
                "pending_revisions": list(row.status.pending),
                "last_change": row.last.finished_at.isoformat() if row.last else None,
                "last_change_by": f"{row.last.os_user}@{row.last.host}" if row.last else None,
                "last_action": f"{row.last.direction} {row.last.revision}" if row.last else None,
                "repeatables_pending": row.repeatables_pending,
                "repeatables_removed": list(row.repeatables_removed),
            }
            for row in rows
        ]
        out.print_json(json.dumps(document))
        return
    # Compact enough for 80 columns (CI logs); --json has the full timestamps and actions.
    # Only "by" may wrap: squeezed, a table would rather cut every column, ids included.
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("service", "current", "head", "pending", "last change", "by"):
        table.add_column(
            column,
            justify="right" if column == "pending" else "left",
            no_wrap=column != "by",
            overflow="fold",
        )
    for row in rows:
        pending = str(len(row.status.pending)) if row.status.pending else "[green]0[/green]"
        last = row.last
        table.add_row(
            row.status.service.name,
            row.status.current or "-",
            row.status.head or "-",
            pending,
            f"{last.finished_at:%m-%d %H:%M}" if last else "-",
            f"{last.os_user}@{last.host}" if last else "-",
        )
    out.print(table)
    for row in rows:
        if row.repeatables_pending:
            name, count = row.status.service.name, row.repeatables_pending
            say(f"repeatables of {name}: {count} new or changed, `migrate up` runs them")
        for key in row.repeatables_removed:
            say(repeatable.removed_message(key), style="yellow")
    for parallel in ctx.graph.parallel_heads():  # shown, not refused: status only reads
        say(f"warning: {parallel.describe()}", style="yellow")
    out.print(f"database: {urls.redacted(ctx.database_url)}", soft_wrap=True)


@app.command("history")
@reports_errors
@target_options()
def history_command(
    service: ServiceName = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many rows, newest first.")] = 50,
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """Every attempt to apply, roll back, stamp or repair a revision, newest first."""
    rows = reading.history(context(target), service, limit)
    if json_output:
        out.print_json(json.dumps([row.as_json() for row in rows]))
        return
    # One line a row under a header, like `git log --oneline`, easy to grep; what does not fit
    # the terminal (who, and the error or note) wraps onto indented lines.
    if not rows:
        out.print("no history yet: nothing was applied through this tool")
        return
    say(_history_line("when", "revision", "service", "direction", "outcome", "took", "by"))
    colours = {"success": "green", "failed": "red", "rolled_back": "yellow"}
    for row in rows:
        outcome = row.outcome if row.attempt == 1 else f"{row.outcome} (try {row.attempt})"
        state = f"[{row.sqlstate}] " if row.sqlstate else ""
        detail = f"{state}{row.error_message}" if row.error_message else row.note or ""
        say(
            _history_line(
                f"{row.finished_at:%m-%d %H:%M:%S}",
                row.revision or "-",
                row.service or "-",
                row.direction,
                outcome,
                units.duration(row.duration_ms),
                f"{row.os_user}@{row.host}  {detail}",
            ),
            indent=" " * 15,
            style=colours.get(row.outcome),
        )


def _history_line(
    when: str, revision: str, service: str, direction: str, outcome: str, took: str, rest: str
) -> str:
    """One line of `history`, its columns aligned with the header's."""
    return (
        f"{when:<14} {revision:<12} {service:<11} {direction:<9} {outcome:<11} {took:>8} {rest}"
    ).rstrip()


@app.command()
@reports_errors
@target_options()
def validate(json_output: AsJson = False, *, target: Target) -> None:
    """Compare every applied revision with its file: edited files, revisions the database
    records that no file defines, and applied revisions whose files are gone."""
    found = reading.validate(context(target))
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


@app.command("plan")
@reports_errors
@target_options(selection=True, environment=True)
def plan_command(
    phase: Phase = None,
    rollback: Annotated[
        bool, typer.Option("--down", help="The plan `down` would run (a rollback).")
    ] = False,
    cascade: Cascade = False,
    check_data: CheckData = False,
    output_format: formats.PlanFormatOption = formats.PlanFormat.TEXT,
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """Print exactly what `up` (or, with --down, `down`) would run: each revision's statements
    with their file and line and where each runs, and the plan's hash, which production needs
    for --approve."""
    from migrator.commands import writing

    output_format = formats.chosen(output_format, json_output)
    ctx = context(target)
    service, version = target.service, target.version
    if rollback:
        if phase is not None:
            raise UsageError("--phase plans upgrades; leave it out with --down")
        plan = writing.rollback_plan(ctx, service=service, version=version, cascade=cascade)
    else:
        plan = writing.upgrade_plan(ctx, service=service, version=version, phase=phase)
    flags = f"--env {ctx.settings.environment} " if target.environment else ""
    approve = f"migrate {'down' if rollback else 'up'} {flags}--approve {plan.hash}"
    checked = reading.prechecks(ctx, plan) if check_data else None
    impacts = reading.impact(ctx, plan)
    if output_format is formats.PlanFormat.MARKDOWN:
        policy = writing.rules(ctx).describe()
        sys.stdout.write(formats.plan_markdown(plan, policy, approve, impacts))
        _refuse_violations(checked, shown=False)
        return
    if output_format is formats.PlanFormat.JSON:
        document = {
            "hash": plan.hash,
            "direction": plan.direction,
            "revisions": list(plan.revisions),
            "steps": [
                {
                    "revision": item.id,
                    "file": item.revision.location,
                    "statements": [
                        {
                            "line": entry.statement.line,
                            "sql": entry.statement.text,
                            "transactional": entry.statement.transactional,
                            "comment": entry.comment,
                        }
                        for entry in render.entries(item)
                    ],
                }
                for item in plan.items
            ],
            "repeatables": [
                {"file": r.location, "checksum": r.checksum, "sql": [s.text for s in r.statements]}
                for r in plan.repeatables
            ],
        }
        if checked is not None:
            document["prechecks"] = [result.as_json() for result in checked]
        document["impact"] = [dataclasses.asdict(found) for found in impacts]
        out.print_json(json.dumps(document))
        _refuse_violations(checked, shown=True)
        return
    for line in render.review(plan).splitlines():
        # Comments wrap at the terminal's width; statements stay as their files write them.
        if line.startswith("--"):
            say(line, indent="-- ")
        else:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    for number, found in enumerate(impacts, start=1):
        say(f"impact of [{number}] {found.revision}: {formats.impact_summary(found)}")
        for statement in found.statements:
            say(f"  {formats.impact_statement(statement)}", indent="  ")
    for key in reading.recorded_repeatables(ctx).removed():
        say(repeatable.removed_message(key), style="yellow")
    out.print(f"plan {plan.hash}: approve it with `{approve}`")
    for result in checked or []:
        say(f"precheck: {result.describe()}", style="red" if result.failed else None)
    _refuse_violations(checked, shown=True)


def _refuse_violations(checked: list[precheck.Result] | None, *, shown: bool) -> None:
    """`plan --check-data` exits 1 when existing rows would violate a constraint the plan
    adds; the rows are named here unless the output already names them."""
    failed = [result for result in checked or [] if result.failed]
    if failed:
        raise CheckFailed(
            f"{len(failed)} constraint(s) of the plan would reject existing rows; fix the rows "
            "before running it",
            [] if shown else [result.describe() for result in failed],
        )


@app.command("verify")
@reports_errors
@target_options(selection=True, environment=True)
def verify_command(phase: Phase = None, json_output: AsJson = False, *, target: Target) -> None:
    """Apply the pending plan, roll it back and apply it again on a scratch copy of the
    database, and report every object the rollback or the second apply gets wrong."""
    from migrator.commands import writing

    ctx = context(target, quiet=True)
    plan = writing.upgrade_plan(ctx, service=target.service, version=target.version, phase=phase)
    differences = reading.verify(ctx, plan).differences if plan else []
    if json_output:
        document = {"hash": plan.hash, "revisions": list(plan.revisions)}
        out.print_json(json.dumps({**document, "differences": differences}))
    if differences:
        raise CheckFailed(
            f"plan {plan.hash} does not roll back cleanly ({len(differences)} "
            "difference(s)); fix the DOWNGRADE of its revisions",
            differences,
        )
    if json_output:
        return
    if not plan:
        out.print("nothing pending: nothing to verify")
        return
    out.print(
        f"plan {plan.hash} ({len(plan.revisions)} revision(s)) applies, rolls back to the same "
        "schema and applies again identically"
    )


@app.command("health")
@reports_errors
@target_options()
def health_command(
    service: ServiceName = None,
    strict: Strict = False,
    long_transaction: Annotated[
        str, typer.Option(help="A transaction open longer than this is reported.")
    ] = "5min",
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """Check the database as migrations see it: ok, warning or failing, with the figures.
    Exit 1 when a check fails (or warns, with --strict), 0 otherwise; with --service,
    only what that service needs (a readiness probe)."""
    from migrator.checks import health as health_check

    checks = reading.health(context(target), service, long_transaction)
    if json_output:
        out.print_json(json.dumps([check.as_json() for check in checks]))
    else:
        colours = {
            health_check.OK: "green",
            health_check.WARNING: "yellow",
            health_check.FAILING: "red",
        }
        for check in checks:
            say(
                f"{check.status:<8} {check.name:<24} {check.summary}",
                " " * 34,
                colours[check.status],
            )
            for detail in check.details:
                say(f"         {detail}", " " * 11)
    raise typer.Exit(health_check.exit_code(checks, strict))


@app.command("drift")
@reports_errors
@target_options()
def drift_command(
    service: ServiceName = None, json_output: AsJson = False, *, target: Target
) -> None:
    """Replay the applied migrations into a scratch database and report every object of the
    live database that differs (tables, columns, defaults, constraints, indexes, views,
    functions, triggers, sequences). Exit 1 when anything does; the live database is only
    read."""
    found = reading.drift(context(target, quiet=True), service)
    if json_output:
        out.print_json(json.dumps({"differences": found}))
    else:
        for line in found:
            out.print(escape(line))
    if found:
        raise CheckFailed(f"{len(found)} difference(s) between the migrations and the database", [])
    if not json_output:
        out.print("no drift: the database is what its migrations build")


@app.command("metrics")
@reports_errors
@target_options()
def metrics_command(
    textfile: Annotated[
        Path | None,
        typer.Option(help="Write them atomically here (a node exporter's textfile collector)."),
    ] = None,
    *,
    target: Target,
) -> None:
    """Per service, in the Prometheus text format: revisions applied and pending, the last
    run's duration and outcome, and histograms of revision durations from the history."""
    from migrator.checks import metrics as metrics_check

    if textfile is not None:
        reading.refuse_unwritable_textfile(textfile)
    registry = reading.metrics(context(target))
    if textfile is not None:
        metrics_check.write_textfile(registry, textfile)
        out.print(f"metrics written to {textfile}")
        return
    sys.stdout.write(metrics_check.exposition(registry))


@app.command("lint")
@reports_errors
@target_options()
def lint_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Revision files to lint (default: all).")
    ] = None,
    service: ServiceName = None,
    pg_version: Annotated[
        str | None,
        typer.Option(help="PostgreSQL major version to lint for (default: the database's)."),
    ] = None,
    output_format: formats.LintFormatOption = formats.LintFormat.TEXT,
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """Lint the revisions' UPGRADE and DOWNGRADE SQL with squawk and the house rules; exit 1
    when an error is not accepted in writing."""
    output_format = formats.chosen(output_format, json_output)
    ctx = context(target)
    report = reading.lint(ctx, paths or [], service, pg_version)
    root = ctx.settings.project_root
    if output_format is formats.LintFormat.JSON:
        out.print_json(json.dumps([finding.as_json(root) for finding in report.findings]))
    elif output_format is formats.LintFormat.SARIF:
        out.print_json(json.dumps(formats.sarif(report.findings, root)))
    elif output_format is formats.LintFormat.GITHUB:
        for line in formats.github_annotations(report.findings, root):
            sys.stdout.write(line + "\n")
    else:
        colours = {"error": "red", "warning": "yellow"}
        for finding in report.findings:
            colour = "dim" if finding.accepted else colours.get(finding.severity)
            say(finding.describe(root), style=colour)
    summary = (
        f"{report.revisions} revision(s) linted for PostgreSQL {report.pg_version}: "
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{report.accepted} accepted with a reason"
    )
    if report.errors:
        raise CheckFailed(summary, [])
    if output_format in (formats.LintFormat.TEXT, formats.LintFormat.GITHUB):
        say(summary)
