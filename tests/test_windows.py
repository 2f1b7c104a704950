"""Maintenance windows: a revision that blocks writes on a large table runs only inside one."""

from __future__ import annotations

import contextlib
import getpass
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    history_rows,
    run_migrate,
    wait_for_server,
)
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from typer.testing import Result

from migrator.config import load_settings
from migrator.errors import UsageError
from migrator.ops import policy
from migrator.ops import windows as maintenance

# Saturday 5 December 2026: Paris is on winter time (UTC+1).
SATURDAY_NOON_UTC = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
TABLE_REVISION, INDEX_REVISION = "20240601_001", "20240601_002"
# Rows of the indexed table: about 3.4 MB, and about 1.4 MB (building an index on it still
# blocks writes for longer than a brief lock, but it is below the threshold).
LARGE, SMALL = 20_000, 8_000


def _windows(*texts: str) -> tuple[maintenance.Window, ...]:
    return maintenance.parse_all(list(texts), "windows")


@dataclass(frozen=True)
class _Impact:
    revision: str
    verdict: str
    largest_table_bytes: int
    longest_lock_seconds: float | None = None


def test_a_weekly_window_holds_its_hours_and_not_the_next_days() -> None:
    saturday = _windows("Sat 11:00-13:00 UTC")

    assert maintenance.inside(saturday, SATURDAY_NOON_UTC) == saturday[0]
    assert maintenance.inside(saturday, datetime(2026, 12, 6, 12, 0, tzinfo=UTC)) is None
    assert maintenance.inside(saturday, datetime(2026, 12, 5, 13, 0, tzinfo=UTC)) is None


def test_a_window_crossing_midnight_holds_the_early_hours_of_the_next_day() -> None:
    friday_night = _windows("Fri 23:00-02:00 UTC")

    assert maintenance.inside(friday_night, datetime(2026, 12, 5, 1, 30, tzinfo=UTC))
    assert maintenance.inside(friday_night, datetime(2026, 12, 5, 2, 30, tzinfo=UTC)) is None


def test_a_window_keeps_its_wall_clock_hours_in_its_time_zone() -> None:
    paris = _windows("daily 12:30-13:30 Europe/Paris")

    assert maintenance.inside(paris, SATURDAY_NOON_UTC) == paris[0]  # 13:00 in Paris
    assert maintenance.inside(paris, datetime(2026, 12, 5, 12, 45, tzinfo=UTC)) is None


def test_the_next_window_is_the_earliest_opening_after_now_named_in_its_zone_and_utc() -> None:
    found = maintenance.next_opening(
        _windows("Sun 03:00-04:00 UTC", "Sat 20:00-22:00 Europe/Paris"), SATURDAY_NOON_UTC
    )

    assert found is not None
    assert found[1] == datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
    assert maintenance.describe_opening(*found) == (
        "Sat 20:00-22:00 Europe/Paris, opening Sat 2026-12-05 20:00 CET (2026-12-05 19:00 UTC)"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Sat 02:00-04:00", "is not a window"),
        ("Sat 2am-4am UTC", "no HH:MM-HH:MM span"),
        ("Sat 02:00-02:00 UTC", "starts when it ends"),
        ("Someday 02:00-04:00 UTC", "names no day"),
        ("Sat 02:00-04:00 Mars/Olympus", "unknown time zone"),
    ],
)
def test_a_window_that_does_not_parse_is_a_configuration_error_naming_the_setting(
    text: str, complaint: str
) -> None:
    with pytest.raises(UsageError, match=complaint) as refused:
        maintenance.parse(text, "[tool.migrator.environments.production] windows")

    assert str(refused.value).startswith("[tool.migrator.environments.production] windows: ")
    assert refused.value.exit_code == 2


def test_a_revision_needs_a_window_when_it_blocks_writes_on_a_table_above_the_threshold() -> None:
    rules = policy.Policy(
        "production", windows=_windows("Sat 02:00-04:00 UTC"), window_threshold_bytes=2**20
    )
    impacts = [
        _Impact("20240601_001", "blocks writes", 2**30),
        _Impact("20240601_002", "blocks writes", 2**10),
        _Impact("20240601_003", "online", 2**30),
    ]

    assert policy.needing_window(rules, impacts) == [
        "20240601_001 blocks writes on a table of 1.0 GB (above 1.0 MB)"
    ]


def test_a_revision_needs_a_window_when_its_lock_is_estimated_longer_than_allowed() -> None:
    rules = policy.Policy("production", window_threshold_bytes=2**40, window_lock_seconds=30)

    assert policy.needing_window(rules, [_Impact("20240601_001", "brief lock", 0, 90.0)]) == [
        "20240601_001 holds a lock for about 1.5 min (above 30.0 s)"
    ]


def test_outside_every_window_a_revision_that_needs_one_is_refused_naming_the_next() -> None:
    rules = policy.Policy("production", windows=_windows("Sun 03:00-04:00 UTC"))

    with pytest.raises(policy.OutsideWindow) as refused:
        policy.window_note(rules, ["20240601_001 blocks writes"], SATURDAY_NOON_UTC, None, None)

    assert "the next is Sun 03:00-04:00 UTC, opening Sun 2026-12-06 03:00 UTC" in str(refused.value)
    assert "--outside-window --reason TEXT" in str(refused.value)


@pytest.mark.parametrize(
    ("levels", "complaint"),
    [
        ({"busy_sessions": 2}, "3 sessions are active (busy_sessions is 2)"),
        ({"busy_tps": 100}, "250 transactions a second (busy_tps is 100)"),
    ],
)
def test_a_busy_database_is_refused_even_inside_a_window(
    levels: dict[str, int], complaint: str
) -> None:
    rules = policy.Policy("production", windows=_windows("daily 11:00-13:00 UTC"), **levels)

    with pytest.raises(policy.OutsideWindow) as refused:
        policy.window_note(
            rules, ["20240601_001 blocks writes"], SATURDAY_NOON_UTC, policy.Load(3, 250.0), None
        )

    assert complaint in str(refused.value)


def _production_with_windows(project: Path, window: str) -> None:
    """Production whose revisions blocking writes on a table above 2 MB wait for `window`
    (approval and backups off: this is about windows)."""
    path = project / "pyproject.toml"
    path.write_text(
        path.read_text() + "\n[tool.migrator.environments.production]\napproval = false\n"
        f'backup = "never"\nwindows = ["{window}"]\nwindow_threshold_bytes = "2MB"\n'
    )


def _daily_utc(starting_in_hours: int, hours: int) -> str:
    opens = datetime.now(UTC) + timedelta(hours=starting_in_hours)
    return f"daily {opens:%H:00}-{opens + timedelta(hours=hours):%H:00} UTC"


def _indexed_table(project: Path, url: URL, rows: int) -> None:
    """A table of `rows` rows applied in development, then a pending revision indexing it with
    a plain CREATE INDEX (which blocks writes while it builds)."""
    add_revision(
        project,
        "erp",
        TABLE_REVISION,
        down_revision=head_of("erp"),
        upgrade="CREATE TABLE erp.parcels (id bigint PRIMARY KEY, label text NOT NULL);\n"
        f"INSERT INTO erp.parcels SELECT n, repeat('x', 100) FROM generate_series(1, {rows}) n;",
    )
    run_migrate("up", "--service", "erp", project=project, url=url)
    add_revision(
        project,
        "erp",
        INDEX_REVISION,
        down_revision=TABLE_REVISION,
        upgrade="CREATE INDEX parcels_label_idx ON erp.parcels (label);",
    )


def _production_up(project: Path, url: URL, *options: str) -> Result:
    return run_migrate(
        "up", "--env", "production", "--service", "erp", *options, project=project, url=url
    )


def test_production_up_outside_every_window_refuses_blocking_writes_on_a_large_table(
    project: Path, database_url: URL
) -> None:
    window = _daily_utc(starting_in_hours=2, hours=1)
    _production_with_windows(project, window)
    _indexed_table(project, database_url, rows=LARGE)

    result = _production_up(project, database_url)

    assert result.exit_code == 1
    assert f"{INDEX_REVISION} blocks writes on a table of" in result.output
    assert f"the next is {window}, opening" in result.output
    assert INDEX_REVISION not in applied_versions(database_url)


def test_outside_window_with_a_reason_applies_and_the_history_records_who_and_why(
    project: Path, database_url: URL
) -> None:
    _production_with_windows(project, _daily_utc(starting_in_hours=2, hours=1))
    _indexed_table(project, database_url, rows=LARGE)

    result = _production_up(
        project, database_url, "--outside-window", "--reason", "incident 42 needs the index"
    )

    assert result.exit_code == 0, result.output
    [row] = [r for r in history_rows(database_url) if r["revision"] == INDEX_REVISION]
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    assert (
        row["note"] == f"run outside its maintenance window by {who}: incident 42 needs the index"
    )


def test_inside_a_window_a_revision_blocking_writes_on_a_large_table_applies(
    project: Path, database_url: URL
) -> None:
    _production_with_windows(project, _daily_utc(starting_in_hours=-1, hours=3))
    _indexed_table(project, database_url, rows=LARGE)

    result = _production_up(project, database_url)

    assert result.exit_code == 0, result.output
    assert INDEX_REVISION in applied_versions(database_url)


def test_a_table_below_the_threshold_is_indexed_outside_a_window(
    project: Path, database_url: URL
) -> None:
    _production_with_windows(project, _daily_utc(starting_in_hours=2, hours=1))
    _indexed_table(project, database_url, rows=SMALL)

    result = _production_up(project, database_url)

    assert result.exit_code == 0, result.output
    assert INDEX_REVISION in applied_versions(database_url)


def test_outside_window_without_a_reason_is_refused_as_bad_input(project: Path) -> None:
    result = run_migrate("up", "--env", "production", "--outside-window", project=project)

    assert result.exit_code == 2
    assert "--outside-window needs --reason TEXT" in result.output


def test_a_window_that_does_not_parse_in_pyproject_is_a_configuration_error(
    project: Path,
) -> None:
    _production_with_windows(project, "Saturday night")

    with pytest.raises(UsageError) as refused:
        policy.for_settings(load_settings(project=project, environment="production"))

    assert refused.value.exit_code == 2
    assert str(refused.value).startswith(
        "[tool.migrator.environments.production] windows: 'Saturday night' is not a window"
    )


def test_production_up_refuses_while_more_sessions_are_active_than_busy_sessions_allows(
    project: Path, database_url: URL
) -> None:
    _production_with_windows(project, _daily_utc(starting_in_hours=-1, hours=3))
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + "busy_sessions = 1\n")
    _indexed_table(project, database_url, rows=LARGE)
    sleepers = [connection_to(database_url) for _ in range(2)]
    pids = [s.exec_driver_sql("SELECT pg_backend_pid()").scalar() for s in sleepers]
    threads = [
        threading.Thread(target=_sleep_until_cancelled, args=(sleeper,)) for sleeper in sleepers
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for_server(
            database_url,
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE state = 'active' "
            "AND query = 'SELECT pg_sleep(60)'",
        )
        result = _production_up(project, database_url)
    finally:
        with connection_to(database_url) as canceller:
            for pid in pids:
                canceller.exec_driver_sql(f"SELECT pg_cancel_backend({pid})")
        for thread in threads:
            thread.join()

    assert result.exit_code == 1
    assert "2 sessions are active (busy_sessions is 1)" in result.output
    assert INDEX_REVISION not in applied_versions(database_url)


def _sleep_until_cancelled(connection: Connection) -> None:
    with connection, contextlib.suppress(OperationalError):
        connection.exec_driver_sql("SELECT pg_sleep(60)")
