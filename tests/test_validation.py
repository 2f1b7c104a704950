"""Checksums: applied revisions must still say what the database ran."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from conftest import (
    PROJECT_ROOT,
    applied_versions,
    connection_to,
    history_rows,
    platform_graph,
    run_migrate,
    url_text,
)
from sqlalchemy.engine import URL

from migrator.model import services

ERP_FILE = Path("services/erp/versions/20240101_004_erp_create_products.py")


def _edit(project: Path, old: str, new: str) -> None:
    path = project / ERP_FILE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_whitespace_and_comments_do_not_change_the_checksum(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", project=project, url=database_url)
    _edit(project, "CREATE TABLE", "-- reviewed again\nCREATE    TABLE")

    result = run_migrate("validate", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert "every applied revision agrees with its file" in result.output


def test_an_edited_applied_revision_blocks_up_until_repaired(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--version", "20240101_004", project=project, url=database_url)
    _edit(project, "varchar(200)", "varchar(300)")

    validated = run_migrate("validate", project=project, url=database_url)
    refused = run_migrate("up", project=project, url=database_url)

    assert validated.exit_code == 1
    assert (
        "edited: 20240101_004 services/erp/versions/20240101_004_erp_create_products.py changed"
        in validated.output
    )
    assert refused.exit_code == 1
    assert "disagree with the files" in refused.output
    assert "20240101_004_erp_create_products.py" in refused.output
    assert applied_versions(database_url) == {"20240101_004"}

    repaired = run_migrate("repair", "--version", "20240101_004", project=project, url=database_url)
    after = run_migrate("up", project=project, url=database_url)

    assert repaired.exit_code == 0, repaired.output
    assert after.exit_code == 0, after.output
    repair_row = [row for row in history_rows(database_url) if row["direction"] == "repair"]
    assert len(repair_row) == 1
    assert repair_row[0]["revision"] == "20240101_004" and "accepted by" in repair_row[0]["note"]


def test_plain_alembic_refuses_an_edited_revision_in_one_line(
    project: Path, database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_migrate("up", "--service", "erp", project=project, url=database_url)
    _edit(project, "varchar(200)", "varchar(300)")
    monkeypatch.setenv("DATABASE_URL", url_text(database_url))
    config = Config(str(project / "alembic.ini"))  # as plain `alembic` builds it

    with pytest.raises(CommandError, match=r"20240101_004_erp_create_products\.py changed"):
        command.upgrade(config, "heads")


def test_a_revision_in_the_database_that_no_file_defines_is_reported(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "auth", project=project, url=database_url)
    with connection_to(database_url) as connection:
        connection.exec_driver_sql("INSERT INTO migrator.alembic_version VALUES ('20991231_001')")
        connection.commit()

    validated = run_migrate("validate", project=project, url=database_url)
    refused = run_migrate("up", project=project, url=database_url)

    assert validated.exit_code == 1
    assert "unknown: 20991231_001 is in the version table" in validated.output
    assert refused.exit_code == 1 and "20991231_001" in refused.output
    assert "Traceback" not in refused.output


def test_an_applied_revision_whose_file_is_gone_is_reported_missing(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "erp", project=project, url=database_url)
    with connection_to(database_url) as connection:  # as a hand-made rollback would leave it
        connection.exec_driver_sql("DELETE FROM migrator.alembic_version")
        connection.commit()
    erp_head = platform_graph().branch(services.resolve("erp"))[-1]  # no revision needs it
    (project / erp_head.path.relative_to(PROJECT_ROOT)).unlink()

    validated = run_migrate("validate", "--json", project=project, url=database_url)

    assert validated.exit_code == 1
    assert '"kind": "missing"' in validated.output and erp_head.id in validated.output


def test_up_with_nothing_pending_still_refuses_an_edited_applied_revision(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", project=project, url=database_url)
    _edit(project, "CREATE TABLE", "CREATE UNLOGGED TABLE")

    result = run_migrate("up", project=project, url=database_url)

    assert result.exit_code == 1
    assert "disagree with the files, so nothing is applied" in result.output
