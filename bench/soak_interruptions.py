"""Soak: `migrate up` killed with SIGKILL at random moments, then run to completion.

The tests kill a run at a few chosen points; a migrator in the wild is killed wherever it
happens to be (an OOM kill, a node going away, a deploy's hard timeout). This script kills it at
random moments, many times, and checks each time that the next `migrate up` leaves the
database exactly as a clean build does, with a history that tells the truth.

Each round starts `migrate up` of the platform's history plus three slow revisions of auth (a
table with rows; a `CREATE INDEX CONCURRENTLY` on it between two transactional statements; a
backfill with pauses between its slices) on a fresh database, sends SIGKILL after a random delay
within the run's expected duration (measured by a clean build first), waits for the killed
run's backend to go, then runs `migrate up` to completion and checks:

- it exits 0;
- the services' schemas equal the clean build's;
- the version table holds every head, once; the history one `success` row per revision;
- no history row is left `running`, and every try the kill cut short is `interrupted`;
- the backfill visited every row exactly once, and the index is valid.

It prints one line per round, then `N consistent / N tried` and what differed in the rounds that
were not. The server is an embedded one started in a temporary folder, or BENCH_DATABASE_URL
(a local server only: the script creates and drops databases on it).

    python bench/soak_interruptions.py [--rounds N] [--rows R] [--seed S] [--max-minutes M]
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common import BIN, PROJECT_ROOT, fresh_database, server
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from migrator import urls
from migrator.checks import catalog
from migrator.database import APPLICATION_NAME
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.run.history import VANISHED

PROJECT_FILES = (
    "alembic.ini",
    "env.py",
    "script.py.mako",
    "pyproject.toml",
    "migration-dependencies.yml",
)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
TABLE_REVISION, INDEX_REVISION, BACKFILL_REVISION = "20300101_001", "20300101_002", "20300101_003"
SOAK_TABLE = "auth.soak_items"
SOAK_INDEX = "idx_soak_items_label"
RUN_TIMEOUT_SECONDS = 300.0  # a completion run that takes longer counts as hung
BACKEND_GONE_SECONDS = 30.0  # how long a killed run's backend may take to notice
POLL_SECONDS = 0.05

REVISION = '''"""{title}

Migration: {title_lower}
Service: auth-service
Author: Soak <soak@inopsio.example>
Date: 2030-01-01
Dependencies: []
"""

from migrator.revision import backfill, run_sql

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = ()
depends_on = None
{settings}
UPGRADE = """{upgrade}"""

DOWNGRADE = """{downgrade}"""


def upgrade() -> None:
    {upgrade_call}


def downgrade() -> None:
    run_sql(DOWNGRADE)
'''


def _revision(
    project: Path,
    revision: str,
    down_revision: str,
    title: str,
    *,
    upgrade: str = "",
    downgrade: str = "SELECT 1;",
    upgrade_call: str = "run_sql(UPGRADE)",
    settings: str = "",
) -> None:
    """Write one revision of auth in the house format."""
    slug = "_".join(title.lower().split()[:4])
    path = project / "services" / "auth" / "versions" / f"{revision}_auth_{slug}.py"
    path.write_text(
        REVISION.format(
            title=title,
            title_lower=title.lower(),
            revision=revision,
            down_revision=down_revision,
            settings=settings,
            upgrade=upgrade,
            downgrade=downgrade,
            upgrade_call=upgrade_call,
        )
    )


def write_project(folder: Path, rows: int) -> Path:
    """A copy of the platform's project with three slow revisions after auth's head: a table
    of `rows` rows; a CONCURRENTLY index between two transactional statements (what commits
    before the revision does); a backfill walking the table with pauses between slices."""
    project = folder / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, project / name)
    shutil.copytree(
        PROJECT_ROOT / "services",
        project / "services",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    graph = RevisionGraph.load(PROJECT_ROOT)
    auth_head = graph.branch(services.resolve("auth"))[-1].id
    _revision(
        project,
        TABLE_REVISION,
        auth_head,
        "Create soak items",
        upgrade=f"""
CREATE TABLE {SOAK_TABLE} (
    id bigint PRIMARY KEY, label text NOT NULL, visits integer NOT NULL DEFAULT 0
);
INSERT INTO {SOAK_TABLE} (id, label) SELECT g, md5(g::text) FROM generate_series(1, {rows}) AS g;
""",
        downgrade=f"DROP TABLE IF EXISTS {SOAK_TABLE};",
    )
    _revision(
        project,
        INDEX_REVISION,
        TABLE_REVISION,
        "Index soak items by label",
        upgrade=f"""
CREATE TABLE {SOAK_TABLE}_notes (id bigint PRIMARY KEY);
CREATE INDEX CONCURRENTLY {SOAK_INDEX} ON {SOAK_TABLE} (label);
ALTER TABLE {SOAK_TABLE}_notes ADD COLUMN body text;
""",
        downgrade=f"""
DROP INDEX CONCURRENTLY IF EXISTS auth.{SOAK_INDEX};
DROP TABLE IF EXISTS {SOAK_TABLE}_notes;
""",
    )
    batch_size = max(100, rows // 40)
    _revision(
        project,
        BACKFILL_REVISION,
        INDEX_REVISION,
        "Visit soak items",
        downgrade=f"UPDATE {SOAK_TABLE} SET visits = 0;",
        upgrade_call=(
            f'backfill("{SOAK_TABLE}", set="visits = visits + 1", '
            f"batch_size={batch_size}, pause=0.05)"
        ),
    )
    return project


def migrate_up(project: Path, url: URL) -> list[str]:
    return [
        str(BIN / "migrate"),
        "up",
        "--project",
        str(project),
        "--database-url",
        url.render_as_string(hide_password=False),
    ]


@contextmanager
def connected(url: URL) -> Iterator[Connection]:
    """A plain connection (not named like the migrator's, so it never counts as one)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def wait_for_migrator_backends_to_go(url: URL) -> bool:
    """Wait (bounded) until no backend of a `migrate` process is left on the database: only
    then is what the killed run did final (a COMMIT it sent just before dying still lands)."""
    deadline = time.monotonic() + BACKEND_GONE_SECONDS
    with connected(url) as connection:
        while time.monotonic() < deadline:
            left = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = %s",
                (APPLICATION_NAME,),
            ).scalar()
            connection.commit()
            if not left:
                return True
            time.sleep(POLL_SECONDS)
    return False


def running_tries(url: URL) -> dict[int, str]:
    """History rows still `running` (id: revision); none when the tool's tables are missing."""
    with connected(url) as connection:
        if not connection.exec_driver_sql(
            "SELECT to_regclass('migrator.migration_history') IS NOT NULL"
        ).scalar():
            return {}
        rows = connection.exec_driver_sql(
            "SELECT id, revision FROM migrator.migration_history WHERE outcome = 'running'"
        ).all()
    return {row_id: revision for row_id, revision in rows}


@dataclass(frozen=True)
class CleanBuild:
    """What every round must end equal to, and how long an uninterrupted run takes."""

    schema: catalog.Snapshot
    seconds: float
    revisions: frozenset[str]
    heads: frozenset[str]


def clean_build(project: Path, server_url: URL) -> CleanBuild:
    graph = RevisionGraph.load(project)
    with fresh_database(server_url) as url:
        started = time.monotonic()
        result = subprocess.run(
            migrate_up(project, url), capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
        )
        seconds = time.monotonic() - started
        if result.returncode != 0:
            sys.exit(f"the clean build failed ({result.returncode}):\n{result.stderr[-3000:]}")
        with connected(url) as connection:
            schema = catalog.snapshot(connection, [s.schema for s in services.SERVICES])
    return CleanBuild(
        schema,
        seconds,
        frozenset(graph.revisions),
        frozenset(graph.heads_of(set(graph.revisions))),
    )


@dataclass
class Round:
    """One kill and the run that completed after it."""

    number: int
    delay: float
    killed: bool = False  # False: the run had finished before the signal was due
    cut_short: dict[int, str] = field(default_factory=dict)
    completion_seconds: float = 0.0
    differences: list[str] = field(default_factory=list)

    def describe(self, rounds: int, expected: float) -> str:
        if not self.killed:
            moment = f"not killed (done before {self.delay:.2f}s)"
        else:
            tries = ", ".join(sorted(set(self.cut_short.values()))) or "no try under way"
            moment = f"killed at {self.delay:5.2f}s of ~{expected:.1f}s ({tries})"
        verdict = "consistent" if not self.differences else "INCONSISTENT"
        return (
            f"round {self.number:>{len(str(rounds))}}/{rounds}: {moment}; "
            f"next up {self.completion_seconds:.1f}s: {verdict}"
        )


def check(url: URL, reference: CleanBuild, interrupted_round: Round, output: str) -> list[str]:
    """What differs from a consistent end state after the completion run."""
    found = []
    with connected(url) as connection:
        schema = catalog.snapshot(connection, [s.schema for s in services.SERVICES])
        found += catalog.object_differences(reference.schema, schema, "the clean build", "here")
        versions = list(
            connection.exec_driver_sql("SELECT version_num FROM migrator.alembic_version").scalars()
        )
        if Counter(versions) != Counter(reference.heads):
            found.append(
                f"version table {sorted(versions)}, expected each head once: "
                f"{sorted(reference.heads)}"
            )
        history = connection.exec_driver_sql(
            "SELECT id, revision, outcome, error_message FROM migrator.migration_history "
            "ORDER BY id"
        ).all()
        visits = dict(
            connection.exec_driver_sql(
                f"SELECT visits, count(*) FROM {SOAK_TABLE} GROUP BY visits"
            ).all()
        )
        index_valid = connection.exec_driver_sql(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
            (f"auth.{SOAK_INDEX}",),
        ).scalar()
    successes = Counter(row.revision for row in history if row.outcome == "success")
    if successes != Counter(reference.revisions):
        twice = sorted(rev for rev, count in successes.items() if count > 1)
        missing = sorted(reference.revisions - set(successes))
        found.append(f"success rows: applied twice {twice}, never {missing}")
    still_running = [f"{row.id} ({row.revision})" for row in history if row.outcome == "running"]
    if still_running:
        found.append(f"rows left running: {', '.join(still_running)}")
    outcome_of = {row.id: (row.outcome, row.error_message) for row in history}
    for row_id, revision in interrupted_round.cut_short.items():
        if outcome_of.get(row_id) != ("interrupted", VANISHED):
            found.append(f"the killed try of {revision} (row {row_id}) is {outcome_of.get(row_id)}")
    interrupted = [row.id for row in history if row.outcome == "interrupted"]
    if sorted(interrupted) != sorted(interrupted_round.cut_short):
        found.append(
            f"interrupted rows {interrupted}, expected the killed tries "
            f"{sorted(interrupted_round.cut_short)}"
        )
    if len(visits) != 1 or 1 not in visits:
        found.append(f"backfill visits per row: {visits} (expected every row exactly once)")
    if index_valid is not True:
        found.append(f"index auth.{SOAK_INDEX}: valid is {index_valid}")
    if interrupted_round.cut_short and "recorded as interrupted" not in output:
        found.append("the completion run did not say it recorded the killed try as interrupted")
    return found


def soak_round(
    number: int, project: Path, server_url: URL, reference: CleanBuild, chance: random.Random
) -> Round:
    """Kill one run at a random moment, complete it, and check the result."""
    this = Round(number, delay=chance.uniform(0, reference.seconds))
    with fresh_database(server_url) as url:
        killed_run = subprocess.Popen(
            migrate_up(project, url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            killed_run.wait(timeout=this.delay)
        except subprocess.TimeoutExpired:
            killed_run.send_signal(signal.SIGKILL)
            this.killed = True
        finally:
            killed_run.wait(timeout=RUN_TIMEOUT_SECONDS)
        if not wait_for_migrator_backends_to_go(url):
            this.differences.append(
                f"the killed run's backend was still there {BACKEND_GONE_SECONDS:.0f}s later"
            )
        this.cut_short = running_tries(url)
        started = time.monotonic()
        completion = subprocess.Popen(
            migrate_up(project, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            output, _ = completion.communicate(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            completion.kill()
            output, _ = completion.communicate()
            this.differences.append(f"the completion run hung for {RUN_TIMEOUT_SECONDS:.0f}s")
        this.completion_seconds = time.monotonic() - started
        if completion.returncode != 0:
            last = output.strip().splitlines()[-1:] or ["(no output)"]
            this.differences.append(f"the completion run exited {completion.returncode}: {last[0]}")
            return this
        this.differences += check(url, reference, this, output)
    return this


def refuse_remote(server_url: URL) -> None:
    """The soak creates and drops databases: only ever on this machine."""
    host = server_url.host or ""
    socket_only = not host or host.startswith("/")
    if not socket_only and host not in LOCAL_HOSTS:
        sys.exit(f"BENCH_DATABASE_URL names {host}: the soak talks to local servers only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the slow table")
    parser.add_argument("--seed", type=int, default=None, help="repeat a soak's kill moments")
    parser.add_argument(
        "--max-minutes", type=float, default=60.0, help="start no round after this long"
    )
    arguments = parser.parse_args()
    seed = arguments.seed if arguments.seed is not None else random.randrange(2**31)
    chance = random.Random(seed)
    deadline = time.monotonic() + arguments.max_minutes * 60

    with tempfile.TemporaryDirectory(prefix="soak-interruptions-") as folder, server() as running:
        url = running.url
        refuse_remote(url)
        project = write_project(Path(folder), arguments.rows)
        reference = clean_build(project, url)
        print(
            f"soak: {arguments.rounds} rounds, seed {seed}, {len(reference.revisions)} "
            f"revisions, clean build {reference.seconds:.1f}s on {urls.redacted(url)}",
            flush=True,
        )
        rounds: list[Round] = []
        for number in range(1, arguments.rounds + 1):
            if time.monotonic() > deadline:
                print(f"stopped after {arguments.max_minutes:g} minutes", flush=True)
                break
            done = soak_round(number, project, url, reference, chance)
            rounds.append(done)
            print(done.describe(arguments.rounds, reference.seconds), flush=True)

    consistent = [r for r in rounds if not r.differences]
    print(f"{len(consistent)} consistent / {len(rounds)} tried")
    for inconsistent in (r for r in rounds if r.differences):
        print(f"round {inconsistent.number} (killed at {inconsistent.delay:.2f}s):")
        for difference in inconsistent.differences:
            print(f"  - {difference}")
    if len(consistent) != len(rounds):
        sys.exit(1)


if __name__ == "__main__":
    main()
