"""What a batched backfill costs, and what it spares the platform's writers.

Each round makes the same change (every row's `b` set from its id) twice, alternating which
goes first, each time on a FRESH table of `--rows` rows (a new database, the table created,
filled and vacuumed, then a CHECKPOINT), so that neither side finds pages the other left dirty
or rows the other already rewrote:

  single   one `UPDATE erp.items SET b = 'b' || id WHERE b IS NULL`, sent on an open
           connection; its time is the statement's round trip;
  batched  `migrate up` of a revision calling `migrator.revision.backfill` with the same SET
           and WHERE; its time is the revision's own step duration (`step_finished` in the
           tool's JSON event log), so the tool's start-up, connection and bookkeeping before
           the step do not count against it.

A writer process updates random rows of the same table in a loop (one short transaction each,
2 ms apart) from a second before the side starts to after it ends, and records each update's
latency; the updates that started within the side's window count for that side. It prints
per round, then per side as median (min-max) over the rounds: the seconds, the writer's worst
and 99th-percentile latency, and the within-round ratio batched/single.

Aim: the writer's worst latency under the backfill below 200 ms, and the backfill taking less
than twice the single UPDATE.

    python bench/bench_backfill.py [--rows N] [--batch-size K] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from common import (
    BIN,
    checkpoint,
    fresh_database,
    one_revision_project,
    percentile,
    rotated,
    run_or_exit,
    server,
    spread,
    text_url,
    tool_environment,
)
from sqlalchemy.engine import URL

from migrator import urls

REVISION_ID = "20300101_001"
SET, WHERE = "b = 'b' || id", "b IS NULL"
WARM_UP_SECONDS = 1.0  # the writer runs alone first, so its connection and loop are warm
COOL_DOWN_SECONDS = 0.5

WRITER = r"""
import json, os, random, sys, time, psycopg
dsn, rows, stop, output = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
samples = []
with psycopg.connect(dsn, autocommit=True) as connection:
    while not os.path.exists(stop):
        key = random.randint(1, rows)
        started = time.time()
        connection.execute("UPDATE erp.items SET hits = hits + 1 WHERE id = %s", (key,))
        samples.append((started, (time.time() - started) * 1000))
        time.sleep(0.002)
with open(output, "w") as handle:
    json.dump(samples, handle)
"""

REVISION = f'''"""Backfill items.b

Migration: backfill items b
Service: erp-service
Author: Benchmark <bench@inopsio.example>
Date: 2030-01-01
Dependencies: []
"""

from migrator.revision import backfill, run_sql

revision = "{REVISION_ID}"
down_revision = None
branch_labels = ("erp",)
depends_on = None

UPGRADE = ""
DOWNGRADE = ""


def upgrade() -> None:
    backfill("erp.items", set="{SET}", where="{WHERE}", batch_size={{batch_size}})


def downgrade() -> None:
    pass
'''


@dataclass(frozen=True)
class Window:
    """When a side's work ran (epoch seconds, the writer's clock) and how long it took."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Result:
    side: str
    seconds: float
    updates: int
    worst_ms: float
    p99_ms: float
    median_ms: float


def _fill(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA erp")
        connection.execute(
            "CREATE TABLE erp.items (id bigint PRIMARY KEY, hits bigint NOT NULL DEFAULT 0, b text)"
        )
        connection.execute("INSERT INTO erp.items (id) SELECT generate_series(1, %s)", (rows,))
        connection.execute("VACUUM ANALYZE erp.items")


def single_update(url: URL, _folder: Path) -> Window:
    """The one statement, on a connection opened before the clock starts."""
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        start = time.time()
        connection.execute(f"UPDATE erp.items SET {SET} WHERE {WHERE}")
        return Window(start, time.time())


def batched_backfill(project: Path) -> Callable[[URL, Path], Window]:
    def measure(url: URL, folder: Path) -> Window:
        """`migrate up`, timed by the tool's own event for the backfill's step."""
        log = folder / "events.jsonl"
        run_or_exit(
            [
                str(BIN / "migrate"),
                "--log-format",
                "json",
                "--log-file",
                str(log),
                "up",
                "--project",
                str(project),
                "--database-url",
                text_url(url),
            ],
            tool_environment(),
        )
        events = [json.loads(line) for line in log.read_text().splitlines()]
        log.unlink()
        for event in events:
            if event.get("event") == "step_finished" and event.get("revision") == REVISION_ID:
                end = datetime.fromisoformat(event["timestamp"]).timestamp()
                return Window(end - event["duration_ms"] / 1000, end)
        raise SystemExit(f"no step_finished event for {REVISION_ID} in the tool's JSON log")

    return measure


def one_side(
    server_url: URL,
    side: str,
    work: Callable[[URL, Path], Window],
    rows: int,
    folder: Path,
) -> Result:
    """A fresh table, the writer started on it, the side's work, the writer's latencies."""
    with fresh_database(server_url) as url:
        dsn = urls.libpq_dsn(url)
        _fill(dsn, rows)
        checkpoint(server_url)
        stop, output = folder / "stop", folder / "latencies.json"
        stop.unlink(missing_ok=True)
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, dsn, str(rows), str(stop), str(output)]
        )
        try:
            time.sleep(WARM_UP_SECONDS)
            window = work(url, folder)
            time.sleep(COOL_DOWN_SECONDS)
        finally:
            stop.touch()
            writer.wait(timeout=60)
        samples = json.loads(output.read_text())
    latencies = [ms for when, ms in samples if window.start <= when <= window.end]
    return Result(
        side=side,
        seconds=window.seconds,
        updates=len(latencies),
        worst_ms=max(latencies, default=0.0),
        p99_ms=percentile(latencies, 0.99),
        median_ms=statistics.median(latencies) if latencies else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides, alternating")
    arguments = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-backfill-") as folder,
        server() as running,
    ):
        project = one_revision_project(
            Path(folder) / "project",
            "erp",
            f"{REVISION_ID}_erp_backfill_items_b.py",
            REVISION.replace("{batch_size}", str(arguments.batch_size)),
        )
        sides: list[tuple[str, Callable[[URL, Path], Window]]] = [
            ("single", single_update),
            ("batched", batched_backfill(project)),
        ]
        results: list[dict[str, Result]] = []
        for number in range(arguments.rounds):
            done: dict[str, Result] = {}
            for side, work in rotated(sides, number):
                result = one_side(running.url, side, work, arguments.rows, Path(folder))
                done[side] = result
                print(
                    f"round {number + 1} {side:8} {result.seconds:7.2f} s   writer: "
                    f"{result.updates:5d} updates, worst {result.worst_ms:7.1f} ms, "
                    f"p99 {result.p99_ms:6.1f} ms, median {result.median_ms:5.2f} ms",
                    flush=True,
                )
            results.append(done)

    print()
    print(
        f"table: {arguments.rows} rows, fresh for every side; backfill batch size "
        f"{arguments.batch_size}; median (min-max) of {arguments.rounds} rounds"
    )
    print(f"{'':18} {'seconds':>20} {'writer worst ms':>24} {'writer p99 ms':>22}")
    for side, title in (("single", "single UPDATE"), ("batched", "batched backfill")):
        mine = [done[side] for done in results]
        print(
            f"{title:18} {spread([r.seconds for r in mine]):>20} "
            f"{spread([r.worst_ms for r in mine], 1):>24} {spread([r.p99_ms for r in mine], 1):>22}"
        )
    ratios = [done["batched"].seconds / done["single"].seconds for done in results]
    worst = [done["batched"].worst_ms for done in results]
    print(f"batched/single seconds, within each round: {spread(ratios)} (aim: below 2)")
    print(f"writer's worst latency under the backfill: {spread(worst, 1)} ms (aim: below 200 ms)")


if __name__ == "__main__":
    main()
