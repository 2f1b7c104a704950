"""One migrator at a time, and lock timeouts retried instead of queueing the platform."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from conftest import (
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    history_rows,
    migrate_process,
    platform_graph,
    run_migrate,
    url_text,
)
from sqlalchemy.engine import URL

from migrator.events import LockBusy
from migrator.run import lock as locking


def test_eight_concurrent_migrators_apply_every_revision_exactly_once(database_url: URL) -> None:
    alembic = [
        str(Path(migrate_process(url=database_url)[0]).parent / "alembic"),
        "-c",
        "alembic.ini",
        "upgrade",
        "heads",
    ]
    environment = {"DATABASE_URL": url_text(database_url), "PATH": "/usr/bin:/bin"}
    commands = [migrate_process("up", url=database_url) for _ in range(6)]
    processes = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands
    ]
    processes += [
        subprocess.Popen(
            alembic,
            cwd=Path(__file__).parent.parent,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]

    outputs = [process.communicate(timeout=240)[0].decode() for process in processes]

    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    applied = Counter(
        row["revision"] for row in history_rows(database_url) if row["outcome"] == "success"
    )
    graph = platform_graph()
    assert applied == Counter(dict.fromkeys(graph.revisions, 1))
    assert applied_versions(database_url) == graph.heads_of(set(graph.revisions))


def test_a_second_migrator_names_the_holder_and_gives_up(database_url: URL) -> None:
    seen: list[LockBusy] = []
    with (
        connection_to(database_url) as holder,
        locking.migration_lock(holder, "migrator", 1000, seen.append),
    ):
        result = run_migrate("up", "--lock-wait", "1s", url=database_url)

    assert result.exit_code == 1
    assert "waiting for the migration lock held by pid " in result.output
    assert "another migrator holds the migration lock (pid " in result.output
    assert "application " in result.output and "gave up after 1s" in result.output
    assert applied_versions(database_url) == set()


def _auth_with_new_column(project: Path, settings: str = "") -> None:
    add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS nickname text;",
        downgrade="ALTER TABLE auth.users DROP COLUMN IF EXISTS nickname;",
        settings=settings,
    )


def _hold_users_table(url: URL, seconds: float | None) -> tuple[threading.Event, threading.Thread]:
    """Another session holding ACCESS EXCLUSIVE on auth.users, for `seconds` (or until set)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with connection_to(url) as connection:
            connection.exec_driver_sql("LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(seconds)
            connection.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    return release, thread


def test_a_lock_timeout_is_retried_until_the_lock_is_released(
    project: Path, database_url: URL
) -> None:
    _auth_with_new_column(project)
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    _, holder = _hold_users_table(database_url, seconds=1.5)

    result = run_migrate(
        "up",
        "--lock-timeout",
        "200ms",
        "--lock-retries",
        "20",
        "--service",
        "auth",
        project=project,
        url=database_url,
    )
    holder.join()

    assert result.exit_code == 0, result.output
    assert "retrying 20240601_001: try 1 of 20 rolled back" in result.output
    assert "canceling statement due to lock timeout" in result.output
    tries = [row for row in history_rows(database_url) if row["revision"] == "20240601_001"]
    assert [row["outcome"] for row in tries[:-1]] == ["rolled_back"] * (len(tries) - 1)
    assert all(row["sqlstate"] == "55P03" for row in tries[:-1])
    assert tries[-1]["outcome"] == "success" and tries[-1]["attempt"] == len(tries) > 1
    assert "20240601_001" in applied_versions(database_url)


def test_a_lock_timeout_through_every_try_fails_with_advice(
    project: Path, database_url: URL
) -> None:
    _auth_with_new_column(project)
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    release, holder = _hold_users_table(database_url, seconds=None)
    try:
        result = run_migrate(
            "up",
            "--service",
            "auth",
            "--lock-timeout",
            "100ms",
            "--lock-retries",
            "3",
            project=project,
            url=database_url,
        )
    finally:
        release.set()
        holder.join()

    assert result.exit_code == 1
    assert "gave up after 3 tries" in result.output and "--lock-timeout" in result.output
    tries = [row for row in history_rows(database_url) if row["revision"] == "20240601_001"]
    assert [row["outcome"] for row in tries] == ["rolled_back", "rolled_back", "failed"]
    assert "20240601_001" not in applied_versions(database_url)


def test_a_revision_may_set_its_own_lock_timeout_and_tries(
    project: Path, database_url: URL
) -> None:
    _auth_with_new_column(project, settings='lock_timeout = "50ms"\nlock_retries = 1\n')
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    release, holder = _hold_users_table(database_url, seconds=None)
    try:
        result = run_migrate(
            "up", "--service", "auth", "--lock-retries", "9", project=project, url=database_url
        )
    finally:
        release.set()
        holder.join()

    assert result.exit_code == 1 and "gave up after 1 tries" in result.output
    tries = [row for row in history_rows(database_url) if row["revision"] == "20240601_001"]
    assert [(row["outcome"], row["duration_ms"] < 2000) for row in tries] == [("failed", True)]


def test_up_with_nothing_pending_waits_for_a_run_under_way(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    with (
        connection_to(database_url) as holder,
        locking.migration_lock(holder, "migrator", 1000, print),
    ):
        result = run_migrate("up", "--lock-wait", "1s", url=database_url)

    assert result.exit_code == 1
    assert "another migrator holds the migration lock" in result.output
    assert "nothing to apply" not in result.output


def test_a_statement_taking_access_exclusive_waits_briefly_per_try_so_queries_keep_moving(
    project: Path, database_url: URL
) -> None:
    """With a lock_timeout of a minute, ALTER TABLE still gives up each try after a short
    wait: while it waits, every reader of the table queues behind it."""
    _auth_with_new_column(project)
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    release, holder = _hold_users_table(database_url, seconds=None)
    started = time.monotonic()
    try:
        result = run_migrate(
            "up",
            "--lock-timeout",
            "60s",
            "--lock-retries",
            "2",
            "--service",
            "auth",
            project=project,
            url=database_url,
        )
    finally:
        release.set()
        holder.join()

    assert result.exit_code == 1
    assert "gave up after 2 tries" in result.output
    assert time.monotonic() - started < 30  # two short waits, not two minutes
    assert "20240601_001" not in applied_versions(database_url)
