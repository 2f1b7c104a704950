"""Plain Alembic on the same files: the same schema as `migrate`, online and as offline SQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import (
    PROJECT_ROOT,
    applied_versions,
    branch_of,
    head_of,
    history_rows,
    run_migrate,
    schema_of,
    url_text,
)
from sqlalchemy.engine import URL

from migrator import urls
from migrator.ops import embedded


def alembic(*args: str, url: URL) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": url_text(url)}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_alembic_upgrade_heads_builds_the_same_schema_as_migrate_up(
    new_database: Callable[[], URL],
) -> None:
    by_alembic, by_migrate = new_database(), new_database()

    result = alembic("upgrade", "heads", url=by_alembic)
    run_migrate("up", url=by_migrate)

    assert result.returncode == 0, result.stderr
    assert schema_of(by_alembic) == schema_of(by_migrate)
    assert applied_versions(by_alembic) == applied_versions(by_migrate)


def _history(url: URL) -> list[tuple]:
    """What each try did, without when, by whom or in which run."""
    columns = ("revision", "service", "direction", "outcome", "attempt", "checksum")
    return sorted(tuple(row[column] for column in columns) for row in history_rows(url))


def _alembic_heads() -> set[str]:
    """The heads Alembic itself computes from the files."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    return set(ScriptDirectory.from_config(config).get_heads())


def test_alembic_and_migrate_share_one_step_executor_and_leave_the_same_records(
    new_database: Callable[[], URL],
) -> None:
    by_alembic, by_migrate = new_database(), new_database()

    crm_by_alembic = alembic("upgrade", "crm@head", url=by_alembic)
    run_migrate("up", "--service", "crm", url=by_migrate)
    assert crm_by_alembic.returncode == 0, crm_by_alembic.stderr
    assert applied_versions(by_alembic) == applied_versions(by_migrate)
    assert _history(by_alembic) == _history(by_migrate)

    result = alembic("upgrade", "heads", url=by_alembic)
    run_migrate("up", url=by_migrate)
    assert result.returncode == 0, result.stderr
    assert applied_versions(by_alembic) == applied_versions(by_migrate) == _alembic_heads()
    assert _history(by_alembic) == _history(by_migrate)
    assert {row[3] for row in _history(by_migrate)} == {"success"}

    down = alembic("downgrade", f"crm@{branch_of('crm')[-2]}", url=by_alembic)
    run_migrate("down", "--service", "crm", url=by_migrate)
    assert down.returncode == 0, down.stderr
    assert applied_versions(by_alembic) == applied_versions(by_migrate)
    assert _history(by_alembic) == _history(by_migrate)


def test_alembic_downgrade_base_removes_every_service(database_url: URL) -> None:
    alembic("upgrade", "heads", url=database_url)

    result = alembic("downgrade", "base", url=database_url)

    assert result.returncode == 0, result.stderr
    assert schema_of(database_url)["schemas"] == []
    assert applied_versions(database_url) == set()


def test_offline_sql_runs_concurrently_statements_between_transactions(database_url: URL) -> None:
    result = alembic("upgrade", "heads", "--sql", url=database_url)

    assert result.returncode == 0, result.stderr
    sql = result.stdout
    index = sql.index("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower")
    assert sql.rindex("COMMIT;", 0, index) > sql.rindex("BEGIN;", 0, index)
    assert sql.index("BEGIN;", index) < sql.index("COMMIT;", index)


def test_offline_sql_applied_with_psql_builds_the_same_schema(
    new_database: Callable[[], URL],
) -> None:
    by_psql, by_migrate = new_database(), new_database()
    sql = alembic("upgrade", "heads", "--sql", url=by_psql).stdout

    applied = subprocess.run(
        [
            str(embedded.client_binary("psql")),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            urls.libpq_dsn(by_psql),
        ],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )
    run_migrate("up", url=by_migrate)

    assert applied.returncode == 0, applied.stderr
    assert schema_of(by_psql) == schema_of(by_migrate)
    assert applied_versions(by_psql) == applied_versions(by_migrate)


def test_migrate_up_sql_prints_only_what_is_pending(database_url: URL) -> None:
    run_migrate("up", "--service", "auth", url=database_url)

    result = run_migrate("up", "--sql", url=database_url)

    assert result.exit_code == 0, result.output
    assert "CREATE TABLE IF NOT EXISTS crm.customers" in result.output
    assert "CREATE TABLE IF NOT EXISTS auth.users" not in result.output
    assert applied_versions(database_url) == {head_of("auth")}


def test_migrate_down_sql_prints_the_rollback_without_running_it(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    before = schema_of(database_url)

    result = run_migrate(
        "down", "--version", "20240101_001", "--cascade", "--sql", url=database_url
    )

    assert result.exit_code == 0, result.output
    drops = [
        result.output.index(f"DROP TABLE IF EXISTS {t}")
        for t in ("crm.customers", '"user".profiles', "auth.users")
    ]
    assert drops == sorted(drops)
    assert schema_of(database_url) == before
