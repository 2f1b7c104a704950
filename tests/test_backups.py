"""`migrate backup`, `backup list`, `restore` and retention, against a real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from conftest import applied_versions, connection_to, history_rows, run_migrate, schema_of
from sqlalchemy.engine import URL


def _keep(project: Path, count: int) -> None:
    path = project / "pyproject.toml"
    path.write_text(
        path.read_text().replace("[tool.migrator]\n", f"[tool.migrator]\nbackup_keep = {count}\n")
    )


def test_backup_then_restore_brings_back_schema_rows_and_versions(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "erp", project=project, url=database_url)
    with connection_to(database_url) as connection:
        connection.exec_driver_sql(
            "INSERT INTO erp.products (sku, name, unit_price) VALUES ('KEEP-1', 'Kept', 9.5)"
        )
        connection.commit()
    before = (schema_of(database_url), applied_versions(database_url))
    made = run_migrate("backup", project=project, url=database_url)
    run_migrate("up", project=project, url=database_url)
    with connection_to(database_url) as connection:
        connection.exec_driver_sql("DELETE FROM erp.products")
        connection.commit()

    [dump] = (project / "backups").glob("*.dump")
    restored = run_migrate("restore", str(dump), "--yes", project=project, url=database_url)

    assert made.exit_code == 0 and "mode 0600" in made.output
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert restored.exit_code == 0, restored.output
    assert (schema_of(database_url), applied_versions(database_url)) == before
    with connection_to(database_url) as connection:
        assert connection.exec_driver_sql("SELECT sku FROM erp.products").scalars().all() == [
            "KEEP-1"
        ]


def test_a_restore_that_fails_leaves_the_database_as_it_was(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "erp", project=project, url=database_url)
    broken = project / "backups" / "development_20240101T000000000000Z_broken.dump"
    broken.parent.mkdir()
    broken.write_bytes(b"not a dump")
    before = schema_of(database_url)

    result = run_migrate("restore", str(broken), "--yes", project=project, url=database_url)

    assert result.exit_code == 1 and "pg_restore failed" in result.output
    assert schema_of(database_url) == before


def test_backup_list_shows_the_newest_first_and_retention_prunes(
    project: Path, database_url: URL
) -> None:
    _keep(project, 2)
    for _ in range(3):
        assert run_migrate("backup", project=project, url=database_url).exit_code == 0

    listed = json.loads(run_migrate("backup", "list", "--json", project=project).output)

    assert len(listed) == 2
    assert listed[0]["created"] > listed[1]["created"]
    assert all(item["environment"] == "development" for item in listed)


def test_a_restore_keeps_the_history_written_after_the_backup_and_records_itself(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "auth", project=project, url=database_url)
    run_migrate("backup", project=project, url=database_url)
    run_migrate("up", "--service", "erp", project=project, url=database_url)
    before = history_rows(database_url)
    [dump] = (project / "backups").glob("*.dump")

    result = run_migrate("restore", str(dump), "--yes", project=project, url=database_url)

    after = history_rows(database_url)
    assert result.exit_code == 0, result.output
    assert after[: len(before)] == before  # nothing rewound, not even the erp rows
    [restore_row] = after[len(before) :]
    assert restore_row["direction"] == "restore" and restore_row["outcome"] == "success"
    assert restore_row["note"] == f"restored {dump.name}"
    assert not any(
        revision.startswith("20240101_004") for revision in applied_versions(database_url)
    )


def test_production_restores_only_an_approved_backup(project: Path, database_url: URL) -> None:
    run_migrate("up", "--service", "auth", project=project, url=database_url)
    run_migrate("backup", project=project, url=database_url)
    [dump] = (project / "backups").glob("*.dump")
    run_migrate("up", "--service", "erp", project=project, url=database_url)

    refused = run_migrate(
        "restore", str(dump), "--yes", "--env", "production", project=project, url=database_url
    )
    approval = refused.output.split("--approve ")[1].split("`")[0]
    wrong = run_migrate(
        "restore",
        str(dump),
        "--yes",
        "--env",
        "production",
        "--approve",
        "0123456789ab",
        project=project,
        url=database_url,
    )
    approved = run_migrate(
        "restore",
        str(dump),
        "--yes",
        "--env",
        "production",
        "--approve",
        approval,
        project=project,
        url=database_url,
    )

    assert refused.exit_code == 1 and "restores only an approved backup" in refused.output
    assert wrong.exit_code == 1 and "is not this one" in wrong.output
    assert approved.exit_code == 0, approved.output
    assert f"approved {approval} by " in history_rows(database_url)[-1]["note"]
