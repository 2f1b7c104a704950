"""Failures and kills leave a database from which `migrate up` completes the work."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from conftest import (
    add_revision,
    applied_versions,
    branch_of,
    connection_to,
    head_of,
    history_rows,
    migrate_process,
    run_migrate,
)
from sqlalchemy.engine import URL

UNIQUE_HASH_INDEX = (
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_users_password_hash"
    " ON auth.users (password_hash);"
)


def _index_validity(url: URL, name: str) -> bool | None:
    with connection_to(url) as connection:
        return connection.exec_driver_sql(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,)
        ).scalar()


def _insert_users(url: URL, *hashes: str) -> None:
    with connection_to(url) as connection:
        for number, password_hash in enumerate(hashes):
            connection.exec_driver_sql(
                "INSERT INTO auth.users (email, password_hash) VALUES (%s, %s)",
                (f"user{number}@inopsio.example", password_hash),
            )
        connection.commit()


def test_an_invalid_index_left_by_a_failed_build_is_dropped_and_built_again(
    project: Path, database_url: URL
) -> None:
    add_revision(
        project, "auth", "20240601_001", down_revision=head_of("auth"), upgrade=UNIQUE_HASH_INDEX
    )
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    _insert_users(database_url, "same", "same")

    # Past the duplicate count `up` makes first, so that the build itself fails half-way.
    failed = run_migrate(
        "up", "--service", "auth", "--skip-data-checks", project=project, url=database_url
    )
    invalid_after_failure = _index_validity(database_url, "auth.idx_users_password_hash")
    with connection_to(database_url) as connection:
        connection.exec_driver_sql("UPDATE auth.users SET password_hash = email")
        connection.commit()
    repaired = run_migrate("up", "--service", "auth", project=project, url=database_url)

    assert failed.exit_code == 1 and "23505" in failed.output
    assert invalid_after_failure is False  # IF NOT EXISTS alone would keep this broken index
    assert repaired.exit_code == 0, repaired.output
    assert "dropped INVALID index" in repaired.output
    assert _index_validity(database_url, "auth.idx_users_password_hash") is True
    outcomes = [row["outcome"] for row in history_rows(database_url)[len(branch_of("auth")) :]]
    assert outcomes == ["failed", "success"]


def test_a_mixed_revision_resumes_after_the_statements_that_committed(
    project: Path, database_url: URL
) -> None:
    revision = add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="""
CREATE TABLE auth.devices (id bigint PRIMARY KEY, user_id uuid NOT NULL);
CREATE INDEX CONCURRENTLY idx_devices_user ON auth.devices (user_id);
ALTER TABLE auth.devices ADD COLUMN label text NOT NULL;
SELECT 1 / (SELECT count(*) FROM auth.devices);
""",
    )
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)

    failed = run_migrate("up", "--service", "auth", project=project, url=database_url)
    # The operator fixes the failing statement; what committed stays done.
    revision.write_text(
        revision.read_text().replace("SELECT 1 / (SELECT count(*) FROM auth.devices);", "")
    )
    resumed = run_migrate("up", "--service", "auth", project=project, url=database_url)

    assert failed.exit_code == 1 and "division by zero" in failed.output
    assert resumed.exit_code == 0, resumed.output
    assert "already done by an earlier try, skipped `CREATE TABLE auth.devices" in resumed.output
    assert "skipped `CREATE INDEX CONCURRENTLY idx_devices_user" in resumed.output
    assert "20240601_001" in applied_versions(database_url)
    with connection_to(database_url) as connection:
        columns = (
            connection.exec_driver_sql(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'auth' AND table_name = 'devices' ORDER BY ordinal_position"
            )
            .scalars()
            .all()
        )
        leftover = connection.exec_driver_sql(
            "SELECT count(*) FROM migrator.statement_progress"
        ).scalar()
    assert columns == ["id", "user_id", "label"]
    assert leftover == 0


def test_sigkill_during_a_long_migration_leaves_a_state_up_completes(
    project: Path, database_url: URL
) -> None:
    revision = add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="""
CREATE TABLE auth.audit_log (id bigint PRIMARY KEY);
SELECT pg_sleep(60);
""",
    )
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    process = subprocess.Popen(
        migrate_process("up", "--service", "auth", project=project, url=database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_query(database_url, "SELECT pg_sleep(60)")

    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    revision.write_text(revision.read_text().replace("SELECT pg_sleep(60);", ""))
    started = time.monotonic()
    result = run_migrate("up", "--service", "auth", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    # The killed backend noticed its client was gone instead of sleeping out its minute.
    assert time.monotonic() - started < 30
    assert "20240601_001" in applied_versions(database_url)
    rows = [(row["revision"], row["outcome"]) for row in history_rows(database_url)]
    assert rows == [
        *((revision, "success") for revision in branch_of("auth")),
        ("20240601_001", "interrupted"),  # the killed try, closed by the next run
        ("20240601_001", "success"),
    ]
    assert (
        "now recorded as interrupted" in result.output or "recorded as interrupted" in result.output
    )


def _wait_for_query(url: URL, query: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    with connection_to(url) as connection:
        while time.monotonic() < deadline:
            running = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE position(%s in query) > 0 "
                "AND state = 'active' AND pid <> pg_backend_pid()",
                (query,),
            ).scalar()
            connection.commit()
            if running:
                return
            time.sleep(0.1)
    raise AssertionError(f"{query!r} never started")
