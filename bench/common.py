"""What every benchmark shares: the server, fresh databases, timed runs and their summaries.

Each figure a benchmark prints is a ratio against a baseline measured in the same run, with
the sides alternated over several rounds, because a shared two-core machine drifts by tens of
percent between runs while two sides measured a second apart drift together. The helpers
here are the pieces every benchmark needs for that, kept in one place so that two benchmarks
never measure "the same thing" in two slightly different ways.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from migrator import urls
from migrator.ops import embedded

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROJECT_FILES = ("alembic.ini", "env.py", "script.py.mako", "pyproject.toml")
DEFAULT_MAX_LOCKS = 64  # PostgreSQL's own default of max_locks_per_transaction
SETTLE_SECONDS = 10.0  # for a finished client's server sessions to end

T = TypeVar("T")


# --- the server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """The server a benchmark runs against; `pgdata` is set only for the embedded one that the
    benchmark started itself, which is also the only one whose processes it may watch."""

    url: URL
    pgdata: Path | None

    def cpu_seconds(self) -> float | None:
        """User+system CPU of every process of the embedded server so far (the postmaster,
        the live backends and background workers, and every process that has exited): the
        server's side of the work, which a client's own CPU time leaves out. None for a
        server the benchmark did not start (its processes may not even be on this machine)."""
        if self.pgdata is None:
            return None
        postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            mine = [
                (ticks, state)
                for pid, (parent, ticks, state) in _processes().items()
                if pid == postmaster or parent == postmaster
            ]
            # A backend that has exited but is not yet reaped shows no CPU of its own, and
            # its CPU is not yet the postmaster's: wait for the postmaster to reap it.
            if all(state != "Z" for _, state in mine) or time.monotonic() > deadline:
                return sum(ticks for ticks, _ in mine) / os.sysconf("SC_CLK_TCK")
            time.sleep(0.005)

    def settle(self, database: str) -> None:
        """Wait until no session is left on `database`: a client that has exited may still
        have a backend finishing, whose CPU belongs to that client's run."""
        deadline = time.monotonic() + SETTLE_SECONDS
        with psycopg.connect(urls.libpq_dsn(self.url), autocommit=True) as connection:
            while time.monotonic() < deadline:
                row = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
                ).fetchone()
                if not row or not row[0]:
                    return
                time.sleep(0.005)


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, clock ticks of CPU: its own and its reaped children's, state)."""
    found: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name may hold spaces and parentheses: the fields follow its last ')'.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
            found[int(entry.name)] = (int(fields[1]), utime + stime + cutime + cstime, fields[0])
    return found


def setting(url: URL, name: str) -> str:
    """A server setting as `SHOW` gives it."""
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        row = connection.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
    return str(row[0]) if row else ""


def lock_slots(url: URL) -> int:
    """How many objects the server's shared lock table holds: max_locks_per_transaction for
    each client connection and prepared transaction (PostgreSQL also counts its background
    processes, so the real table is a little larger: this errs on the side of skipping)."""
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT current_setting('max_locks_per_transaction')::int * "
            "(current_setting('max_connections')::int "
            "+ current_setting('max_prepared_transactions')::int)"
        ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def server(max_locks_per_transaction: int | None = None) -> Iterator[Server]:
    """BENCH_DATABASE_URL's server, untouched; else an embedded server in a temporary folder,
    restarted with `max_locks_per_transaction` raised when one is given (a setting that only
    a restart changes), so that one transaction may lock that many objects per connection."""
    configured = os.environ.get("BENCH_DATABASE_URL")
    if configured:
        yield Server(urls.normalize(configured), None)
        return
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as folder:
        pgdata = Path(folder) / "pgdata"
        try:
            url = embedded.start(pgdata)
            if max_locks_per_transaction and max_locks_per_transaction > DEFAULT_MAX_LOCKS:
                with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
                    connection.execute(
                        sql.SQL("ALTER SYSTEM SET max_locks_per_transaction = {}").format(
                            sql.Literal(max_locks_per_transaction)
                        )
                    )
                embedded.stop(pgdata)
                url = _start_again(pgdata)
            yield Server(url, pgdata)
        finally:
            embedded.stop(pgdata)


def _start_again(pgdata: Path) -> URL:
    """Start a stopped embedded server. In a new interpreter: the wheel keeps one handle per
    data folder for its process's lifetime, and that handle never starts its server twice."""
    code = "import sys, pathlib; from migrator.ops import embedded; embedded.start("
    code += "pathlib.Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(pgdata)], check=True, capture_output=True)
    url = embedded.running_url(pgdata)
    if url is None:
        sys.exit(f"the embedded server did not start again; see {pgdata / 'log'}")
    return url


@contextlib.contextmanager
def fresh_database(server_url: URL) -> Iterator[URL]:
    """A new empty database for one measurement, dropped afterwards: no side ever runs on
    what another side left behind."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(urls.libpq_dsn(server_url), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server_url.set(database=name)
    finally:
        with psycopg.connect(urls.libpq_dsn(server_url), autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )


def checkpoint(url: URL) -> None:
    """Flush the server's dirty buffers before a measurement, so that a checkpoint another
    side's writes made due does not land in this side's time (needs the pg_checkpoint role,
    which the embedded server's superuser has; skipped where it is missing)."""
    with (
        psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection,
        contextlib.suppress(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute("CHECKPOINT")


def text_url(url: URL) -> str:
    """The URL as a command line takes it, password included (never printed)."""
    return url.render_as_string(hide_password=False)


def tool_environment(**extra: str) -> dict[str, str]:
    """The environment a measured command runs in: the tool's defaults, whatever the shell
    exported (MIGRATE_LOCK_TIMEOUT, DATABASE_URL...), plus `extra`."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MIGRATE_") and key != "DATABASE_URL"
    }
    return {**kept, **extra}


def one_revision_project(folder: Path, service_folder: str, file_name: str, text: str) -> Path:
    """A project at `folder` with the platform's configuration and one revision file."""
    folder.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, folder / name)
    versions = folder / "services" / service_folder / "versions"
    versions.mkdir(parents=True)
    (versions / file_name).write_text(text)
    return folder


# --- timed runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """One run of a command: wall seconds from start to exit (start-up counts, as for an
    operator typing it), and the user+system CPU seconds of the process itself."""

    seconds: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str


def run(command: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Ran:
    """Run `command`, reaping it with wait4 so that its own CPU time is known exactly (other
    children of the benchmark, such as a writer process, do not count)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), stdout=out, stderr=err, env=env, cwd=cwd, text=True
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Ran(
            seconds,
            usage.ru_utime + usage.ru_stime,
            process.returncode,
            out.read(),
            err.read(),
        )


def run_or_exit(
    command: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Ran:
    """`run`, stopping the benchmark with the command's own error when it fails: a figure
    of a failed run would be meaningless."""
    ran = run(command, env, cwd)
    if ran.returncode != 0:
        fail(command, ran)
    return ran


def fail(command: Sequence[str], ran: Ran) -> NoReturn:
    """Stop the benchmark with what a failed command said (its binary named, not its path)."""
    shown = " ".join(Path(part).name if "/" in part else part for part in command[:3])
    sys.exit(f"{shown} failed ({ran.returncode}):\n{(ran.stderr or ran.stdout)[-3000:]}")


# --- sides and samples ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One of the things a benchmark compares: its command for a database, the environment
    and folder it runs in, and the error text that means "cannot run on this server" (a
    limit of the server, said and left out) rather than a failure (which stops the run)."""

    key: str
    title: str
    command: Callable[[URL], list[str]]
    environment: Callable[[URL], dict[str, str]] = lambda _url: tool_environment()
    cwd: Path | None = None
    skip_on: str | None = None


@dataclass(frozen=True)
class Sample:
    """One run of a side: wall seconds, the client's CPU, and the server's when known."""

    seconds: float
    cpu_seconds: float
    server_cpu_seconds: float | None


class SideSkipped(Exception):
    """The side cannot run on this server at this size (never faked: left out, and said)."""


def sample(running: Server, side: Side, url: URL) -> Sample:
    """One run of `side` against `url`, with the server's CPU around it when it can be seen."""
    command = side.command(url)
    before = running.cpu_seconds()
    ran = run(command, side.environment(url), side.cwd)
    if ran.returncode != 0:
        if side.skip_on and side.skip_on in ran.stderr:
            raise SideSkipped(f"{side.title} skipped: {ran.stderr.strip().splitlines()[-1]}")
        fail(command, ran)
    running.settle(str(url.database))
    after = running.cpu_seconds()
    server_cpu = after - before if before is not None and after is not None else None
    return Sample(ran.seconds, ran.cpu_seconds, server_cpu)


# --- summaries ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Samples per side, and per round, for medians, ranges and within-round ratios."""

    rounds: list[dict[str, Sample]] = field(default_factory=list)

    def of(self, key: str) -> list[Sample]:
        return [done[key] for done in self.rounds if key in done]

    def ratios(self, top: str, bottom: str, cpu: bool = False) -> list[float]:
        """top/bottom within each round where both ran."""

        def value(item: Sample) -> float:
            return item.cpu_seconds if cpu else item.seconds

        return [
            value(done[top]) / value(done[bottom])
            for done in self.rounds
            if top in done and bottom in done and value(done[bottom]) > 0
        ]


def round_line(label: str, done: dict[str, Sample]) -> str:
    """One round's samples on one line, printed as they come: a long run shows progress, and
    an outlier round can be seen for what it is."""
    parts = []
    for key, item in done.items():
        server_part = (
            f", server {item.server_cpu_seconds:.2f}" if item.server_cpu_seconds is not None else ""
        )
        parts.append(f"{key} {item.seconds:.2f} s (cpu {item.cpu_seconds:.2f}{server_part})")
    return f"{label}: " + "  ".join(parts)


def print_sides(tally: Tally, sides: Sequence[Side]) -> None:
    """Per side, median (min-max) over the rounds of wall, client CPU and server CPU time."""
    print(f"{'':30} {'wall s':>22} {'client CPU s':>22} {'server CPU s':>22}")
    for side in sides:
        samples = tally.of(side.key)
        if not samples:
            print(f"{side.title:30} {'skipped':>22}")
            continue
        server_cpu = [s.server_cpu_seconds for s in samples if s.server_cpu_seconds is not None]
        print(
            f"{side.title:30} {spread([s.seconds for s in samples]):>22} "
            f"{spread([s.cpu_seconds for s in samples]):>22} {spread(server_cpu):>22}"
        )


def print_ratios(tally: Tally, pairs: Sequence[tuple[str, str, bool]]) -> None:
    """(top, bottom, of CPU time) ratios, each computed within a round, then summarised."""
    print("ratios within each round, median (min-max):")
    for top, bottom, cpu in pairs:
        values = tally.ratios(top, bottom, cpu)
        label = f"{'client CPU ' if cpu else ''}{top}/{bottom}"
        print(f"  {label:28} {spread(values) if values else 'not measured'}")


def rotated(sides: Sequence[T], round_number: int) -> list[T]:
    """The sides in this round's order: each side goes first in turn, so none always runs
    right after the same other one (with a warm cache, a checkpoint due...)."""
    shift = round_number % len(sides)
    return [*sides[shift:], *sides[:shift]]


def spread(values: Sequence[float], digits: int = 2) -> str:
    """`median (min-max)`: the median says what is typical, the range how far to trust it."""
    if not values:
        return "-"
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: a latency that some sample really had."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0
