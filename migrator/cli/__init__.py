"""The `migrate` command: parse options, call one command, render its answer.

No SQL, no connection and no lock here: each command is a function of `migrator.commands`
that returns data. Every failure is reported the same way: one line saying what was wrong and
what to do, details (if any) below it, and the exit code of the house convention (1 the work
failed or a check found problems, 2 bad input).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from migrator import logs
from migrator.cli.console import EventView, OneLineSummaries, err, reports_errors
from migrator.cli.options import Target
from migrator.context import Context
from migrator.events import EventSink
from migrator.interrupts import raise_on_sigterm


class _OneLineErrors(OneLineSummaries):
    """Option and argument mistakes (an unknown option, `--limit abc`) are bad input like any
    other: one `error:` line saying what and where to look, exit 2, instead of click's panel."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            returned = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:  # click's usage errors, vendored by typer
            returned = error.exit_code
            if type(error).__name__ == "NoArgsIsHelpError":  # `migrate` alone: the help
                error.show()
            else:
                context = getattr(error, "ctx", None)
                see = f"; see `{context.command_path} --help`" if context else ""
                message = escape(error.format_message())
                err.print(f"[red]error:[/red] {message}{see}", soft_wrap=True)
        except typer.Abort:
            err.print("[red]error:[/red] cancelled; nothing was changed", soft_wrap=True)
            returned = 1
        if not standalone_mode:
            return returned
        sys.exit(returned if isinstance(returned, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Migrations of the Inopsio platform: nine services, one PostgreSQL, one safe runner.",
    no_args_is_help=True,
    add_completion=True,
)


@dataclass
class _Logging:
    """The global --log-format and --log-file options: no event lines unless one is given."""

    log_format: str | None = None
    log_file: Path | None = None

    @property
    def on_stderr(self) -> bool:
        """Event lines asked for without a file go to standard error, in place of the
        console's own lines about the same events."""
        return self.log_format is not None and self.log_file is None


_logging = _Logging()


@app.callback()
def _global_options(
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            envvar="MIGRATE_LOG_FORMAT",
            help="text or json: one line per event (runs, revisions, retries, lock waits, "
            "batch checkpoints, errors), to --log-file or else standard error.",
            show_default=False,
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", envvar="MIGRATE_LOG_FILE", help="Append the event lines here."),
    ] = None,
) -> None:
    """Migrations of the Inopsio platform: nine services, one PostgreSQL, one safe runner."""
    if log_format is not None and log_format not in logs.FORMATS:
        raise typer.BadParameter(f"--log-format {log_format!r}: use text or json")
    if log_file is not None:
        _check_log_file(log_file)
    _logging.log_format, _logging.log_file = log_format, log_file


@reports_errors
def _check_log_file(log_file: Path) -> None:
    """A log file that cannot be written is bad input, reported in the house format before
    any command runs."""
    logs.refuse_unwritable(log_file)


def context(target: Target, quiet: bool = False) -> Context:
    """The command's context, with the console's view of events and the log lines the
    global options ask for."""
    ctx = Context.load(
        project=target.project,
        database_url=target.database_url,
        environment=target.environment,
        engine_flags=target.engine_flags,
    )
    view = EventView(quiet=quiet or _logging.on_stderr)
    ctx.events = view
    if _logging.log_format is not None or _logging.log_file is not None:
        ctx.events = logs.tee(view, _log_lines(ctx))
    return ctx


def _log_lines(ctx: Context) -> EventSink:
    def service_of(revision: str) -> str | None:
        known = ctx.graph.revisions.get(revision)
        return known.service.name if known else None

    return logs.LogLines(
        _logging.log_file, _logging.log_format or "text", ctx.settings.environment, service_of
    )


def main() -> None:
    """The `migrate` console script (and `python -m migrator`)."""
    raise_on_sigterm()
    try:
        app()
    except SystemExit as stop:
        _leave(stop.code)


def _leave(code: object) -> NoReturn:
    """End the process as the interpreter would, without its teardown.

    Freeing every module and object at exit took a third of a second after `migrate status`
    on a busy machine, more than its queries and rendering; nothing of the tool needs it. What
    the teardown does that matters is done first: the exit handlers run (log handlers flush, the
    embedded server's wheel forgets this process) and stdout and stderr are flushed. A status
    that is not a number, a thread still running, or output that cannot be flushed (a closed
    pipe) takes Python's own way out."""
    if not isinstance(code, int) or threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter runs at exit, in the same order
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)
    os._exit(code)


# The commands register themselves on `app`.
from migrator.cli import (  # noqa: E402, F401
    authoring,
    baseline,
    fleet,
    pictures,
    reading,
    rebase,
    server,
    squash,
    writing,
)
