"""`migrate baseline`: a database whose schemas were built outside the tool is adopted at the
revisions its schemas stand at, and one that matches no revision is refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    applied_versions,
    branch_of,
    connection_to,
    copy_project,
    head_of,
    history_rows,
    platform_graph,
    run_migrate,
    url_text,
)
from sqlalchemy.engine import URL
from test_bad_inputs import copy_of
from typer.testing import Result

from migrator.model import services
from migrator.ops import embedded
from migrator.run import history

Migrate = Callable[..., Result]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's own copy of the project (and so of its cache of revisions read)."""
    return copy_project(tmp_path_factory.mktemp("baseline") / "project")


@pytest.fixture
def migrate(platform: Path) -> Migrate:
    """`migrate ARGS --database-url URL` on the module's project."""
    return lambda *args, url: run_migrate(*args, url=url, project=platform)


@pytest.fixture(scope="module")
def built_by_psql(
    platform: Path, new_database_module: URL, tmp_path_factory: pytest.TempPathFactory
) -> URL:
    """Every revision exported as plain SQL and applied with psql, as an operator would:
    the services' schemas at head, and no version table. Tests work on copies of it."""
    export = tmp_path_factory.mktemp("export") / "sql"
    assert run_migrate("export-sql", str(export), project=platform).exit_code == 0
    psql = str(embedded.client_binary("psql"))
    target = url_text(new_database_module).replace("postgresql+psycopg", "postgresql")
    for name in (export / "ORDER").read_text().split():
        command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(export / name), target]
        subprocess.run(command, check=True, capture_output=True)
    return new_database_module


@pytest.fixture
def database(built_by_psql: URL) -> Iterator[URL]:
    """A copy of the database built with psql, for one test."""
    with copy_of(built_by_psql) as url:
        yield url


def _current(migrate: Migrate, url: URL) -> dict[str, str | None]:
    result = migrate("status", "--json", url=url)
    assert result.exit_code == 0, result.output
    return {row["service"]: row["current"] for row in json.loads(result.stdout)}


def test_a_database_built_with_psql_is_adopted_at_head_with_nothing_to_apply_and_no_drift(
    database: URL, migrate: Migrate
) -> None:
    adopted = migrate("baseline", "--yes", url=database)
    up = migrate("up", url=database)
    drift = migrate("drift", url=database)

    assert adopted.exit_code == 0, adopted.output
    assert _current(migrate, database) == {s.name: head_of(s.name) for s in services.SERVICES}
    assert up.exit_code == 0 and "nothing to apply" in up.output
    assert drift.exit_code == 0 and "no drift" in drift.output


def test_a_hand_made_extra_column_is_refused_naming_the_column(
    database: URL, migrate: Migrate
) -> None:
    with connection_to(database) as connection:
        connection.exec_driver_sql("ALTER TABLE crm.customers ADD COLUMN nickname text")
        connection.commit()

    result = migrate("baseline", "--yes", url=database)

    assert result.exit_code == 1
    assert "matches none of its revisions" in result.output
    nearest = (
        f"crm (nearest: {head_of('crm')}): column crm.customers.nickname: only in the database"
    )
    assert nearest in result.output
    assert applied_versions(database) == set()


def test_a_database_built_up_to_an_older_crm_revision_is_adopted_at_that_revision(
    database_url: URL, migrate: Migrate
) -> None:
    # 20240301_002 only backfills rows: its schema is 20240301_001's, and the newer is chosen.
    assert migrate("up", "--version", "20240301_002", url=database_url).exit_code == 0
    with connection_to(database_url) as connection:
        connection.exec_driver_sql("DROP SCHEMA migrator CASCADE")
        connection.commit()

    result = migrate("baseline", "--yes", url=database_url)

    assert result.exit_code == 0, result.output
    expected = dict.fromkeys(service.name for service in services.SERVICES)
    expected.update(auth="20240101_001", user="20240101_002", crm="20240301_002")
    assert _current(migrate, database_url) == expected
    assert "no schema in the database" in result.output


def test_service_option_adopts_that_service_only(database: URL, migrate: Migrate) -> None:
    result = migrate("baseline", "--service", "auth-service", "--yes", url=database)

    assert result.exit_code == 0, result.output
    assert applied_versions(database) == {head_of("auth")}


def test_a_service_the_version_table_records_is_refused(
    database_url: URL, migrate: Migrate
) -> None:
    migrate("up", "--service", "auth", url=database_url)

    result = migrate("baseline", "--service", "auth", "--yes", url=database_url)

    assert result.exit_code == 1
    assert "records these services already" in result.output
    assert f"auth is at {head_of('auth')}" in result.output


def test_production_records_only_with_the_hash_it_showed(database: URL, migrate: Migrate) -> None:
    options = ("--service", "auth", "--env", "production", "--reason", "from psql", "--yes")
    refused = migrate("baseline", *options, url=database)
    shown = refused.output.split("--approve ")[-1].split("`")[0]
    recorded_before = applied_versions(database)

    approved = migrate("baseline", *options, "--approve", shown, url=database)

    assert refused.exit_code == 1 and "runs only approved plans" in refused.output
    assert f"proposal hash: {shown}" in refused.output
    assert recorded_before == set()
    assert approved.exit_code == 0, approved.output
    assert applied_versions(database) == {head_of("auth")}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_a_baseline_without_a_reason_is_refused_outside_development(
    environment: str, built_by_psql: URL, migrate: Migrate
) -> None:
    result = migrate("baseline", "--env", environment, "--yes", url=built_by_psql)

    assert result.exit_code == 2 and "pass --reason TEXT" in result.output


def test_without_yes_and_without_a_terminal_nothing_is_recorded(
    built_by_psql: URL, migrate: Migrate
) -> None:
    result = migrate("baseline", "--service", "auth", url=built_by_psql)

    assert result.exit_code == 2 and "pass --yes to confirm" in result.output
    assert applied_versions(built_by_psql) == set()


def test_a_service_whose_revision_needs_an_unrecorded_service_is_refused(
    built_by_psql: URL, migrate: Migrate
) -> None:
    result = migrate("baseline", "--service", "crm", "--yes", url=built_by_psql)

    assert result.exit_code == 1
    assert f"crm at {head_of('crm')} needs auth up to 20240101_001" in result.output
    assert applied_versions(built_by_psql) == set()


def test_the_history_records_each_adopted_revision_with_who_and_why(
    database: URL, migrate: Migrate
) -> None:
    reason = "adopted from the old plain-SQL tooling"
    migrate("baseline", "-s", "auth", "--env", "staging", "--reason", reason, "--yes", url=database)

    rows = history_rows(database)
    graph, who = platform_graph(), history.identity("staging")
    assert [row["revision"] for row in rows] == branch_of("auth")
    assert {row["direction"] for row in rows} == {"baseline"}
    assert all(row["checksum"] == graph[row["revision"]].checksum("upgrade") for row in rows)
    assert {row["note"] for row in rows} == {f"adopted by {who.os_user}@{who.host}: {reason}"}
    assert {(row["os_user"], row["host"], row["environment"]) for row in rows} == {
        (who.os_user, who.host, "staging")
    }


def test_json_lists_the_proposal_and_that_it_was_recorded(database: URL, migrate: Migrate) -> None:
    result = migrate("baseline", "--service", "auth", "--json", "--yes", url=database)

    document = json.loads(result.stdout)
    assert document["recorded"] is True and len(document["hash"]) == 12
    assert document["services"] == [
        {"service": "auth", "revision": head_of("auth"), "marks_applied": branch_of("auth")}
    ]


def test_a_history_table_of_the_previous_tool_version_takes_baseline_rows(
    database: URL, migrate: Migrate
) -> None:
    older = ("upgrade", "downgrade", "stamp", "repair", "restore")
    with connection_to(database) as connection:
        history.ensure_tables(connection, "migrator")
        connection.exec_driver_sql(
            "ALTER TABLE migrator.migration_history "
            "DROP CONSTRAINT migration_history_direction_check, "
            f"ADD CONSTRAINT migration_history_direction_check CHECK (direction IN {older!r})"
        )
        connection.exec_driver_sql(
            "COMMENT ON TABLE migrator.migration_history IS 'migrator tables v2'"
        )
        connection.commit()

    result = migrate("baseline", "--service", "auth", "--yes", url=database)

    assert result.exit_code == 0, result.output
    assert {row["direction"] for row in history_rows(database)} == {"baseline"}
