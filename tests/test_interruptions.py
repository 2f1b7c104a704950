"""A `migrate up` stopped by a signal at any point leaves a database the next `up` completes,
and a history that says what happened.

Every case runs `migrate up` as a real process, waits until the server shows the chosen point
under way (pg_stat_activity, who blocks whom, the checkpoint table), sends the signal and then runs
`up` again. SIGINT and SIGTERM must end the run the way the tool promises (exit 130 / 143, one
`error:` line, no traceback, the try recorded as interrupted); SIGKILL leaves a `running` row
that the next run closes. Whatever the signal, the result must be the schema a clean build
gives, every head applied, statements that committed before the signal not run twice, and one
`interrupted` row followed by one `success` row for the revision that was cut short.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    history_rows,
    migrate_process,
    run_migrate,
    schema_of,
)
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator.database import APPLICATION_NAME
from migrator.model.graph import RevisionGraph
from migrator.run.history import VANISHED

TABLE_REVISION, SLOW_REVISION = "20240701_001", "20240701_002"
PROBE_TABLE = "auth.interruption_probe"
PROBE_INDEX = "idx_interruption_probe_label"
SLEEP = "SELECT pg_sleep(30)"
WAIT_SECONDS = 60.0  # how long any bounded poll waits for the server to reach a state
# How long an interrupted run's statement may outlive its process: PostgreSQL checks that the
# client is still there every second (client_connection_check_interval); the rest is margin.
ORPHAN_SECONDS = 10.0
POLL_SECONDS = 0.05

EXIT_CODES = {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}


def _wait_until(
    url: URL,
    what: str,
    reached: Callable[[Connection], bool],
    seconds: float = WAIT_SECONDS,
    run: subprocess.Popen | None = None,
) -> None:
    """Poll the server (bounded) until `reached` says the state arrived; fail saying `what`
    never happened otherwise, at once if the `run` it waits on has ended."""
    deadline = time.monotonic() + seconds
    with connection_to(url) as connection:
        while time.monotonic() < deadline:
            arrived = reached(connection)
            connection.commit()
            if arrived:
                return
            if run is not None and run.poll() is not None:
                raise AssertionError(f"the run ended (exit {run.returncode}) before {what}")
            time.sleep(POLL_SECONDS)
    raise AssertionError(f"{what} did not happen within {seconds:.0f}s")


def _statement_active(text: str) -> Callable[[Connection], bool]:
    """Whether a session of this database is running `text` now (alone, or as part of the
    batch that carries a revision's statements)."""

    def reached(connection: Connection) -> bool:
        return bool(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND position(%s in query) > 0",
                (text,),
            ).scalar()
        )

    return reached


def _wait_for_the_runs_statement_to_end(url: URL) -> None:
    """Wait (bounded) until no backend of a `migrate` process is left on the database.

    SIGINT and SIGTERM promise the statement under way is cancelled; after SIGKILL, PostgreSQL
    cancels the orphaned statement once `client_connection_check_interval` notices the client
    is gone. Either way a backend still running the statement well after the process ended
    holds its locks and its transaction, and makes the next run wait for as long as the
    statement lasts."""
    lingering: list[str] = []

    def gone(connection: Connection) -> bool:
        lingering[:] = [
            f"pid {pid} {state}: {query}"
            for pid, state, query in connection.exec_driver_sql(
                "SELECT pid, state, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s "
                "AND pid <> pg_backend_pid()",
                (APPLICATION_NAME,),
            )
        ]
        return not lingering

    try:
        _wait_until(url, "the interrupted run's backend ending", gone, ORPHAN_SECONDS)
    except AssertionError:
        raise AssertionError(
            f"{ORPHAN_SECONDS:.0f}s after the process ended, its backend still runs: {lingering}"
        ) from None


class Point:
    """Where in a run the signal lands: what the project copy gets, what must be in place
    before the run, how the server shows the point under way, what lets the next run through,
    and what that next run must show besides the common checks."""

    # The revision whose try the signal cuts short; None when no revision is running.
    interrupted_revision: str | None = SLOW_REVISION

    def write(self, project: Path) -> None:
        """Add what the point needs to the project copy."""
        raise NotImplementedError

    def before_run(self, project: Path, url: URL, cleanup: contextlib.ExitStack) -> None:
        """What the run needs from the database before it starts (nothing by default)."""

    def wait_until_under_way(self, url: URL, run: subprocess.Popen) -> None:
        """Return once the server shows the run at the point (bounded)."""
        raise NotImplementedError

    def let_the_next_run_through(self, project: Path) -> None:
        """Remove what made the point slow (nothing by default)."""

    def check_the_next_run(self, url: URL, output: str) -> None:
        """What the point promises beyond the schema and the history (nothing by default)."""


class TransactionalStatement(Point):
    """A statement in the revision's transaction: the whole try must roll back."""

    def __init__(self) -> None:
        self.revision_file: Path | None = None

    def write(self, project: Path) -> None:
        self.revision_file = add_revision(
            project,
            "auth",
            SLOW_REVISION,
            down_revision=head_of("auth"),
            upgrade=f"""
CREATE TABLE {PROBE_TABLE} (id bigint PRIMARY KEY);
{SLEEP};
""",
            downgrade=f"DROP TABLE IF EXISTS {PROBE_TABLE};",
        )

    def wait_until_under_way(self, url: URL, run: subprocess.Popen) -> None:
        _wait_until(url, f"`{SLEEP}` running", _statement_active(SLEEP), run=run)

    def let_the_next_run_through(self, project: Path) -> None:
        # The revision was never applied, so editing its body is not a checksum change.
        assert self.revision_file is not None
        self.revision_file.write_text(self.revision_file.read_text().replace(f"{SLEEP};", ""))


class ConcurrentIndex(Point):
    """A `CREATE INDEX CONCURRENTLY` waiting for a writer's open transaction: the statements
    before it committed (they must be skipped next time), the index it began is INVALID (it
    must be dropped and built again)."""

    def __init__(self) -> None:
        self.writer: Connection | None = None
        self.writer_pid = 0

    def write(self, project: Path) -> None:
        add_revision(
            project,
            "auth",
            TABLE_REVISION,
            down_revision=head_of("auth"),
            upgrade=f"""
CREATE TABLE {PROBE_TABLE} (id bigint PRIMARY KEY, label text);
INSERT INTO {PROBE_TABLE} SELECT g, 'label ' || g FROM generate_series(1, 2000) AS g;
""",
            downgrade=f"DROP TABLE IF EXISTS {PROBE_TABLE};",
        )
        add_revision(
            project,
            "auth",
            SLOW_REVISION,
            down_revision=TABLE_REVISION,
            upgrade=f"""
CREATE TABLE {PROBE_TABLE}_notes (id bigint PRIMARY KEY);
CREATE INDEX CONCURRENTLY {PROBE_INDEX} ON {PROBE_TABLE} (label);
""",
            downgrade=f"DROP INDEX CONCURRENTLY IF EXISTS auth.{PROBE_INDEX};",
            # lock_timeout also bounds the build's wait for the writer: let it wait.
            settings='lock_timeout = "60s"\n',
        )

    def before_run(self, project: Path, url: URL, cleanup: contextlib.ExitStack) -> None:
        done = run_migrate("up", "--version", TABLE_REVISION, project=project, url=url)
        assert done.exit_code == 0, done.output
        self.writer = cleanup.enter_context(connection_to(url))
        self.writer.exec_driver_sql(f"INSERT INTO {PROBE_TABLE} VALUES (0, 'uncommitted')")
        self.writer_pid = int(self.writer.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        cleanup.callback(self._release_writer)

    def wait_until_under_way(self, url: URL, run: subprocess.Popen) -> None:
        # This build, blocked by this writer: the platform's own CONCURRENTLY builds wait
        # briefly for any snapshot, the poll's included, and must not be taken for it.
        def build_waits_for_the_writer(connection: Connection) -> bool:
            return bool(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE %s AND %s = ANY(pg_blocking_pids(pid))",
                    (f"CREATE INDEX CONCURRENTLY {PROBE_INDEX} %", self.writer_pid),
                ).scalar()
            )

        what = "CREATE INDEX CONCURRENTLY waiting for the writer"
        _wait_until(url, what, build_waits_for_the_writer, run=run)

    def let_the_next_run_through(self, project: Path) -> None:
        self._release_writer()

    def _release_writer(self) -> None:
        if self.writer is not None and not self.writer.closed:
            self.writer.rollback()

    def check_the_next_run(self, url: URL, output: str) -> None:
        assert f"skipped `CREATE TABLE {PROBE_TABLE}_notes" in output
        assert "dropped INVALID index" in output
        with connection_to(url) as connection:
            valid = connection.exec_driver_sql(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                (f"auth.{PROBE_INDEX}",),
            ).scalar()
        assert valid is True


class BackfillSlice(Point):
    """A backfill between slices: committed slices must not be done again."""

    ROWS = 4000

    def write(self, project: Path) -> None:
        add_revision(
            project,
            "auth",
            TABLE_REVISION,
            down_revision=head_of("auth"),
            upgrade=f"""
CREATE TABLE {PROBE_TABLE} (id bigint PRIMARY KEY, visits integer NOT NULL DEFAULT 0);
INSERT INTO {PROBE_TABLE} (id) SELECT g FROM generate_series(1, {self.ROWS}) AS g;
""",
            downgrade=f"DROP TABLE IF EXISTS {PROBE_TABLE};",
        )
        path = project / "services/auth/versions" / f"{SLOW_REVISION}_auth_visit_probes.py"
        path.write_text(f'''"""Visit every probe

Migration: visit every probe
Service: auth-service
Author: Tests <tests@inopsio.example>
Date: 2024-07-01
Dependencies: []
"""

from migrator.revision import backfill, run_sql

revision = "{SLOW_REVISION}"
down_revision = "{TABLE_REVISION}"
branch_labels = ()
depends_on = None

UPGRADE = ""
DOWNGRADE = "UPDATE {PROBE_TABLE} SET visits = 0;"


def upgrade() -> None:
    backfill("{PROBE_TABLE}", set="visits = visits + 1", batch_size=100, pause=0.05)


def downgrade() -> None:
    run_sql(DOWNGRADE)
''')

    def wait_until_under_way(self, url: URL, run: subprocess.Popen) -> None:
        def a_slice_committed(connection: Connection) -> bool:
            if not connection.exec_driver_sql(
                "SELECT to_regclass('migrator.batch_checkpoints') IS NOT NULL"
            ).scalar():
                return False
            return bool(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM migrator.batch_checkpoints WHERE revision = %s",
                    (SLOW_REVISION,),
                ).scalar()
            )

        _wait_until(url, "a backfill checkpoint", a_slice_committed, run=run)

    def check_the_next_run(self, url: URL, output: str) -> None:
        with connection_to(url) as connection:
            visits = dict(
                connection.exec_driver_sql(
                    f"SELECT visits, count(*) FROM {PROBE_TABLE} GROUP BY visits"
                ).all()
            )
            checkpoints = connection.exec_driver_sql(
                "SELECT count(*) FROM migrator.batch_checkpoints"
            ).scalar()
        assert visits == {1: self.ROWS}  # no row twice, none skipped
        assert checkpoints == 0


class Seeds(Point):
    """The development seeds, after every revision was applied: no try is cut short, the
    seed file's transaction rolls back, and the next run loads it."""

    interrupted_revision = None

    def __init__(self) -> None:
        self.seed_file: Path | None = None
        self.original = ""

    def write(self, project: Path) -> None:
        self.seed_file = project / "services/auth/seeds/development.sql"
        self.original = self.seed_file.read_text()
        self.seed_file.write_text(f"{self.original}\n{SLEEP};\n")

    def wait_until_under_way(self, url: URL, run: subprocess.Popen) -> None:
        _wait_until(url, f"the seed's `{SLEEP}` running", _statement_active(SLEEP), run=run)

    def let_the_next_run_through(self, project: Path) -> None:
        assert self.seed_file is not None
        self.seed_file.write_text(self.original)

    def check_the_next_run(self, url: URL, output: str) -> None:
        assert "seeds (development) loaded for auth" in output
        with connection_to(url) as connection:
            seeded = connection.exec_driver_sql(
                "SELECT count(*) FROM auth.users WHERE email = 'admin@inopsio.example'"
            ).scalar()
        assert seeded == 1


POINTS: dict[str, Callable[[], Point]] = {
    "transactional-statement": TransactionalStatement,
    "create-index-concurrently": ConcurrentIndex,
    "backfill-slice": BackfillSlice,
    "seeds": Seeds,
}
SIGNALS = (signal.SIGKILL, signal.SIGINT, signal.SIGTERM)
CASES = [
    pytest.param(number, point, id=f"{number.name}-during-{point}")
    for number in SIGNALS
    for point in POINTS
]


def _history_shown(project: Path, url: URL) -> list[dict]:
    """`migrate history --json`, newest first: what an operator reads."""
    shown = run_migrate("history", "--json", "--limit", "500", project=project, url=url)
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)


@dataclass(frozen=True)
class InterruptedRun:
    """How a signalled `migrate up` ended, and the history as it stood before the next run:
    the table's rows, and what `migrate history` showed."""

    exit_code: int
    output: str
    rows: list[dict]
    shown: list[dict]


def _interrupt(
    point: Point, signal_number: signal.Signals, project: Path, url: URL, output_file: Path
) -> InterruptedRun:
    """Run `migrate up` in its own process, send it the signal once the point is under way,
    and let the next run through once the interrupted run's backend has gone."""
    with contextlib.ExitStack() as cleanup, output_file.open("w") as output:
        point.before_run(project, url, cleanup)
        process = subprocess.Popen(
            migrate_process("up", url=url, project=project),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        cleanup.callback(process.kill)  # a failed wait must not leave it running
        try:
            point.wait_until_under_way(url, process)
        except AssertionError as never:
            raise AssertionError(f"{never}; the run said:\n{output_file.read_text()}") from None
        process.send_signal(signal_number)
        exit_code = process.wait(timeout=WAIT_SECONDS)
        ended = InterruptedRun(exit_code, output_file.read_text(), [], [])
        assert ended.exit_code == EXIT_CODES[signal_number], ended.output
        _wait_for_the_runs_statement_to_end(url)
        ended.rows.extend(history_rows(url))
        ended.shown.extend(_history_shown(project, url))
        point.let_the_next_run_through(project)
    return ended


@pytest.mark.parametrize(("signal_number", "point_name"), CASES)
def test_an_interrupted_up_is_recorded_as_interrupted_and_the_next_up_completes_it(
    signal_number: signal.Signals,
    point_name: str,
    project: Path,
    new_database: Callable[[], URL],
    tmp_path: Path,
) -> None:
    point = POINTS[point_name]()
    point.write(project)
    url = new_database()

    interrupted_run = _interrupt(point, signal_number, project, url, tmp_path / "run.out")
    resumed = run_migrate("up", project=project, url=url)
    clean = new_database()
    clean_build = run_migrate("up", project=project, url=clean)

    # The signalled run ended as promised: one line, no traceback.
    if signal_number != signal.SIGKILL:
        lines = interrupted_run.output.splitlines()
        assert "Traceback" not in interrupted_run.output
        errors = [line for line in lines if "error:" in line]
        assert len(errors) == 1, interrupted_run.output
        assert errors[0].startswith(f"error: interrupted by {signal_number.name}")
    # Before the next run, a signalled try is closed; a killed one is still `running` in the
    # table, and `migrate history` shows it interrupted already.
    cut_short = point.interrupted_revision
    if cut_short is None:
        assert all(row["outcome"] == "success" for row in interrupted_run.rows)
    else:
        [left] = [row for row in interrupted_run.rows if row["revision"] == cut_short]
        killed = signal_number == signal.SIGKILL
        assert left["outcome"] == ("running" if killed else "interrupted")
        [shown] = [row for row in interrupted_run.shown if row["revision"] == cut_short]
        assert shown["outcome"] == "interrupted"

    # The next run completes the work: the schema of a clean build, every head applied.
    assert resumed.exit_code == 0, resumed.output
    assert clean_build.exit_code == 0, clean_build.output
    if signal_number == signal.SIGKILL and cut_short is not None:
        assert "recorded as interrupted" in resumed.output
    point.check_the_next_run(url, resumed.output)
    assert schema_of(url) == schema_of(clean)
    graph = RevisionGraph.load(project)
    assert applied_versions(url) == graph.heads_of(set(graph.revisions))

    # The history tells the truth: every revision applied once, nothing left running, and the
    # try that was cut short one `interrupted` row followed by one `success` row.
    rows = history_rows(url)
    assert [row for row in rows if row["outcome"] == "running"] == []
    successes = Counter(row["revision"] for row in rows if row["outcome"] == "success")
    assert successes == Counter(set(graph.revisions))
    interrupted = [row["revision"] for row in rows if row["outcome"] == "interrupted"]
    assert interrupted == ([] if cut_short is None else [cut_short])
    if cut_short is not None:
        reason = (
            VANISHED if signal_number == signal.SIGKILL else f"interrupted by {signal_number.name}"
        )
        tries = [(r["outcome"], r["error_message"]) for r in rows if r["revision"] == cut_short]
        assert tries == [("interrupted", reason), ("success", None)]
