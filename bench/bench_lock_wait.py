"""What a reader of a table suffers while a migration waits for its lock on that table.

`ALTER TABLE ... ADD COLUMN` needs an ACCESS EXCLUSIVE lock. While a long transaction holds
any lock on the table, the ALTER waits in the lock queue, and every later query of the table,
even a plain SELECT, queues behind the ALTER: the platform stalls for as long as the long
transaction lasts. `migrate` lets a statement that takes ACCESS EXCLUSIVE wait at most 400ms per
try (`exclusive_lock_timeout`, below its 2s `lock_timeout`), then rolls the revision back and
retries after a growing, jittered pause, so readers wait at most about one such try at a time
and run between tries.

Each round: a table of `--rows` rows; a transaction that read it stays open (holding ACCESS
SHARE); a reader thread runs a keyed SELECT in a loop, each under a short statement_timeout,
recording every query's latency; the migration starts and is seen waiting in pg_locks; after
`--hold` seconds the long transaction commits, and the migration completes. Rounds alternate
between the tool (`migrate up` of a revision with that ALTER, default settings) and the
baseline (the same ALTER through `psql -c`, no lock_timeout, as an operator would type it). It
prints, over the migration's whole run, the reader's worst latency and 99th percentile per
round, then their medians and ranges per side. A read cut off by the statement_timeout counts
with the timeout as its latency, and the timeouts are counted.

    python bench/bench_lock_wait.py [--rows N] [--hold S] [--rounds K] [--reader-timeout S]

The server is the embedded one (started in a temporary folder) unless BENCH_DATABASE_URL
names another, which must be local: the benchmark holds locks on the tables it creates.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from common import (
    BIN,
    fresh_database,
    one_revision_project,
    percentile,
    server,
    tool_environment,
)
from psycopg import errors
from sqlalchemy.engine import URL

from migrator import urls
from migrator.ops import embedded

ALTER = "ALTER TABLE erp.items ADD COLUMN IF NOT EXISTS note text"
LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}
WAIT_SECONDS = 30.0  # for the migration to show up waiting, and for the holder's first read
RUN_SECONDS = 180.0  # for one migration, from its start to its end
MAX_READS = 2_000_000  # per round: the reader's loop is bounded in count as well as in time
READ_PAUSE = 0.002  # between two reads: a busy service, not a flood

REVISION = f'''"""Add items.note

Migration: add items note
Service: erp-service
Author: Benchmark <bench@inopsio.example>
Date: 2030-01-01
Dependencies: []
"""

from migrator.revision import run_sql

revision = "20300101_001"
down_revision = None
branch_labels = ("erp",)
depends_on = None

UPGRADE = """
{ALTER};
"""

DOWNGRADE = """
ALTER TABLE erp.items DROP COLUMN IF EXISTS note;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
'''


@dataclass
class Reads:
    """(started at, latency in ms, cut off by statement_timeout) per read."""

    samples: list[tuple[float, float, bool]] = field(default_factory=list)

    def during(self, start: float, end: float) -> list[tuple[float, bool]]:
        return [(ms, cut) for when, ms, cut in self.samples if start <= when <= end]


@dataclass(frozen=True)
class Round:
    side: str
    seconds: float  # the migration's run, from its start to its end
    reads: int
    timeouts: int
    worst_ms: float
    p99_ms: float
    median_ms: float


def _require_local(url: URL) -> None:
    """The benchmark holds locks for seconds; it must never do that on a shared server."""
    socket = url.query.get("host")
    hosts = socket if isinstance(socket, tuple) else (socket,)
    if url.host not in LOCAL_HOSTS or any(
        host not in LOCAL_HOSTS and not str(host).startswith("/") for host in hosts
    ):
        raise SystemExit(f"BENCH_DATABASE_URL must name a local server, not {url.host}")


def _table(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA erp")
        connection.execute("CREATE TABLE erp.items (id bigint PRIMARY KEY, payload text)")
        connection.execute(
            "INSERT INTO erp.items SELECT g, md5(g::text) FROM generate_series(1, %s) AS g",
            (rows,),
        )
        connection.execute("VACUUM ANALYZE erp.items")


def _read_in_a_loop(
    dsn: str, rows: int, timeout_ms: int, stop: threading.Event, reads: Reads
) -> None:
    """Keyed SELECTs until `stop` (or MAX_READS, or RUN_SECONDS past the round's own bound)."""
    deadline = time.monotonic() + WAIT_SECONDS + RUN_SECONDS
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"SET statement_timeout = {timeout_ms}")
        while not stop.is_set() and len(reads.samples) < MAX_READS:
            if time.monotonic() > deadline:
                return
            key = random.randint(1, rows)
            started = time.monotonic()
            cut = False
            try:
                connection.execute("SELECT payload FROM erp.items WHERE id = %s", (key,))
            except errors.QueryCanceled:
                cut = True
            reads.samples.append((started, (time.monotonic() - started) * 1000, cut))
            time.sleep(READ_PAUSE)


def _wait_until_the_alter_waits(dsn: str) -> None:
    """Poll pg_locks until an ACCESS EXCLUSIVE request on the table is queued (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    with psycopg.connect(dsn, autocommit=True) as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = 'erp.items'::regclass "
                "AND mode = 'AccessExclusiveLock' AND NOT granted"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
    raise SystemExit(f"the migration was not seen waiting for its lock within {WAIT_SECONDS}s")


def one_round(
    server_url: URL,
    side: str,
    command: Callable[[URL], list[str]],
    arguments: argparse.Namespace,
    environment: dict[str, str],
) -> Round:
    """One migration against one long transaction, on a database of its own."""
    with fresh_database(server_url) as url:
        dsn = urls.libpq_dsn(url)
        _table(dsn, arguments.rows)
        stop, reads = threading.Event(), Reads()
        reader = threading.Thread(
            target=_read_in_a_loop,
            args=(dsn, arguments.rows, int(arguments.reader_timeout * 1000), stop, reads),
        )
        with psycopg.connect(dsn) as holder:
            holder.execute("SELECT count(*) FROM erp.items")  # ACCESS SHARE until commit
            reader.start()
            try:
                started = time.monotonic()
                migration = subprocess.Popen(
                    command(url),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=environment,
                )
                _wait_until_the_alter_waits(dsn)
                time.sleep(arguments.hold)
                holder.commit()
                try:
                    _, stderr = migration.communicate(timeout=RUN_SECONDS)
                except subprocess.TimeoutExpired:
                    migration.kill()
                    raise SystemExit(
                        f"{side}: the migration did not end within {RUN_SECONDS}s"
                    ) from None
                ended = time.monotonic()
            finally:
                stop.set()
                reader.join(timeout=WAIT_SECONDS + arguments.reader_timeout)
        if migration.returncode != 0:
            raise SystemExit(f"{side}: the migration failed ({migration.returncode}):\n{stderr}")
    window = reads.during(started, ended)
    latencies = [ms for ms, _ in window]
    return Round(
        side=side,
        seconds=ended - started,
        reads=len(window),
        timeouts=sum(1 for _, cut in window if cut),
        worst_ms=max(latencies, default=0.0),
        p99_ms=percentile(latencies, 0.99),
        median_ms=statistics.median(latencies) if latencies else 0.0,
    )


def _summary(rounds: list[Round], side: str) -> str:
    mine = [item for item in rounds if item.side == side]

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):8.1f} ms ({min(values):.1f}-{max(values):.1f})"

    return (
        f"{side:<9} worst {spread([item.worst_ms for item in mine])}   "
        f"p99 {spread([item.p99_ms for item in mine])}   "
        f"timeouts {statistics.median([item.timeouts for item in mine]):g} "
        f"({min(item.timeouts for item in mine)}-{max(item.timeouts for item in mine)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--hold", type=float, default=6.0, help="seconds the long transaction stays open"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side, alternated")
    parser.add_argument(
        "--reader-timeout",
        type=float,
        default=4.0,
        help="the reader's statement_timeout in seconds (above the tool's lock waits per try)",
    )
    arguments = parser.parse_args()
    psql = str(embedded.client_binary("psql"))
    environment = tool_environment()

    with tempfile.TemporaryDirectory(prefix="bench-lock-wait-") as folder, server() as running:
        server_url = running.url
        _require_local(server_url)
        project = one_revision_project(
            Path(folder) / "project", "erp", "20300101_001_erp_add_items_note.py", REVISION
        )

        def tool(url: URL) -> list[str]:
            text = url.render_as_string(hide_password=False)
            return [str(BIN / "migrate"), "up", "--project", str(project), "--database-url", text]

        def baseline(url: URL) -> list[str]:
            return [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", ALTER, urls.libpq_dsn(url)]

        rounds = []
        for number in range(arguments.rounds):
            for side, command in (("migrate", tool), ("baseline", baseline)):
                result = one_round(server_url, side, command, arguments, environment)
                rounds.append(result)
                print(
                    f"round {number + 1} {side:<9} migration {result.seconds:6.2f} s   "
                    f"reads {result.reads:6d}   worst {result.worst_ms:8.1f} ms   "
                    f"p99 {result.p99_ms:8.1f} ms   median {result.median_ms:6.2f} ms   "
                    f"timeouts {result.timeouts}",
                    flush=True,
                )

    print(
        f"table: {arguments.rows} rows; long transaction held {arguments.hold:g} s after the "
        f"ALTER queued; reader statement_timeout {arguments.reader_timeout:g} s; "
        f"median (range) of {arguments.rounds} rounds per side"
    )
    print(_summary(rounds, "migrate"))
    print(_summary(rounds, "baseline"))


if __name__ == "__main__":
    main()
