"""`migrate fleet status | plan | up | down`: the single-database commands over many targets.

On a terminal the run is a live table of the targets on stderr; elsewhere (CI, a log) each
target's end is one plain line. Either way a summary follows on stdout, or a JSON document
with `--json`, and the exit code is 0 only when every target reached its goal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from migrator.cli import app, context
from migrator.cli.console import OneLineSummaries, err, out, reports_errors
from migrator.cli.options import Approve, AsJson, Target, flag, target_options
from migrator.ops import targets as fleet_targets

if TYPE_CHECKING:
    from migrator.commands.fleet import TargetState
    from migrator.context import Context

fleet_app = typer.Typer(
    help="Migrate many databases: per tenant, per site, per region.",
    no_args_is_help=True,
    cls=OneLineSummaries,
)
app.add_typer(fleet_app, name="fleet")

Group = Annotated[str | None, typer.Option(help="Only the targets of this group.")]
TargetsFile = Annotated[
    Path | None,
    typer.Option(
        "--targets-file", help="One target a line: name url [service ...].", show_default=False
    ),
]
Parallel = Annotated[int, typer.Option(min=1, help="How many targets at once.")]
Canary = Annotated[
    int, typer.Option(min=0, help="Run the first K targets first; stop if any of them fails.")
]
KeepGoing = flag("--keep-going", "Go on with the other targets after one fails.")


def _fleet(target: Target, targets_file: Path | None, group: str | None) -> tuple[Context, list]:
    ctx = context(target, quiet=True)
    chosen = fleet_targets.select(ctx.settings.project_root, targets_file, group)
    return ctx, chosen


@fleet_app.command()
@reports_errors
@target_options(database=False, environment=True)
def status(
    group: Group = None,
    targets_file: TargetsFile = None,
    parallel: Parallel = 8,
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """Each target's services: current revision, head, pending revisions."""
    from migrator.commands import fleet

    ctx, chosen = _fleet(target, targets_file, group)
    found = fleet.status(ctx, chosen, parallel)
    if json_output:
        document = [
            {
                "target": each.name,
                "url": each.shown_url,
                "services": [
                    {
                        "service": s.service,
                        "current": s.current,
                        "head": s.head,
                        "pending": s.pending,
                    }
                    for s in rows
                ],
            }
            for each, rows in found
        ]
        out.print_json(json.dumps(document))
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("target", "service", "current", "head", "pending"):
        table.add_column(column, no_wrap=True)
    for each, rows in found:
        for s in rows:
            table.add_row(each.name, s.service, s.current or "-", s.head or "-", str(s.pending))
    out.print(table)


@fleet_app.command()
@reports_errors
@target_options(database=False, environment=True)
def plan(
    group: Group = None,
    targets_file: TargetsFile = None,
    parallel: Parallel = 8,
    json_output: AsJson = False,
    *,
    target: Target,
) -> None:
    """What `fleet up` would apply to each target, with its plan hash; one hash for all when
    every plan is identical."""
    from migrator.commands import fleet

    ctx, chosen = _fleet(target, targets_file, group)
    found = fleet.plans(ctx, chosen, parallel)
    shared = fleet.group_hash(found)
    if json_output:
        document = {
            "group_hash": shared,
            "targets": [
                {"target": p.target.name, "hashes": list(p.hashes), "revisions": list(p.revisions)}
                for p in found
            ],
        }
        out.print_json(json.dumps(document))
        return
    for p in found:
        out.print(
            f"{p.target.name}: {len(p.revisions)} revision(s), plan {', '.join(p.hashes)}",
            markup=False,
        )
    if shared is not None:
        out.print(f"group hash {shared}: covers {len(found)} identical plans (--approve {shared})")


def _rollout(
    direction: str,
    target: Target,
    targets_file: Path | None,
    group: str | None,
    parallel: int,
    canary: int,
    keep_going: bool,
    approve: str | None,
    json_output: bool,
) -> None:
    from migrator.commands import fleet

    ctx, chosen = _fleet(target, targets_file, group)
    if approve is not None:
        covered = [p for p in fleet.plans(ctx, chosen, parallel) if approve in p.hashes]
        err.print(f"approval {approve} covers {len(covered)} identical plan(s)")
    view = _LiveTable(chosen) if err.is_terminal and not json_output else None
    watch = view.update if view else _plain_line
    if view:
        view.start()
    try:
        states = fleet.rollout(
            ctx,
            chosen,
            direction=direction,
            parallel=parallel,
            canary=canary,
            keep_going=keep_going,
            approve=approve,
            watch=watch,
        )
    finally:
        if view:
            view.stop()
    _summary(states, json_output)
    if not all(state.succeeded for state in states):
        raise typer.Exit(1)


def _plain_line(state: TargetState) -> None:
    if state.state in ("running", "waiting"):
        return
    err.print(f"{state.target.name}: {_describe(state)}", markup=False)


def _describe(state: TargetState) -> str:
    text = state.state
    if state.done:
        text += f", {len(state.done)} revision(s), now at {state.revision}"
    if state.error:
        text += f": {state.error.splitlines()[0]}"
    return text


class _LiveTable:
    """The targets as a table on the terminal, redrawn as they move."""

    def __init__(self, chosen: list) -> None:
        from rich.live import Live

        self.states: dict[str, TargetState] = {}
        self.names = [each.name for each in chosen]
        self.live = Live(self._table(), console=err, refresh_per_second=8)

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.update(self._table())
        self.live.stop()

    def update(self, state: TargetState) -> None:
        self.states[state.target.name] = state
        self.live.update(self._table())

    def _table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("target", "state", "revision", "seconds"):
            table.add_column(column, no_wrap=True)
        for name in self.names:
            state = self.states.get(name)
            if state is None:
                table.add_row(name, "waiting", "-", "-")
            else:
                table.add_row(
                    name, escape(state.state), state.revision or "-", f"{state.seconds:.1f}"
                )
        return table


def _summary(states: list[TargetState], json_output: bool) -> None:
    if json_output:
        document: list[dict[str, Any]] = [
            {
                "target": s.target.name,
                "url": s.target.shown_url,
                "state": s.state,
                "applied": s.done,
                "revision": s.revision,
                "seconds": round(s.seconds, 3),
                "error": s.error,
                "backup": s.backup,
            }
            for s in states
        ]
        out.print_json(json.dumps(document))
        return
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
        if s.error:
            out.print(f"{s.target.name}: {s.error.splitlines()[0]}", markup=False)
    out.print(
        ", ".join(f"{n} {state}" for state, n in counts.items()) + f" of {len(states)} targets"
    )


def _rollout_command(name: str, direction: str, help: str) -> None:
    """`fleet up` and `fleet down`: the same options, one direction each."""

    @fleet_app.command(name, help=help)
    @reports_errors
    @target_options(database=False, environment=True)
    def rollout(
        group: Group = None,
        targets_file: TargetsFile = None,
        parallel: Parallel = 4,
        canary: Canary = 0,
        keep_going: KeepGoing = False,
        approve: Approve = None,
        json_output: AsJson = False,
        *,
        target: Target,
    ) -> None:
        _rollout(
            direction,
            target,
            targets_file,
            group,
            parallel,
            canary,
            keep_going,
            approve,
            json_output,
        )


_rollout_command(
    "up",
    "upgrade",
    "Bring every target's services to head: canaries first, `--parallel N` at a time, "
    "stopping at the first failure. Run it again to go on where it stopped.",
)
_rollout_command(
    "down", "downgrade", "Roll back the last applied migration of each target's services."
)
