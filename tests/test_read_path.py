"""The read path: `migrate status` starts without SQLAlchemy, Alembic or pglast, asks the
database only for what it shows, and shows what it always showed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import (
    PLATFORM_SERVICES,
    PROJECT_ROOT,
    applied_versions,
    head_of,
    history_rows,
    run_migrate,
    url_text,
)
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import URL, make_url

from migrator import database, urls
from migrator.config import load_settings

# Runs `migrate` as its console script does and, when it exits (its exit handlers run even on
# its fast way out), names every module the run imported.
IMPORTED_BY_MIGRATE = """
import atexit, json, sys
from migrator.cli import main
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
main()
"""
HEAVY = ("sqlalchemy", "alembic", "pglast")


@pytest.fixture(scope="module")
def migrated(new_database_module: URL) -> URL:
    result = run_migrate("up", url=new_database_module)
    assert result.exit_code == 0, result.output
    return new_database_module


def _migrate_importing(*args: str, url: URL) -> tuple[str, set[str]]:
    """`migrate ARGS` in a fresh interpreter: its output, and the top-level packages it
    imported."""
    command = [
        sys.executable,
        "-c",
        IMPORTED_BY_MIGRATE,
        *args,
        "--project",
        str(PROJECT_ROOT),
        "--database-url",
        url_text(url),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    modules = json.loads(done.stderr.splitlines()[-1])
    return done.stdout, {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("json_output", [False, True], ids=["table", "json"])
def test_status_imports_neither_sqlalchemy_nor_alembic_nor_pglast(
    migrated: URL, json_output: bool
) -> None:
    output, imported = _migrate_importing(
        "status", *(["--json"] if json_output else []), url=migrated
    )

    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
    if json_output:
        rows = json.loads(output)
        assert [row["service"] for row in rows] == list(PLATFORM_SERVICES)
        assert all(row["pending"] == 0 and row["last_change"] for row in rows)
    else:
        for service in PLATFORM_SERVICES:
            assert any(line.split()[:1] == [service] for line in output.splitlines()), output
        assert f"database: {urls.redacted(migrated)}" in output


def test_status_shows_each_services_newest_change_a_rollback_included(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    rolled_back = run_migrate("down", "--service", "erp", url=database_url)
    assert rolled_back.exit_code == 0, rolled_back.output

    result = run_migrate("status", "--json", url=database_url)

    assert result.exit_code == 0, result.output
    shown = {row["service"]: row["last_action"] for row in json.loads(result.output)}
    newest: dict[str, str] = {}
    for row in history_rows(database_url):  # oldest first: the last one written wins
        if row["outcome"] == "success" and row["revision"] and row["service"]:
            newest[row["service"]] = f"{row['direction']} {row['revision']}"
    assert shown == newest
    assert shown["erp"] == f"downgrade {head_of('erp')}"
    assert shown["auth"] == f"upgrade {head_of('auth')}"


def test_status_of_a_database_never_migrated_shows_everything_pending(database_url: URL) -> None:
    result = run_migrate("status", "--json", url=database_url)

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert all(row["current"] is None and row["last_change"] is None for row in rows)


def test_status_connects_with_the_urls_own_connection_parameters(migrated: URL) -> None:
    """Parameters of the URL reach libpq as given (a space in `options` included), and an
    application_name of its own does not clash with the tool's."""
    url = migrated.update_query_dict(
        {"application_name": "someone-else", "options": "-c statement_timeout=5000"}
    )

    result = run_migrate("status", "--json", url=url)

    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == len(PLATFORM_SERVICES)


def test_heads_read_on_a_sqlalchemy_connection_leave_it_without_a_transaction(
    migrated: URL,
) -> None:
    settings = load_settings(project=PROJECT_ROOT, database_url=url_text(migrated))

    with database.connect(migrated) as connection:
        heads = database.database_heads(connection, settings)
        driver_status = connection.connection.driver_connection.info.transaction_status

        assert set(heads) == applied_versions(migrated)
        assert driver_status == TransactionStatus.IDLE and not connection.in_transaction()


URLS = [
    "postgresql://app:s3cret@db.example:5433/inopsio",
    "postgres://app@127.0.0.1/db?sslmode=require&connect_timeout=5",
    "postgresql+psycopg://u:p%40ss%2Fw%3A@[::1]:5432/my%20db",
    "postgresql:///db?host=/tmp&port=5433",
    "postgresql://app@/db?host=a&host=b&port=5432,5433&application_name=status+loop",
    "  postgresql://app:Zebra9@h/db?password=Quartz7  ",
    "postgresql://app@server:Zebra9@h:5432/db",
    "postgresql://app:Zeb/ra?9@h/db",
]


@pytest.mark.parametrize("raw", URLS)
def test_a_url_parses_into_the_same_parts_as_sqlalchemy_finds(raw: str) -> None:
    ours = urls.parse(raw)
    theirs = make_url(raw.strip()).set(drivername="postgresql+psycopg")

    assert ours.sqlalchemy() == theirs
    assert urls.Url.of(theirs) == ours
    assert urls.libpq_dsn(ours) == theirs.set(drivername="postgresql").render_as_string(
        hide_password=False
    )


@pytest.mark.parametrize("raw", URLS)
def test_no_password_survives_redaction_or_scrubbing(raw: str) -> None:
    url = urls.parse(raw)
    secrets = [secret for secret in (url.password, *url.values("password")) if secret]
    message = f"FATAL: password authentication failed ({' '.join(secrets)})"

    for text in (urls.redacted(url), urls.redacted(url.sqlalchemy()), urls.scrub(message, url)):
        assert not [secret for secret in secrets if secret in text], text


def test_the_read_path_names_the_history_table_the_runner_writes() -> None:
    """`database` cannot import `run.history` (it sits to its left, and imports SQLAlchemy),
    so it names the table itself; this keeps the two names one."""
    from migrator.run import history

    assert database.HISTORY_TABLE == history.HISTORY_TABLE
