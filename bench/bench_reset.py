"""How much the template cache saves on `dev reset`, on a long history, and why it varies.

With the same synthetic history as bench_history.py (1,000 revisions by default), each round
runs two `dev reset`s in alternating order:

  replay   the templates are dropped first (untimed), so the reset replays every revision
           and keeps the result as the new template (`CREATE DATABASE ... TEMPLATE` of it);
  cached   the template exists, so the reset drops the database and clones the template.

With the order alternating, every other cached reset comes right after a replay and the rest
right after another cached reset; the two kinds are summarised apart as well. Per run it
prints the wall seconds, the client's and the server's CPU, the WAL the server wrote, the
checkpoints that completed meanwhile and (embedded server) the flushes its disk completed, each
fsync of a file being one; then per side median (min-max), and the ratio cached/replay
computed within each round. The aim is a ratio below 0.25.

Then the statements behind a reset, sent from this process, to show where the server's time
goes and what the STRATEGY of `CREATE DATABASE ... TEMPLATE` changes (WAL_LOG, the default
since PostgreSQL 15, copies every block through shared buffers and writes it all to WAL,
leaving the copy's pages dirty; FILE_COPY copies the files and fsyncs them, with a
checkpoint before and after):

  making the template   what a replaying reset ends with, per strategy, followed by what the
                        next cached reset's statements (DROP DATABASE, which forces a
                        checkpoint, then the clone) cost after it;
  cloning               the cached reset's DROP DATABASE and clone, per clone strategy.

    python bench/bench_reset.py [--revisions N] [--rounds K]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from bench_history import write_history
from common import (
    BIN,
    Sample,
    Server,
    Side,
    Tally,
    print_ratios,
    print_sides,
    rotated,
    run_or_exit,
    sample,
    server,
    spread,
    text_url,
    tool_environment,
)
from psycopg import sql
from sqlalchemy.engine import URL

from migrator import urls
from migrator.ops import devdb

TARGET = "bench_reset_target"
CLONE = "bench_reset_clone"
TEMPLATE = "bench_reset_template"
STRATEGIES = ("WAL_LOG", "FILE_COPY")


@dataclass(frozen=True)
class Activity:
    """What the server did during a measurement besides answering: WAL, checkpoints, and,
    for the embedded server, the flushes (fsyncs) its disk completed."""

    seconds: float
    wal_bytes: int
    checkpoints: int
    flushes: float | None
    server_cpu_seconds: float | None

    def describe(self) -> str:
        flushes = f", disk flushes {self.flushes:.0f}" if self.flushes is not None else ""
        return f"WAL {self.wal_bytes / 2**20:5.1f} MB, checkpoints {self.checkpoints}{flushes}"


@dataclass(frozen=True)
class Watcher:
    """Reads the counters Activity is made of: the server's, and its processes' and its disk's
    when the benchmark started the server itself (the embedded one)."""

    connection: psycopg.Connection
    running: Server

    @contextmanager
    def watching(self, into: list[Activity]) -> Iterator[None]:
        """Record the time, the WAL, the checkpoints, the flushes and the server's CPU while
        the block runs."""
        pgdata = self.running.pgdata
        before, disk_before = _counters(self.connection), _disk_flushes(pgdata)
        cpu_before = self.running.cpu_seconds()
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        cpu_after = self.running.cpu_seconds()
        after, disk_after = _counters(self.connection), _disk_flushes(pgdata)
        into.append(
            Activity(
                seconds,
                after[0] - before[0],
                after[1] - before[1],
                _difference(disk_before, disk_after),
                _difference(cpu_before, cpu_after),
            )
        )


def _difference(before: float | None, after: float | None) -> float | None:
    """after - before, when the counter could be read both times."""
    return after - before if before is not None and after is not None else None


def _counters(connection: psycopg.Connection) -> tuple[int, int]:
    """(WAL position in bytes, checkpoints completed): pg_stat_checkpointer from PostgreSQL
    17, pg_stat_bgwriter before it, read fresh rather than from a transaction's snapshot."""
    connection.execute("SELECT pg_stat_clear_snapshot()")
    lsn = connection.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    view = connection.execute(
        "SELECT to_regclass('pg_catalog.pg_stat_checkpointer') IS NOT NULL"
    ).fetchone()
    query = (
        "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
        if view and view[0]
        else "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
    )
    done = connection.execute(query).fetchone()
    return int(lsn[0] if lsn else 0), int(done[0] if done else 0)


def _disk_flushes(pgdata: Path | None) -> int | None:
    """Flush requests completed by the block device holding `pgdata` (/proc/diskstats, Linux
    5.5 and later): what fsync costs the disk, the part of a reset that varies most."""
    if pgdata is None:
        return None
    device = os.stat(pgdata).st_dev
    with contextlib.suppress(OSError):
        for line in Path("/proc/diskstats").read_text().splitlines():
            fields = line.split()
            if (int(fields[0]), int(fields[1])) == (os.major(device), os.minor(device)):
                return int(fields[18]) if len(fields) > 18 else None
    return None


def _summary(title: str, seen: list[Activity]) -> str:
    flushes = [a.flushes for a in seen if a.flushes is not None]
    server_cpu = [a.server_cpu_seconds for a in seen if a.server_cpu_seconds is not None]
    return (
        f"{title:44} {spread([a.seconds for a in seen], 3):>22} s   WAL MB "
        f"{spread([a.wal_bytes / 2**20 for a in seen], 1)}   checkpoints "
        f"{spread([float(a.checkpoints) for a in seen], 0)}"
        + (f"   disk flushes {spread(flushes, 0)}" if flushes else "")
        + (f"   server CPU s {spread(server_cpu)}" if server_cpu else "")
    )


def _drop(connection: psycopg.Connection, name: str) -> None:
    connection.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )


def _drop_templates(server_url: URL) -> None:
    with psycopg.connect(urls.libpq_dsn(server_url), autocommit=True) as connection:
        names = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            (devdb.TEMPLATE_PREFIX,),
        ).fetchall()
        for (name,) in names:
            _drop(connection, name)


def compare_resets(running: Server, project: Path, rounds: int) -> None:
    url = running.url.set(database=TARGET)
    reset = [
        str(BIN / "migrate"),
        "dev",
        "reset",
        "--yes",
        "--project",
        str(project),
        "--database-url",
        text_url(url),
    ]
    sides = [
        Side("replay", "dev reset, replaying", lambda _url: reset),
        Side("cached", "dev reset, cloning the template", lambda _url: reset),
    ]
    run_or_exit(reset, tool_environment())  # warm-up, untimed: the template exists from here on
    tally = Tally()
    activity: dict[str, list[Activity]] = {"replay": [], "after replay": [], "after cached": []}
    previous = "replay"
    with psycopg.connect(urls.libpq_dsn(running.url), autocommit=True) as connection:
        watcher = Watcher(connection, running)
        for number in range(rounds):
            done: dict[str, Sample] = {}
            for side in rotated(sides, number):
                if side.key == "replay":
                    _drop_templates(running.url)
                kind = "replay" if side.key == "replay" else f"after {previous}"
                with watcher.watching(activity[kind]):
                    done[side.key] = sample(running, side, url)
                previous = side.key
                measured = done[side.key]
                server_cpu = (
                    f", server {measured.server_cpu_seconds:.2f}"
                    if measured.server_cpu_seconds is not None
                    else ""
                )
                print(
                    f"round {number + 1} {side.key:6} {measured.seconds:7.2f} s "
                    f"(cpu {measured.cpu_seconds:.2f}{server_cpu})   "
                    f"{activity[kind][-1].describe()}"
                    + ("" if kind == "replay" else f"   ({kind})"),
                    flush=True,
                )
            tally.rounds.append(done)
    print()
    print_sides(tally, sides)
    for kind, seen in activity.items():
        title = "dev reset, replaying" if kind == "replay" else f"dev reset, cached, {kind}"
        print(_summary(title, seen))
    print_ratios(tally, [("cached", "replay", False)])
    print("(aim: cached/replay below 0.25)")


def _run_steps(
    connection: psycopg.Connection,
    watcher: Watcher,
    steps: dict[str, sql.Composable],
    seen: dict[str, list[Activity]],
    number: int,
) -> None:
    """Run one round's statements in order, each watched, and print the round's line."""
    line = []
    for title, statement in steps.items():
        with watcher.watching(seen.setdefault(title, [])):
            connection.execute(statement)
        line.append(f"{title.strip()} {seen[title][-1].seconds:.3f} s")
    print(f"round {number + 1}: " + "; ".join(line), flush=True)


def compare_strategies(running: Server, rounds: int) -> None:
    """The server's part of a reset, statement by statement, per CREATE DATABASE strategy."""
    with psycopg.connect(urls.libpq_dsn(running.url), autocommit=True) as connection:
        watcher = Watcher(connection, running)
        size = connection.execute("SELECT pg_database_size(%s)", (TARGET,)).fetchone()
        print(f"database {TARGET}: {(size[0] if size else 0) / 2**20:.1f} MB")
        target, clone, template = (sql.Identifier(name) for name in (TARGET, CLONE, TEMPLATE))

        def create(name: sql.Identifier, source: sql.Identifier, strategy: str) -> sql.Composed:
            return sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
                name, source, sql.SQL(strategy)
            )

        making: dict[str, list[Activity]] = {}
        for number in range(rounds):
            for strategy in rotated(STRATEGIES, number):
                # The starting point of every try: a clone to drop, a template to make, and
                # nothing dirty in the server's buffers.
                _drop(connection, TEMPLATE)
                _drop(connection, CLONE)
                connection.execute(create(clone, target, "WAL_LOG"))
                connection.execute("CHECKPOINT")
                steps = {
                    f"template made with {strategy}": create(template, target, strategy),
                    f"  then DROP DATABASE (template {strategy})": sql.SQL(
                        "DROP DATABASE {} WITH (FORCE)"
                    ).format(clone),
                    f"  then clone, WAL_LOG (template {strategy})": create(
                        clone, template, "WAL_LOG"
                    ),
                }
                _run_steps(connection, watcher, steps, making, number)
        print()
        for title, seen in making.items():
            print(_summary(title, seen))
        print()

        cloning: dict[str, list[Activity]] = {}
        for number in range(rounds):
            for strategy in rotated(STRATEGIES, number):
                steps = {
                    f"DROP DATABASE (before a {strategy} clone)": sql.SQL(
                        "DROP DATABASE {} WITH (FORCE)"
                    ).format(clone),
                    f"clone with {strategy}": create(clone, template, strategy),
                }
                _run_steps(connection, watcher, steps, cloning, number)
        print()
        for title, seen in cloning.items():
            print(_summary(title, seen))
        _drop(connection, CLONE)
        _drop(connection, TEMPLATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both sides, alternating")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-reset-") as folder, server() as running:
        project = Path(folder)
        write_history(project, arguments.revisions)
        print(f"history: {arguments.revisions} revisions; {arguments.rounds} rounds", flush=True)
        compare_resets(running, project, arguments.rounds)
        _drop_templates(running.url)
        print()
        print("the statements of a reset, from this process, per CREATE DATABASE strategy:")
        compare_strategies(running, arguments.rounds)


if __name__ == "__main__":
    main()
