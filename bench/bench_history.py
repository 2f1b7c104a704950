"""How much the migration tool costs over the bare SQL and over a peer tool, on a long history.

A synthetic history (1,000 revisions by default) spread over the nine service branches, each
revision one CREATE TABLE and one index, every tenth one depending on another service's
latest revision, is written into a temporary project, and the same SQL into a script and into
a dbmate migrations folder. Each round applies it from an empty database four ways, in an
order that rotates every round, each on a fresh database after a CHECKPOINT:

  up       `migrate up`: the tool;
  psql     `psql --single-transaction -f` of the SQL concatenated: the floor, no tool at all;
  dbmate   `dbmate up` of one file per revision: a peer tool (one transaction per migration
           with its version row, as the tool does), installed from npm into bench/.peers/;
  alembic  `alembic upgrade heads`: what the tool wraps, which it must never be slower than.

Before the rounds, one untimed `migrate status` and `alembic heads` read the new files (their
cold times are printed: what the first command after a checkout costs), so that every round
finds the caches a developer's second command finds.

It prints, per round and as median (min-max) over the rounds, each side's wall seconds, its
client CPU (user+system of the tool's own process) and, on the embedded server, the server's
CPU, then the ratios up/psql, up/dbmate and up/alembic computed within each round. Then, on the
migrated database, `migrate status` against `alembic heads` (alternating), and `migrate status`
on the project's own history (a database migrated with the project's real revisions).

Every side runs as a subprocess, as an operator would type it, so start-up costs count. Only
the ratios are meaningful on a shared machine; seconds are there for context.

    python bench/bench_history.py [--revisions N] [--rounds K]
    python bench/bench_history.py --scale 1000,5000,10000

`--scale` instead runs `migrate up` and psql once each at every size and prints how wall and
CPU time grow: seconds per 1,000 revisions, and that figure relative to the smallest size's
(1.00 means linear growth).

The server is an embedded one started in a temporary folder, with max_locks_per_transaction
raised so that psql's one transaction can lock every table it creates; or BENCH_DATABASE_URL,
left as it is: when its lock table is too small for a size, only the psql side of that size is
skipped, with a message saying what to raise.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (
    BIN,
    PROJECT_FILES,
    PROJECT_ROOT,
    Sample,
    Server,
    Side,
    SideSkipped,
    Tally,
    checkpoint,
    fresh_database,
    lock_slots,
    print_ratios,
    print_sides,
    rotated,
    round_line,
    run_or_exit,
    sample,
    server,
    setting,
    text_url,
    tool_environment,
)
from sqlalchemy.engine import URL

from migrator import urls
from migrator.model import services
from migrator.ops import embedded

CROSS_SERVICE_EVERY = 10
REVISIONS_PER_DAY = 100  # ids are YYYYMMDD_NNN, so a day holds at most 999
# Objects one synthetic revision locks until its transaction ends (measured with pg_locks):
# the table, its TOAST table and TOAST index, its primary key, its name index, its identity
# sequence. psql's single transaction holds them all at once.
LOCKED_OBJECTS_PER_REVISION = 6
LOCK_HEADROOM = 1.5  # the server's own sessions lock things too
PEERS = Path(__file__).resolve().parent / ".peers"
DBMATE_PACKAGE = "dbmate@2.36.0"


# --- the synthetic history ------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticRevision:
    """One revision as every side applies it: the same SQL, whatever the tool."""

    revision: str
    upgrade: str
    downgrade: str


def _revision_id(index: int) -> str:
    day = datetime.date(2030, 1, 1) + datetime.timedelta(days=index // REVISIONS_PER_DAY)
    return f"{day:%Y%m%d}_{index % REVISIONS_PER_DAY + 1:03d}"


def _bodies(index: int, schema_name: str, first_of_service: bool) -> tuple[str, str]:
    schema = f'"{schema_name}"'  # quoted: `user` is a reserved word
    table = f"{schema}.bench_{index:05d}"
    upgrade = (
        (f"CREATE SCHEMA IF NOT EXISTS {schema};\n" if first_of_service else "")
        + f"CREATE TABLE IF NOT EXISTS {table} (\n"
        "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    name text NOT NULL,\n"
        "    created_at timestamptz NOT NULL DEFAULT now()\n"
        ");\n"
        f"CREATE INDEX IF NOT EXISTS idx_bench_{index:05d}_name ON {table} (name);\n"
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


def write_history(root: Path, count: int) -> list[SyntheticRevision]:
    """Write `count` revisions into a new project at `root`; return them in id order (an
    order every dependency respects, since a revision only depends on older ones)."""
    for name in PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, root / name)
    latest: dict[str, str] = {}
    written: list[SyntheticRevision] = []
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
        name = f"{revision}_{service.name}_synthetic_{index:05d}.py"
        (folder / name).write_text(
            _revision_file(revision, service, down_revision, depends_on, upgrade, downgrade)
        )
        latest[service.name] = revision
        written.append(SyntheticRevision(revision, upgrade, downgrade))
    return written


def write_script(path: Path, revisions: Sequence[SyntheticRevision]) -> Path:
    """The whole history as one SQL script, for psql."""
    path.write_text("".join(item.upgrade for item in revisions))
    return path


def write_dbmate_migrations(folder: Path, revisions: Sequence[SyntheticRevision]) -> Path:
    """The same history as dbmate migration files: the version is the revision id's digits,
    so dbmate's file order is the history's order."""
    folder.mkdir()
    for item in revisions:
        version = item.revision.replace("_", "")
        (folder / f"{version}_synthetic.sql").write_text(
            f"-- migrate:up\n{item.upgrade}\n-- migrate:down\n{item.downgrade}"
        )
    return folder


# --- the sides ------------------------------------------------------------------------------------


def dbmate_binary() -> Path | None:
    """dbmate's own Go binary from the npm package's platform package (not the package's
    Node wrapper, whose start-up would count against dbmate)."""
    found = sorted(PEERS.glob("node_modules/@dbmate/*/bin/dbmate"))
    return found[0] if found else None


def dbmate_url(url: URL) -> str:
    """The URL in the form dbmate's PostgreSQL driver reads; a Unix socket has no TLS."""
    query = dict(url.query)
    host = query.get("host")
    if "sslmode" not in query and (isinstance(host, str) and host.startswith("/")):
        query["sslmode"] = "disable"
    return text_url(url.set(drivername="postgres", query=query))


def sample_from_empty(running: Server, side: Side) -> Sample:
    """One run of `side` on a new empty database, after a CHECKPOINT so that no side pays
    for the dirty buffers the side before it left."""
    with fresh_database(running.url) as url:
        checkpoint(running.url)
        return sample(running, side, url)


def migrate(project: Path, command: str, url: URL) -> list[str]:
    """`migrate COMMAND` of `project` against `url`."""
    return [
        str(BIN / "migrate"),
        command,
        "--project",
        str(project),
        "--database-url",
        text_url(url),
    ]


@dataclass(frozen=True)
class Project:
    """The synthetic history in its three forms, and the sides that apply each."""

    folder: Path
    revisions: list[SyntheticRevision]
    script: Path
    dbmate_dir: Path

    @classmethod
    def write(cls, folder: Path, count: int) -> Project:
        folder.mkdir()
        revisions = write_history(folder, count)
        script = write_script(folder / "all.sql", revisions)
        return cls(folder, revisions, script, write_dbmate_migrations(folder / "db", revisions))

    def alembic(self, *arguments: str) -> list[str]:
        return [str(BIN / "alembic"), "-c", str(self.folder / "alembic.ini"), *arguments]

    def up(self) -> Side:
        return Side("up", "migrate up", lambda url: migrate(self.folder, "up", url))

    def psql(self) -> Side:
        psql = str(embedded.client_binary("psql"))
        return Side(
            "psql",
            "psql --single-transaction -f",
            lambda url: [
                psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-f",
                str(self.script),
                urls.libpq_dsn(url),
            ],
            skip_on="max_locks_per_transaction",
        )

    def dbmate(self, binary: Path) -> Side:
        # cwd is the project folder: dbmate reads a `.env` file from its working directory.
        return Side(
            "dbmate",
            "dbmate up",
            lambda url: [
                str(binary),
                "--url",
                dbmate_url(url),
                "--migrations-dir",
                str(self.dbmate_dir),
                "--no-dump-schema",
                "up",
            ],
            cwd=self.folder,
        )

    def alembic_upgrade(self) -> Side:
        return Side(
            "alembic",
            "alembic upgrade heads",
            lambda _url: self.alembic("upgrade", "heads"),
            lambda url: tool_environment(DATABASE_URL=text_url(url)),
        )


def psql_fits(running: Server, revisions: int) -> bool:
    """Whether psql's one transaction can lock every object of `revisions` on this server;
    says what to change when it cannot."""
    needed = revisions * LOCKED_OBJECTS_PER_REVISION
    slots = lock_slots(running.url)
    if needed * LOCK_HEADROOM <= slots:
        return True
    print(
        f"psql side skipped at {revisions} revisions: its one transaction locks about "
        f"{needed} objects, and the server's lock table holds {slots} "
        f"(max_locks_per_transaction {setting(running.url, 'max_locks_per_transaction')} per "
        f"connection). Raise max_locks_per_transaction to at least "
        f"{max_locks_for(revisions)} and restart the server to measure it.",
        flush=True,
    )
    return False


def max_locks_for(revisions: int) -> int:
    """The max_locks_per_transaction that fits `revisions` in one transaction, as a power of
    two no lower than PostgreSQL's default, on a server of 100 connections."""
    needed = revisions * LOCKED_OBJECTS_PER_REVISION * LOCK_HEADROOM / 100
    return max(64, 2 ** math.ceil(math.log2(max(needed, 1))))


# --- the measurements -----------------------------------------------------------------------------


def warm_up(running: Server, project: Project) -> None:
    """Read the new history once with each Python tool, untimed, so that every measured round
    finds what a developer's second run finds: the tool's revision cache filled, Alembic's
    revision modules compiled, the files in the page cache. The cold figures are printed:
    they are what the first command after a checkout costs."""
    with fresh_database(running.url) as url:
        cold = {
            "migrate status": sample(
                running, Side("cold", "", lambda url: migrate(project.folder, "status", url)), url
            ),
            "alembic heads": sample(
                running, Side("cold", "", lambda _url: project.alembic("heads")), url
            ),
        }
    print(
        "warm-up, untimed (first read of the files): "
        + "  ".join(
            f"{name} {item.seconds:.2f} s (cpu {item.cpu_seconds:.2f})"
            for name, item in cold.items()
        ),
        flush=True,
    )


def compare(running: Server, project: Project, rounds: int) -> None:
    """The four ways to apply the history, in rotating order."""
    warm_up(running, project)
    planned = [project.up(), project.psql(), project.alembic_upgrade()]
    binary = dbmate_binary()
    if binary is None:
        print(
            f"dbmate side skipped: no dbmate in {PEERS.name}/; install it with "
            f"`npm install --prefix bench/.peers {DBMATE_PACKAGE}` (make bench does)"
        )
    else:
        planned.insert(2, project.dbmate(binary))
    sides = [
        side for side in planned if side.key != "psql" or psql_fits(running, len(project.revisions))
    ]
    tally = Tally()
    for number in range(rounds):
        done: dict[str, Sample] = {}
        for side in rotated(sides, number):
            try:
                done[side.key] = sample_from_empty(running, side)
            except SideSkipped as skipped:
                print(skipped, flush=True)
                sides.remove(side)
        tally.rounds.append(done)
        print(round_line(f"round {number + 1}", done), flush=True)
    print()
    print(
        f"apply {len(project.revisions)} revisions from an empty database "
        f"({rounds} rounds, rotating order):"
    )
    print_sides(tally, planned)
    print_ratios(
        tally,
        [
            ("up", "psql", False),
            ("up", "dbmate", False),
            ("up", "alembic", False),
            ("up", "alembic", True),
        ],
    )


def compare_reading(running: Server, project: Project, rounds: int) -> None:
    """`migrate status` against `alembic heads` on the migrated history, alternating; and
    `migrate status` of the project's own history, on a database it migrated."""
    own_count = sum(
        len(list(service.versions_dir(PROJECT_ROOT).glob("*.py"))) for service in services.SERVICES
    )
    sides = [
        Side("status", "migrate status", lambda url: migrate(project.folder, "status", url)),
        Side("heads", "alembic heads", lambda _url: project.alembic("heads")),
        Side(
            "own",
            f"migrate status, own {own_count} rev.",
            lambda url: migrate(PROJECT_ROOT, "status", url),
        ),
    ]
    with fresh_database(running.url) as url, fresh_database(running.url) as own_url:
        run_or_exit(migrate(project.folder, "up", url), tool_environment())
        run_or_exit(migrate(PROJECT_ROOT, "up", own_url), tool_environment())
        tally = Tally()
        for number in range(rounds):
            done: dict[str, Sample] = {}
            for side in rotated(sides, number):
                done[side.key] = sample(running, side, own_url if side.key == "own" else url)
            tally.rounds.append(done)
            print(round_line(f"round {number + 1}", done), flush=True)
    print()
    print(f"read the history of {len(project.revisions)} revisions ({rounds} rounds, rotating):")
    print_sides(tally, sides)
    print_ratios(tally, [("status", "heads", False), ("status", "heads", True)])


def scale(running: Server, folder: Path, sizes: Sequence[int]) -> None:
    """`migrate up` and psql once at each size, and how their times grow with it."""
    rows: list[tuple[int, str, Sample]] = []
    for position, size in enumerate(sizes):
        project = Project.write(folder / f"scale-{size}", size)
        warm_up(running, project)
        sides = [project.up()]
        if psql_fits(running, size):
            sides.append(project.psql())
        for side in rotated(sides, position):
            try:
                measured = sample_from_empty(running, side)
            except SideSkipped as skipped:
                print(skipped, flush=True)
                continue
            rows.append((size, side.key, measured))
            print(round_line(f"{size} revisions", {side.key: measured}), flush=True)
        shutil.rmtree(project.folder)
    print()
    print("growth with the history's length (one run per side and size; 1.00 = linear):")
    print(
        f"{'revisions':>9} {'side':6} {'wall s':>8} {'s/1000':>7} {'vs lin':>6} "
        f"{'cpu s':>8} {'cpu/1000':>8} {'vs lin':>6} {'server s':>8}"
    )
    for key in ("up", "psql"):
        mine = [(size, item) for size, side, item in rows if side == key]
        if not mine:
            continue
        first_size, first = mine[0]
        base = first.seconds / first_size * 1000
        cpu_base = first.cpu_seconds / first_size * 1000
        for size, item in mine:
            per_k = item.seconds / size * 1000
            cpu_per_k = item.cpu_seconds / size * 1000
            server_cpu = (
                f"{item.server_cpu_seconds:8.2f}" if item.server_cpu_seconds is not None else "-"
            )
            print(
                f"{size:9d} {key:6} {item.seconds:8.2f} {per_k:7.2f} {per_k / base:6.2f} "
                f"{item.cpu_seconds:8.2f} {cpu_per_k:8.2f} "
                f"{cpu_per_k / cpu_base if cpu_base else 0:6.2f} {server_cpu:>8}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every side, rotating")
    parser.add_argument(
        "--scale",
        type=lambda text: sorted(int(part) for part in text.split(",")),
        help="comma-separated sizes: run migrate up and psql once at each (e.g. 1000,5000,10000)",
    )
    arguments = parser.parse_args()
    largest = max(arguments.scale) if arguments.scale else arguments.revisions

    with (
        tempfile.TemporaryDirectory(prefix="bench-history-") as folder,
        server(max_locks_for(largest)) as running,
    ):
        print(
            f"server: PostgreSQL {setting(running.url, 'server_version')}, "
            f"{'embedded' if running.pgdata else 'BENCH_DATABASE_URL'}, "
            f"max_locks_per_transaction {setting(running.url, 'max_locks_per_transaction')}; "
            f"history over {len(services.SERVICES)} branches",
            flush=True,
        )
        if arguments.scale:
            scale(running, Path(folder), arguments.scale)
            return
        project = Project.write(Path(folder) / "project", arguments.revisions)
        compare(running, project, arguments.rounds)
        print()
        compare_reading(running, project, arguments.rounds)
        if running.pgdata is None:
            print("(server CPU is measured on the embedded server only)")


if __name__ == "__main__":
    main()
