"""`migrate` in a real terminal: a pseudo-terminal of 80 columns, as an operator's shell.

Under a CliRunner (and in CI logs) stdout is no terminal, so rich draws no progress bar and
sizes nothing to a window; a crash that only happens where people look (the progress bar's
`KeyError: 'rate'`) passes every other test. Here each command runs as its own process with
its standard streams on the slave side of a pty whose window is 80x24, TERM=xterm-256color
and COLUMNS=80, and everything it writes is read until it exits.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import add_revision, applied_versions, head_of, migrate_process, run_migrate
from rich.cells import cell_len
from sqlalchemy.engine import URL

COLUMNS, ROWS = 80, 24
RUN_SECONDS = 120.0
TABLE_REVISION, BACKFILL_REVISION = "20240601_001", "20240601_002"

# CSI sequences (colours, cursor moves, erase), OSC sequences (titles, links), and the
# two-character escapes rich's live display uses; carriage returns go with them.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\r")


def strip_ansi(text: str) -> str:
    """What a reader sees of `text`: escape codes and carriage returns removed."""
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class TerminalRun:
    exit_code: int
    output: str  # stdout and stderr interleaved, as the terminal received them

    @property
    def lines(self) -> list[str]:
        return strip_ansi(self.output).split("\n")

    @property
    def too_wide(self) -> list[str]:
        """Lines wider than the terminal, except those holding one word (a URL with a socket
        path, a file path) wider than the terminal by itself: no layout fits that, and the
        word stays whole for copying."""
        return [
            line
            for line in self.lines
            if cell_len(line) > COLUMNS and all(cell_len(word) <= COLUMNS for word in line.split())
        ]


def run_in_terminal(command: list[str]) -> TerminalRun:
    """Run `command` with a pty of COLUMNS x ROWS as its terminal; read until it exits (at
    most RUN_SECONDS, then it is killed and the test fails)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")},
        "TERM": "xterm-256color",
        "COLUMNS": str(COLUMNS),
        "LINES": str(ROWS),
    }
    try:
        process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=environment,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    try:
        output = b"".join(_read_until_closed(master, time.monotonic() + RUN_SECONDS))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    exit_code = process.wait(timeout=10)
    return TerminalRun(exit_code, output.decode("utf-8", errors="replace"))


def _read_until_closed(master: int, deadline: float) -> Iterator[bytes]:
    """Every chunk the pty delivers until the child's side is closed (EIO on Linux)."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child exited and closed the slave side
            return
        if not chunk:
            return
        yield chunk
    raise AssertionError(f"the command did not finish within {RUN_SECONDS}s")


def _backfill_project(project: Path, rows: int) -> None:
    """erp.parcels with `rows` rows, and a revision that visits each in small slices, slow
    enough for the progress bar to redraw several times."""
    add_revision(
        project,
        "erp",
        TABLE_REVISION,
        down_revision=head_of("erp"),
        upgrade=f"""
CREATE TABLE IF NOT EXISTS erp.parcels (id bigint PRIMARY KEY, visits integer NOT NULL DEFAULT 0);
INSERT INTO erp.parcels (id) SELECT g FROM generate_series(1, {rows}) AS g;
""",
        downgrade="DROP TABLE IF EXISTS erp.parcels;",
    )
    path = project / "services/erp/versions" / f"{BACKFILL_REVISION}_erp_visit_parcels.py"
    path.write_text(f'''"""Visit every parcel

Migration: visit every parcel
Service: erp-service
Author: Tests <tests@inopsio.example>
Date: 2024-06-01
Dependencies: []
"""

from migrator.revision import backfill, run_sql

revision = "{BACKFILL_REVISION}"
down_revision = "{TABLE_REVISION}"
branch_labels = ()
depends_on = None

UPGRADE = ""
DOWNGRADE = "UPDATE erp.parcels SET visits = 0;"


def upgrade() -> None:
    backfill(
        "erp.parcels",
        set="visits = visits + 1",
        batch_size=200,
        pause=0.03,
        validate_empty="SELECT 1 FROM erp.parcels WHERE visits <> 1",
    )


def downgrade() -> None:
    run_sql(DOWNGRADE)
''')


def test_a_backfill_with_its_progress_bar_in_a_terminal_applies_without_a_traceback(
    project: Path, database_url: URL
) -> None:
    _backfill_project(project, rows=3000)
    table = run_migrate("up", "--version", TABLE_REVISION, project=project, url=database_url)
    assert table.exit_code == 0, table.output

    run = run_in_terminal(
        migrate_process("up", "--service", "erp", project=project, url=database_url)
    )

    assert run.exit_code == 0, run.output
    assert "Traceback" not in run.output and "KeyError" not in run.output
    assert "rows/s" in run.output  # the progress bar was drawn: stderr was a terminal
    assert f"applied {BACKFILL_REVISION}" in strip_ansi(run.output)
    assert BACKFILL_REVISION in applied_versions(database_url)


@pytest.fixture(scope="module")
def half_migrated(new_database_module: URL) -> URL:
    """crm and what it needs at head, every other service pending: a status with something
    in every column, a plan with statements, a health check that fails."""
    result = run_migrate("up", "--service", "crm", url=new_database_module)
    assert result.exit_code == 0, result.output
    return new_database_module


# Each command of the reading kind, with the exit code the README documents for that state:
# health exits 1 when a check fails (here at-head: revisions are pending), the others 0
# (lint: crm's findings are warnings or accepted).
READING_COMMANDS = {
    "status": (("status",), 0),
    "history": (("history",), 0),
    "plan": (("plan",), 0),
    "lint": (("lint", "--service", "crm"), 0),
    "health": (("health",), 1),
}


@pytest.fixture(scope="module")
def terminal_runs(half_migrated: URL) -> dict[str, TerminalRun]:
    """Each reading command run once in the terminal; the tests below judge the output."""
    return {
        name: run_in_terminal(migrate_process(*arguments, url=half_migrated))
        for name, (arguments, _) in READING_COMMANDS.items()
    }


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_reading_commands_in_a_terminal_exit_as_documented_without_a_traceback(
    terminal_runs: dict[str, TerminalRun], command: str
) -> None:
    run = terminal_runs[command]
    _, expected = READING_COMMANDS[command]

    assert run.exit_code == expected, run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_reading_commands_fit_an_80_column_terminal(
    terminal_runs: dict[str, TerminalRun], command: str
) -> None:
    too_wide = terminal_runs[command].too_wide
    if command == "plan":  # statements are shown as their files write them: only comments wrap
        too_wide = [line for line in too_wide if line.startswith("--")]
    assert too_wide == []


def test_the_status_table_in_a_terminal_names_its_columns_and_each_service(
    terminal_runs: dict[str, TerminalRun],
) -> None:
    lines = [line.split() for line in terminal_runs["status"].lines]
    header = next(words for words in lines if words[:1] == ["service"])
    rows = {words[0]: words for words in lines if len(words) >= 4}

    assert header[:4] == ["service", "current", "head", "pending"]
    assert rows["crm"][1] == rows["crm"][2] == head_of("crm") and rows["crm"][3] == "0"
    assert rows["erp"][1] == "-" and rows["erp"][2] == head_of("erp") and rows["erp"][3] != "0"


@pytest.mark.parametrize("command", [(), ("health",)], ids=lambda c: " ".join(c))
def test_help_in_a_terminal_fits_80_columns_and_shows_flags_as_flags(command: tuple) -> None:
    run = run_in_terminal([sys.executable, "-m", "migrator", *command, "--help"])

    assert run.exit_code == 0, run.output
    assert run.too_wide == []
    assert "--no-" not in strip_ansi(run.output)
