"""How much the migration tool costs over the bare SQL, on a long history.

A synthetic history of 1,000 revisions spread over the nine service branches (each one CREATE
TABLE and one index, every tenth one depending on another service's latest revision) is written
into a temporary project. In one run, on one server, it measures:

  (a) `migrate up` from an empty database, against
  (b) `psql --single-transaction -f` of the same SQL concatenated: the floor, no tool at all;
  (c) `migrate status`, against `alembic heads`: reading the history, with and without a database;
  and, so that the tool is never worse than what it wraps, (a) against `alembic upgrade heads`.

Both sides run as subprocesses, as an operator would type them, so start-up costs count. Only the
ratios are meaningful on a shared machine; the seconds are printed for context.

    python bench/bench_history.py [--revisions N] [--repeat K]

The server is the embedded one (started in a temporary folder) unless BENCH_DATABASE_URL names
another.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from migrator import urls
from migrator.model import services
from migrator.ops import embedded

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROJECT_FILES = ("alembic.ini", "env.py", "script.py.mako", "pyproject.toml")
CROSS_SERVICE_EVERY = 10
REVISIONS_PER_DAY = 100  # ids are YYYYMMDD_NNN, so a day holds at most 999


def _revision_id(index: int) -> str:
    day = datetime.date(2030, 1, 1) + datetime.timedelta(days=index // REVISIONS_PER_DAY)
    return f"{day:%Y%m%d}_{index % REVISIONS_PER_DAY + 1:03d}"


def _bodies(index: int, schema_name: str, first_of_service: bool) -> tuple[str, str]:
    schema = f'"{schema_name}"'  # quoted: `user` is a reserved word
    table = f"{schema}.bench_{index:04d}"
    upgrade = (
        (f"CREATE SCHEMA IF NOT EXISTS {schema};\n" if first_of_service else "")
        + f"CREATE TABLE IF NOT EXISTS {table} (\n"
        "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    name text NOT NULL,\n"
        "    created_at timestamptz NOT NULL DEFAULT now()\n"
        ");\n"
        f"CREATE INDEX IF NOT EXISTS idx_bench_{index:04d}_name ON {table} (name);\n"
    )
    downgrade = f"DROP TABLE IF EXISTS {table};\n" + (
        f"DROP SCHEMA IF EXISTS {schema};\n" if first_of_service else ""
    )
    return upgrade, downgrade


def _revision_file(
    revision: str,
    service: services.Service,
    down_revision: str | None,
    depends_on: list[str],
    upgrade: str,
    downgrade: str,
) -> str:
    label = f'("{service.name}",)' if down_revision is None else "()"
    return f'''"""Synthetic benchmark revision {revision}

Migration: synthetic benchmark revision {revision}
Service: {service.display_name}
Author: Benchmark <bench@inopsio.example>
Date: 2030-01-01
Dependencies: {json.dumps(depends_on)}
"""

from migrator.revision import run_sql

revision = "{revision}"
down_revision = {down_revision!r}
branch_labels = {label}
depends_on = {tuple(depends_on)!r}

UPGRADE = """
{upgrade}"""

DOWNGRADE = """
{downgrade}"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
'''


def write_history(root: Path, count: int) -> str:
    """Write `count` revisions into a new project at `root`; return their SQL concatenated."""
    for name in PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, root / name)
    latest: dict[str, str] = {}
    concatenated: list[str] = []
    for index in range(count):
        service = services.SERVICES[index % len(services.SERVICES)]
        revision = _revision_id(index)
        down_revision = latest.get(service.name)
        others = [rev for name, rev in latest.items() if name != service.name]
        depends_on = (
            [others[index % len(others)]] if others and index % CROSS_SERVICE_EVERY == 0 else []
        )
        upgrade, downgrade = _bodies(index, service.schema, down_revision is None)
        folder = service.versions_dir(root)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{revision}_{service.name}_synthetic_{index:04d}.py"
        (folder / name).write_text(
            _revision_file(revision, service, down_revision, depends_on, upgrade, downgrade)
        )
        latest[service.name] = revision
        concatenated.append(upgrade)
    return "".join(concatenated)


@contextlib.contextmanager
def server() -> Iterator[URL]:
    configured = os.environ.get("BENCH_DATABASE_URL")
    if configured:
        yield urls.normalize(configured)
        return
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as folder:
        pgdata = Path(folder) / "pgdata"
        try:
            yield embedded.start(pgdata)
        finally:
            embedded.stop(pgdata)


@contextlib.contextmanager
def fresh_database(server_url: URL) -> Iterator[URL]:
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


def timed(command: list[str], **options: object) -> float:
    """Seconds one run of `command` takes; a failure stops the benchmark with its output."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, **options)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def median_of(repeat: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median counts")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder, server() as server_url:
        project = Path(folder)
        script = project / "all.sql"
        script.write_text(write_history(project, arguments.revisions))
        migrate = [str(BIN / "migrate")]
        project_option = ["--project", str(project)]
        alembic = [str(BIN / "alembic"), "-c", str(project / "alembic.ini")]
        psql = str(embedded.client_binary("psql"))

        def migrate_up() -> float:
            with fresh_database(server_url) as url:
                return timed([*migrate, "up", *project_option, "--database-url", _text(url)])

        def psql_file() -> float:
            with fresh_database(server_url) as url:
                dsn = urls.libpq_dsn(url)
                return timed(
                    [
                        psql,
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "--single-transaction",
                        "-f",
                        str(script),
                        dsn,
                    ]
                )

        def alembic_upgrade() -> float:
            with fresh_database(server_url) as url:
                environment = {**os.environ, "DATABASE_URL": _text(url)}
                return timed([*alembic, "upgrade", "heads"], env=environment)

        up_seconds = median_of(arguments.repeat, migrate_up)
        alembic_seconds = median_of(arguments.repeat, alembic_upgrade)
        psql_seconds = median_of(arguments.repeat, psql_file)
        with fresh_database(server_url) as url:
            timed([*migrate, "up", *project_option, "--database-url", _text(url)])
            status_seconds = median_of(
                arguments.repeat,
                lambda: timed([*migrate, "status", *project_option, "--database-url", _text(url)]),
            )
        heads_seconds = median_of(
            arguments.repeat,
            lambda: timed([*alembic, "heads"]),
        )

    print(
        f"history: {arguments.revisions} revisions over {len(services.SERVICES)} branches, "
        f"median of {arguments.repeat} runs each"
    )
    print(f"(a) migrate up from empty        {up_seconds:8.2f} s")
    print(f"    alembic upgrade heads        {alembic_seconds:8.2f} s")
    print(f"(b) psql --single-transaction -f {psql_seconds:8.2f} s")
    print(f"(c) migrate status               {status_seconds:8.2f} s")
    print(f"    alembic heads                {heads_seconds:8.2f} s")
    print(
        f"a/b = {up_seconds / psql_seconds:.1f}   "
        f"a/(alembic upgrade heads) = {up_seconds / alembic_seconds:.2f}   "
        f"c/(alembic heads) = {status_seconds / heads_seconds:.2f}"
    )


def _text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
