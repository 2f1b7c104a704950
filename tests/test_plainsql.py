"""Plain SQL out (for psql by hand) and in (from the format that came before the tool)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import applied_versions, run_migrate, schema_of, url_text
from sqlalchemy.engine import URL

from migrator.model import guards
from migrator.ops import embedded


def _psql(url: URL, path: Path) -> None:
    subprocess.run(
        [
            str(embedded.client_binary("psql")),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            str(path),
            url_text(url).replace("postgresql+psycopg", "postgresql"),
        ],
        check=True,
        capture_output=True,
    )


def test_the_export_applied_with_psql_builds_what_migrate_up_builds(
    tmp_path: Path, new_database: Callable[[], URL]
) -> None:
    by_tool, by_hand = new_database(), new_database()
    run_migrate("up", url=by_tool)

    result = run_migrate("export-sql", str(tmp_path / "export"))
    order = (tmp_path / "export" / "ORDER").read_text().split()
    for name in order:
        _psql(by_hand, tmp_path / "export" / name)

    assert result.exit_code == 0, result.output
    assert schema_of(by_hand) == schema_of(by_tool)
    first = (tmp_path / "export" / order[0]).read_text()
    assert first.startswith("-- Migration: create users table\n-- Service: auth-service\n")
    assert "BEGIN;" in first and "COMMIT;" in first
    index = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower ON auth.users"
    assert first.rstrip().endswith(f"{index} (lower(email));")  # outside BEGIN/COMMIT


def test_the_rollbacks_applied_with_psql_undo_the_export(tmp_path: Path, database_url: URL) -> None:
    run_migrate("export-sql", str(tmp_path / "export"))
    order = (tmp_path / "export" / "ORDER").read_text().split()
    for name in order:
        _psql(database_url, tmp_path / "export" / name)
    for name in reversed(order):
        _psql(database_url, tmp_path / "export" / name.replace("/schema/", "/rollback/"))

    assert all(not rows for rows in schema_of(database_url).values())


def test_import_turns_plain_migrations_back_into_revisions(
    project: Path, tmp_path: Path, database_url: URL, new_database: Callable[[], URL]
) -> None:
    run_migrate("export-sql", str(tmp_path / "export"), project=project)
    erp_versions = project / "services" / "erp" / "versions"
    originals = sorted(path.name for path in erp_versions.glob("*.py"))
    shutil.rmtree(erp_versions)
    erp_versions.mkdir()

    result = run_migrate(
        "import-sql",
        str(tmp_path / "export" / "erp" / "schema"),
        "--service",
        "erp-service",
        project=project,
    )
    run_migrate("up", project=project, url=database_url)
    reference = new_database()
    run_migrate("up", url=reference)

    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in erp_versions.glob("*.py")) == originals
    assert guards.problems(project) == []
    assert run_migrate("deps", "check", project=project).exit_code == 0
    assert schema_of(database_url) == schema_of(reference)
    assert applied_versions(database_url) == applied_versions(reference)


def test_import_refuses_a_migration_without_its_rollback(project: Path, tmp_path: Path) -> None:
    run_migrate("export-sql", str(tmp_path / "export"), project=project)
    shutil.rmtree(tmp_path / "export" / "erp" / "rollback")
    before = sorted((project / "services" / "erp" / "versions").glob("*.py"))

    result = run_migrate(
        "import-sql",
        str(tmp_path / "export" / "erp" / "schema"),
        "--service",
        "erp",
        project=project,
    )

    assert result.exit_code == 2 and "has no rollback" in result.output
    assert sorted((project / "services" / "erp" / "versions").glob("*.py")) == before
