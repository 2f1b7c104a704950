"""What a batched backfill costs, and what it spares the platform's writers.

A table of 1,000,000 rows; a writer process updates random rows in a loop, one short
transaction each, and records every update's latency. In one run, the same change (every row
rewritten) is made twice: once as a single `UPDATE` of all rows, once by `migrate up` of a
revision that calls `migrator.batch.backfill`. It prints both durations and their ratio, and
the writer's maximum and 99th-percentile latency during each.

Aim: the writer's maximum latency under the backfill below 200 ms, and the backfill taking
less than twice the single UPDATE.

    python bench/bench_backfill.py [--rows N] [--batch-size K]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from bench_history import BIN, PROJECT_FILES, PROJECT_ROOT, fresh_database, server

from migrator import urls

WRITER = r"""
import json, random, sys, time, psycopg
dsn, rows, stop, output = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
samples = []
with psycopg.connect(dsn, autocommit=True) as connection:
    import os
    while not os.path.exists(stop):
        key = random.randint(1, rows)
        started = time.time()
        connection.execute("UPDATE erp.items SET hits = hits + 1 WHERE id = %s", (key,))
        samples.append((started, (time.time() - started) * 1000))
        time.sleep(0.002)
with open(output, "w") as handle:
    json.dump(samples, handle)
"""

REVISION = '''"""Backfill items.b

Migration: backfill items b
Service: erp-service
Author: Benchmark <bench@inopsio.example>
Date: 2030-01-01
Dependencies: []
"""

from migrator.revision import backfill, run_sql

revision = "20300101_001"
down_revision = None
branch_labels = ("erp",)
depends_on = None

UPGRADE = ""
DOWNGRADE = ""


def upgrade() -> None:
    backfill("erp.items", set="b = 'b' || id", where="b IS NULL", batch_size={batch_size})


def downgrade() -> None:
    pass
'''


def _project(folder: Path, batch_size: int) -> Path:
    folder.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, folder / name)
    versions = folder / "services" / "erp" / "versions"
    versions.mkdir(parents=True)
    (versions / "20300101_001_erp_backfill_items_b.py").write_text(
        REVISION.replace("{batch_size}", str(batch_size))
    )
    return folder


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _window(samples: list[list[float]], start: float, end: float) -> list[float]:
    return [latency for when, latency in samples if start <= when <= end]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    arguments = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-backfill-") as folder,
        server() as server_url,
        fresh_database(server_url) as url,
    ):
        dsn = urls.libpq_dsn(url)
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("CREATE SCHEMA erp")
            connection.execute(
                "CREATE TABLE erp.items (id bigint PRIMARY KEY, hits bigint NOT NULL DEFAULT 0, "
                "a text, b text)"
            )
            connection.execute(
                "INSERT INTO erp.items (id) SELECT generate_series(1, %s)", (arguments.rows,)
            )
            connection.execute("VACUUM ANALYZE erp.items")
        project = _project(Path(folder) / "project", arguments.batch_size)
        stop, output = Path(folder) / "stop", Path(folder) / "latencies.json"
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, dsn, str(arguments.rows), str(stop), str(output)]
        )
        time.sleep(1.0)

        single_start = time.time()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("UPDATE erp.items SET a = 'a' || id")
        single_end = time.time()
        time.sleep(1.0)

        batched_start = time.time()
        subprocess.run(
            [
                str(BIN / "migrate"),
                "up",
                "--project",
                str(project),
                "--database-url",
                url.render_as_string(hide_password=False),
            ],
            check=True,
            capture_output=True,
        )
        batched_end = time.time()
        time.sleep(0.5)
        stop.touch()
        writer.wait(timeout=60)
        samples = json.loads(output.read_text())

    single = _window(samples, single_start, single_end)
    batched = _window(samples, batched_start, batched_end)
    single_seconds, batched_seconds = single_end - single_start, batched_end - batched_start
    print(f"table: {arguments.rows} rows; backfill batch size {arguments.batch_size}")
    print(
        f"single UPDATE       {single_seconds:7.2f} s   writer: {len(single):5d} updates, "
        f"max {max(single, default=0):7.1f} ms, p99 {_percentile(single, 0.99):6.1f} ms"
    )
    print(
        f"batched backfill    {batched_seconds:7.2f} s   writer: {len(batched):5d} updates, "
        f"max {max(batched, default=0):7.1f} ms, p99 {_percentile(batched, 0.99):6.1f} ms"
    )
    print(
        f"backfill/single = {batched_seconds / single_seconds:.2f} (aim: below 2); "
        f"writer median {statistics.median(batched) if batched else 0:.1f} ms under backfill"
    )


if __name__ == "__main__":
    main()
