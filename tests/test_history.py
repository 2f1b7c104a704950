"""The audit history: a row for every attempt, and `migrate history` reading it back."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

from conftest import (
    add_revision,
    applied_versions,
    branch_of,
    connection_to,
    head_of,
    history_rows,
    platform_graph,
    run_migrate,
    schema_of,
)
from sqlalchemy.engine import URL

from migrator import __version__
from migrator.model import services

INOSEC_EDGE_HEAD = head_of("inosec_edge")


def test_up_records_one_success_row_per_revision_with_who_and_checksum(database_url: URL) -> None:
    run_migrate("up", "--version", "20240101_003", url=database_url)

    rows = history_rows(database_url)

    assert [row["revision"] for row in rows] == ["20240101_001", "20240101_002", "20240101_003"]
    assert {row["service"] for row in rows} == {"auth", "user", "crm"}
    for row in rows:
        assert row["direction"] == "upgrade" and row["outcome"] == "success"
        assert row["attempt"] == 1 and row["sqlstate"] is None
        assert len(row["checksum"]) == 64
        assert row["finished_at"] >= row["started_at"] and row["duration_ms"] >= 0
        assert row["os_user"] == getpass.getuser() and row["host"] == socket.gethostname()
        assert row["database_user"] == (database_url.username or "postgres")
        assert row["tool_version"] == __version__ and row["environment"] == "development"
    assert len({row["run_id"] for row in rows}) == 1


def test_history_command_lists_newest_first_filtered_by_service(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    run_migrate("down", "--service", "erp", url=database_url)

    everything = json.loads(run_migrate("history", "--json", url=database_url).output)
    erp = json.loads(
        run_migrate("history", "--service", "erp-service", "--json", url=database_url).output
    )
    newest = json.loads(run_migrate("history", "--limit", "1", "--json", url=database_url).output)

    assert len(everything) == len(platform_graph().revisions) + 1
    assert [row["id"] for row in everything] == sorted(
        (row["id"] for row in everything), reverse=True
    )
    erp_revisions = [revision.id for revision in platform_graph().branch(services.resolve("erp"))]
    assert [(row["revision"], row["direction"]) for row in erp] == [
        (erp_revisions[-1], "downgrade"),
        *((revision, "upgrade") for revision in reversed(erp_revisions)),
    ]
    assert newest == everything[:1]
    table = run_migrate("history", url=database_url)
    assert table.exit_code == 0 and "20240101_004" in table.output


def test_a_failing_statement_keeps_earlier_revisions_and_records_the_failure(
    project: Path, database_url: URL
) -> None:
    path = add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="""
CREATE TABLE auth.scratch_sessions (id bigint PRIMARY KEY);
INSERT INTO auth.scratch_sessions VALUES (1), (1);
""",
    )
    lines = path.read_text().splitlines()
    line = 1 + lines.index("INSERT INTO auth.scratch_sessions VALUES (1), (1);")
    run_migrate("up", "--service", "user", project=project, url=database_url)
    before = schema_of(database_url)

    result = run_migrate("up", project=project, url=database_url)

    assert result.exit_code == 1
    [message] = [line for line in result.output.splitlines() if line.startswith("error:")]
    where = f"services/auth/versions/20240601_001_auth_test.py:{line}"
    assert f"revision 20240601_001 failed at {where} " in message
    assert "`INSERT INTO auth.scratch_sessions VALUES (1), (1)`" in message
    assert "duplicate key value violates unique constraint" in message and "23505" in message
    assert "20240601_001" not in applied_versions(database_url)
    after = schema_of(database_url)
    assert "scratch_sessions" not in str(after)
    # The other services' revisions of the same run stay applied.
    assert {"20240101_004", INOSEC_EDGE_HEAD} <= platform_graph().applied(
        applied_versions(database_url)
    )
    assert after != before
    failed = [row for row in history_rows(database_url) if row["outcome"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["revision"] == "20240601_001" and failed[0]["sqlstate"] == "23505"
    assert "duplicate key" in failed[0]["error_message"]


def test_down_takes_back_the_revision_applied_last_whatever_its_id(database_url: URL) -> None:
    run_migrate("up", "--service", "inosec_edge", url=database_url)
    run_migrate("up", "--version", "20240101_004", url=database_url)

    result = run_migrate("down", url=database_url)

    assert result.exit_code == 0, result.output
    assert "rolled back 20240101_004" in result.output
    assert INOSEC_EDGE_HEAD in applied_versions(database_url)


def test_plain_alembic_records_history_like_migrate(database_url: URL) -> None:
    from alembic import command

    from migrator.config import alembic_config, load_settings

    settings = load_settings(database_url=database_url.render_as_string(hide_password=False))
    command.upgrade(alembic_config(settings), "auth@head")

    rows = history_rows(database_url)
    assert [(row["revision"], row["outcome"]) for row in rows] == [
        (revision, "success") for revision in branch_of("auth")
    ]
    with connection_to(database_url) as connection:
        assert (
            connection.exec_driver_sql("SELECT count(*) FROM migrator.statement_progress").scalar()
            == 0
        )
