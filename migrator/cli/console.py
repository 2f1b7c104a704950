"""What the command line shows: two consoles, the house error format, and the engine's
events as they happen (a progress bar for backfills on a terminal, a line every few seconds
elsewhere)."""

from __future__ import annotations

import functools
import textwrap
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from migrator.errors import MigratorError
from migrator.events import (
    BatchProgress,
    Event,
    HistoryNotRecorded,
    ReplicaLagUnwatched,
    ReplicaLagWait,
    RunFinished,
    RunStarted,
    StepFailed,
    StepFinished,
    StepStarted,
)
from migrator.interrupts import Interrupted, as_interrupted

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


class OneLineSummaries(TyperGroup):
    """A group whose command list shows each command's summary as one flowing paragraph.

    A docstring is wrapped at 95 columns in the source; typer's rich help keeps those line
    breaks in the command list (only a command's own page joins them), so every summary broke
    after a few words at any width. The first paragraph, its lines joined, becomes the
    command's short help."""

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is not None and command.short_help is None and command.help:
            command.short_help = " ".join(command.help.split("\n\n")[0].split())
        return command


def say(text: str, indent: str = "    ", style: str | None = None) -> None:
    """Print a line of text wrapped at the terminal's width (80 columns in a log), its
    continuation lines indented: a terminal cuts nothing, and a log stays readable. Words are
    never split, so a path or an id stays whole for copying."""
    lines = textwrap.wrap(
        text,
        width=max(out.width, 40),
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [""]
    for line in lines:
        out.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


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
        except (KeyboardInterrupt, Interrupted) as error:
            interrupted = as_interrupted(error, None)
            err.print(f"[red]error:[/red] {escape(str(interrupted))}", soft_wrap=True)
            raise typer.Exit(interrupted.exit_code) from None

    return wrapper


def _line(text: str, colour: str) -> None:
    """One line of the run's progress: coloured on a terminal; elsewhere (a log, a pipe, CI)
    written as it is, since a run of a thousand revisions would otherwise spend a third of a
    second rendering lines that carry no colour anyway."""
    if out.is_terminal:
        out.print(f"[{colour}]{escape(text)}[/{colour}]")
    else:
        out.file.write(text + "\n")


class EventView:
    """Shows the engine's events as they happen; `quiet` shows only warnings."""

    BATCH_LINE_EVERY_SECONDS = 5.0

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Progress | None = None
        self._last_batch_line = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self._close_bar()
            if not self.quiet:
                colour = "green" if event.direction == "upgrade" else "yellow"
                _line(event.describe(), colour)
        elif isinstance(event, BatchProgress):
            if not self.quiet:
                self._batch(event)
        elif isinstance(event, HistoryNotRecorded):
            err.print(f"[red]warning:[/red] {escape(event.describe())}")
        elif isinstance(event, ReplicaLagWait | ReplicaLagUnwatched):
            self._close_bar()
            err.print(f"[yellow]warning:[/yellow] {escape(event.describe())}")
        elif not self.quiet and not isinstance(
            event, RunStarted | RunFinished | StepStarted | StepFailed
        ):
            err.print(f"[dim]{escape(event.describe())}[/dim]")

    def _batch(self, event: BatchProgress) -> None:
        if err.is_terminal:
            if self._bar is None:
                # Imported by the first backfill shown on a terminal, not by every command.
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )

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
                self._task = self._bar.add_task(
                    f"{event.revision} {event.table}", total=None, rate=0
                )
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
