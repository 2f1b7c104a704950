"""`migrator.revision.backfill`: keyset slices, checkpoints, retries, validation, composite keys."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import (
    MIGRATOR_WAITS,
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    history_rows,
    migrate_process,
    run_migrate,
    wait_for_server,
)
from sqlalchemy.engine import URL

TABLE_REVISION, BACKFILL_REVISION = "20240601_001", "20240601_002"


SINGLE_KEY = ("id bigint PRIMARY KEY", "id", "g")
COMPOSITE_KEY = (
    "tenant integer, seq integer, PRIMARY KEY (tenant, seq)",
    "tenant, seq",
    "g % 7, g",
)


def _table_with_rows(project: Path, rows: int, key: tuple[str, str, str] = SINGLE_KEY) -> None:
    """erp.parcels with `rows` rows, each visited 0 times so far."""
    definition, columns, values = key
    add_revision(
        project,
        "erp",
        TABLE_REVISION,
        down_revision=head_of("erp"),
        upgrade=f"""
CREATE TABLE IF NOT EXISTS erp.parcels (
    {definition}, visits integer NOT NULL DEFAULT 0, label text
);
INSERT INTO erp.parcels ({columns}) SELECT {values} FROM generate_series(1, {rows}) AS g;
""",
        downgrade="DROP TABLE IF EXISTS erp.parcels;",
    )


def _backfill_revision(project: Path, arguments: str, settings: str = "") -> None:
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
{settings}
UPGRADE = ""
DOWNGRADE = "UPDATE erp.parcels SET visits = 0;"


def upgrade() -> None:
    backfill("erp.parcels", {arguments})


def downgrade() -> None:
    run_sql(DOWNGRADE)
''')


def _visits(url: URL) -> dict[int, int]:
    with connection_to(url) as connection:
        rows = connection.exec_driver_sql(
            "SELECT visits, count(*) FROM erp.parcels GROUP BY visits"
        ).all()
    return {visits: count for visits, count in rows}


def test_a_clean_run_visits_every_row_once_and_then_is_applied(
    project: Path, database_url: URL
) -> None:
    _table_with_rows(project, 2500)
    _backfill_revision(
        project,
        'set="visits = visits + 1", batch_size=300, '
        'validate_empty="SELECT 1 FROM erp.parcels WHERE visits <> 1"',
    )

    result = run_migrate("up", "--service", "erp", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert _visits(database_url) == {1: 2500}
    assert BACKFILL_REVISION in applied_versions(database_url)
    assert "backfill of erp.parcels: 2500 of 2500 rows" in result.output
    with connection_to(database_url) as connection:
        left = connection.exec_driver_sql("SELECT count(*) FROM migrator.batch_checkpoints")
        assert left.scalar() == 0


def test_a_killed_backfill_resumes_after_its_last_slice(project: Path, database_url: URL) -> None:
    _table_with_rows(project, 4000)
    _backfill_revision(project, 'set="visits = visits + 1", batch_size=100, pause=0.05')
    run_migrate("up", "--version", TABLE_REVISION, project=project, url=database_url)
    process = subprocess.Popen(
        migrate_process("up", "--service", "erp", project=project, url=database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _visits(database_url).get(1, 0) < 800 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    partial = _visits(database_url)
    applied_after_kill = applied_versions(database_url)

    resumed = run_migrate("up", "--service", "erp", project=project, url=database_url)

    assert 0 < partial.get(1, 0) < 4000 and BACKFILL_REVISION not in applied_after_kill
    assert resumed.exit_code == 0, resumed.output
    assert _visits(database_url) == {1: 4000}  # none twice, none skipped
    assert BACKFILL_REVISION in applied_versions(database_url)


def test_a_slice_that_meets_a_held_lock_is_retried(project: Path, database_url: URL) -> None:
    _table_with_rows(project, 500)
    _backfill_revision(
        project,
        'set="visits = visits + 1", batch_size=100',
        settings='lock_timeout = "100ms"\nlock_retries = 30\n',
    )
    run_migrate("up", "--version", TABLE_REVISION, project=project, url=database_url)
    locked = threading.Event()

    def hold_rows() -> None:
        with connection_to(database_url) as connection:
            connection.exec_driver_sql("SELECT * FROM erp.parcels WHERE id <= 150 FOR UPDATE")
            locked.set()
            # Held until a slice has waited, given up (lock_timeout) and waited again.
            wait_for_server(database_url, MIGRATOR_WAITS)
            wait_for_server(database_url, f"SELECT NOT ({MIGRATOR_WAITS}) > 0")
            wait_for_server(database_url, MIGRATOR_WAITS)
            connection.rollback()

    holder = threading.Thread(target=hold_rows)
    holder.start()
    locked.wait(5)
    result = run_migrate("up", "--service", "erp", project=project, url=database_url)
    holder.join()

    assert result.exit_code == 0, result.output
    assert "a backfill slice waited too long for a lock" in result.output
    assert _visits(database_url) == {1: 500}


def test_a_failed_validation_fails_the_revision_with_the_offending_count(
    project: Path, database_url: URL
) -> None:
    _table_with_rows(project, 300)
    _backfill_revision(
        project,
        'set="visits = visits + 1", where="id > 10", batch_size=100, '
        'validate_empty="SELECT 1 FROM erp.parcels WHERE visits = 0"',
    )

    result = run_migrate("up", "--service", "erp", project=project, url=database_url)

    assert result.exit_code == 1
    assert "left 10 row(s) that its validation rejects" in result.output
    assert BACKFILL_REVISION not in applied_versions(database_url)
    failed = [row for row in history_rows(database_url) if row["outcome"] == "failed"]
    assert failed and failed[-1]["revision"] == BACKFILL_REVISION


def test_composite_keys_are_walked_in_order(project: Path, database_url: URL) -> None:
    _table_with_rows(project, 1000, key=COMPOSITE_KEY)
    _backfill_revision(
        project,
        "set=\"visits = visits + 1, label = tenant || '/' || seq\", batch_size=64, "
        'validate_count="SELECT count(*) FROM erp.parcels"',
    )

    result = run_migrate("up", "--service", "erp", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert _visits(database_url) == {1: 1000}
    with connection_to(database_url) as connection:
        wrong = connection.exec_driver_sql(
            "SELECT count(*) FROM erp.parcels WHERE label <> tenant || '/' || seq"
        ).scalar()
    assert wrong == 0
