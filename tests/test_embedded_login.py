"""The embedded server as people and services reach it: psql on 127.0.0.1 as `inopsio_user`,
an application login that reads and writes the services' rows and changes no structure.

One server serves the module: it is started once, by `migrate up` in a project with no
database configured, as a new developer's first command would start it.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import copy_project, run_migrate

from migrator.ops import embedded


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project at head on its embedded server, started by `migrate up`."""
    project = copy_project(tmp_path_factory.mktemp("login") / "project")
    with pytest.MonkeyPatch.context() as environment:
        environment.delenv("DATABASE_URL", raising=False)
        applied = run_migrate("up", project=project)
        assert applied.exit_code == 0, applied.output
        yield project
        embedded.stop(embedded.data_dir(project))


def _port(project: Path) -> int:
    return embedded.app_url(embedded.data_dir(project), "inopsio_db").port


def _psql(
    project: Path, command: str, user: str = embedded.APP_LOGIN
) -> subprocess.CompletedProcess:
    """psql as the README shows it, one command, stopping at the first error."""
    return subprocess.run(
        [
            str(embedded.client_binary("psql")),
            *("-h", "127.0.0.1", "-p", str(_port(project)), "-U", user, "-d", "inopsio_db"),
            *("-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", command),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_db_url_prints_the_app_login_on_loopback(migrated: Path) -> None:
    result = run_migrate("db", "url", project=migrated)

    assert result.output == f"postgresql://inopsio_user@127.0.0.1:{_port(migrated)}/inopsio_db\n"


def test_psql_connects_as_the_app_login_on_loopback_without_a_password(migrated: Path) -> None:
    result = _psql(migrated, "SELECT 1")

    assert (result.returncode, result.stdout) == (0, "1\n"), result.stderr


def test_app_login_is_no_superuser_and_creates_no_database_or_role(migrated: Path) -> None:
    result = _psql(
        migrated,
        "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )

    assert result.stdout == "f|f|f\n", result.stderr


def test_app_login_cannot_create_a_schema(migrated: Path) -> None:
    result = _psql(migrated, "CREATE SCHEMA x")

    assert result.returncode != 0
    assert "permission denied for database inopsio_db" in result.stderr


def test_app_login_reads_and_writes_service_tables_after_up(migrated: Path) -> None:
    # deal_stages' ids come from a sequence: the login needs it as much as the table.
    result = _psql(
        migrated,
        "INSERT INTO crm.deal_stages (name, position) VALUES ('parked', 99);"
        "UPDATE crm.deal_stages SET probability = 5 WHERE name = 'parked';"
        "SELECT probability FROM crm.deal_stages WHERE name = 'parked';"
        "DELETE FROM crm.deal_stages WHERE name = 'parked'",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["5", "DELETE 1"]


def test_app_login_cannot_read_the_migration_history(migrated: Path) -> None:
    result = _psql(migrated, "SELECT count(*) FROM migrator.alembic_version")

    assert "permission denied for schema migrator" in result.stderr


def test_a_database_made_before_the_app_login_gets_it_at_the_next_command(
    migrated: Path,
) -> None:
    """A `.pgdata` of an earlier version: its tables exist, the login does not."""
    dropped = _psql(
        migrated,
        "REVOKE CONNECT ON DATABASE inopsio_db FROM inopsio_user;"
        "DROP OWNED BY inopsio_user; DROP ROLE inopsio_user",
        user="postgres",
    )
    assert dropped.returncode == 0, dropped.stderr

    run_migrate("status", project=migrated)

    assert _psql(migrated, "SELECT count(*) > 0 FROM auth.users").stdout == "t\n"


def test_the_port_is_kept_across_a_restart(migrated: Path) -> None:
    before = _port(migrated)

    run_migrate("db", "stop", project=migrated)
    run_migrate("db", "start", project=migrated)

    assert _port(migrated) == before


def test_a_port_taken_meanwhile_is_replaced_and_said_at_the_next_start(
    migrated: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = _port(migrated)
    run_migrate("db", "stop", project=migrated)

    with socket.create_server(("127.0.0.1", before)):
        started = run_migrate("db", "start", project=migrated)

    assert started.exit_code == 0, started.output
    assert _port(migrated) != before
    assert f"port {before} of the embedded PostgreSQL is taken" in caplog.text
