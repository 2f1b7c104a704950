"""Failures: one clear line, a non-zero exit code, the database as it was, no password shown."""

from __future__ import annotations

from pathlib import Path

from conftest import applied_versions, run_migrate, schema_of
from sqlalchemy.engine import URL

ERP_FILE = "services/erp/versions/20240101_004_erp_create_products.py"


def test_a_failing_statement_names_revision_file_and_statement_and_keeps_the_database(
    project: Path, database_url: URL
) -> None:
    path = project / ERP_FILE
    path.write_text(
        path.read_text().replace(
            "CONSTRAINT products_sku_key UNIQUE (sku),",
            "CONSTRAINT products_sku_key UNIQUE (nope),",
        )
    )
    run_migrate("up", "--service", "auth", url=database_url, project=project)
    before = (schema_of(database_url), applied_versions(database_url))

    result = run_migrate("up", "--version", "20240101_004", url=database_url, project=project)

    assert result.exit_code == 1
    [first_line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    line = _line_of(path, "CREATE TABLE IF NOT EXISTS erp.products (")
    assert f"revision 20240101_004 failed at {ERP_FILE}:{line} " in first_line
    assert "`CREATE TABLE IF NOT EXISTS erp.products (`" in first_line
    assert 'column "nope" named in key does not exist' in first_line
    assert (schema_of(database_url), applied_versions(database_url)) == before


def test_earlier_revisions_of_a_failing_run_stay_applied(project: Path, database_url: URL) -> None:
    path = project / "services/crm/versions/20240101_003_crm_create_customers.py"
    path.write_text(
        path.read_text().replace("REFERENCES auth.users (id)", "REFERENCES auth.nope (id)")
    )

    result = run_migrate("up", "--service", "crm", url=database_url, project=project)

    assert result.exit_code == 1
    assert "revision 20240101_003" in result.output
    assert applied_versions(database_url) == {"20240101_002"}
    assert "crm" not in str(schema_of(database_url)["schemas"])


def test_a_body_with_commit_is_refused_before_anything_runs(
    project: Path, database_url: URL
) -> None:
    path = project / ERP_FILE
    path.write_text(
        path.read_text().replace(
            "CREATE SCHEMA IF NOT EXISTS erp;", "CREATE SCHEMA IF NOT EXISTS erp;\nCOMMIT;"
        )
    )

    result = run_migrate("up", "--version", "20240101_004", url=database_url, project=project)

    assert result.exit_code == 1
    assert "controls transactions" in result.output
    assert applied_versions(database_url) == set()


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    url = "postgresql://migrator:s3cret-pass@127.0.0.1:1/inopsio_db"

    result = run_migrate("status", "--database-url", url)

    assert result.exit_code == 1
    assert result.output.startswith(
        "error: cannot connect to postgresql://migrator:***@127.0.0.1:1/inopsio_db"
    )
    assert "s3cret-pass" not in result.output


def test_a_url_of_another_database_kind_is_bad_input() -> None:
    result = run_migrate("status", "--database-url", "mysql://root:pw@localhost/db")

    assert result.exit_code == 2
    assert "only PostgreSQL is supported" in result.output
    assert "pw@" not in result.output


def test_an_unknown_service_is_bad_input(database_url: URL) -> None:
    result = run_migrate("up", "--service", "billing", url=database_url)

    assert result.exit_code == 2
    assert "valid services are: auth, user, crm" in result.output
    assert applied_versions(database_url) == set()


def test_an_unknown_revision_is_named_and_exits_2(database_url: URL) -> None:
    result = run_migrate("down", "--version", "20991231_001", url=database_url)

    assert result.exit_code == 2
    assert "no revision '20991231_001'" in result.output


def _line_of(path: Path, text: str) -> int:
    """The file line (1-based) that holds `text`."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)
