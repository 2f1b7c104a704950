"""Development, fast: `dev reset` from a cached template, and `ensure_up_to_date` at start-up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    platform_graph,
    run_migrate,
    schema_of,
    url_text,
)
from sqlalchemy.engine import URL

import migrator
from migrator.errors import MigratorError
from migrator.model import services
from migrator.ops import devdb


def _crm_head() -> str:
    return platform_graph().branch(services.resolve("crm"))[-1].id


@pytest.fixture(autouse=True)
def _drop_templates(server_url: URL) -> Iterator[None]:
    """Templates outlive the test databases they were made from; a shared server keeps none."""
    yield
    with connection_to(server_url) as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        names = connection.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            ("migrator_tpl_migrator_test_",),
        ).scalars()
        for name in list(names):
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')


def _seeded_users(url: URL) -> int:
    with connection_to(url) as connection:
        return connection.exec_driver_sql("SELECT count(*) FROM auth.users").scalar()


def test_dev_reset_replays_once_then_clones_the_template(project: Path, database_url: URL) -> None:
    run_migrate("up", "--service", "auth", project=project, url=database_url)
    with connection_to(database_url) as connection:
        connection.exec_driver_sql("CREATE TABLE auth.scratch_by_hand (id int)")
        connection.commit()

    first = run_migrate("dev", "reset", "--yes", project=project, url=database_url)
    replayed = schema_of(database_url)
    second = run_migrate("dev", "reset", "--yes", project=project, url=database_url)

    assert first.exit_code == 0, first.output
    assert f"{len(platform_graph().revisions)} revision(s) applied and seeded" in first.output
    assert second.exit_code == 0, second.output
    assert "cloned from template migrator_tpl_" in second.output
    assert schema_of(database_url) == replayed
    assert "scratch_by_hand" not in str(replayed)
    assert applied_versions(database_url) == platform_graph().heads_of(
        set(platform_graph().revisions)
    )
    assert _seeded_users(database_url) == 3


def test_a_changed_revision_makes_dev_reset_replay_again(project: Path, database_url: URL) -> None:
    run_migrate("dev", "reset", "--yes", project=project, url=database_url)
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade="CREATE TABLE IF NOT EXISTS erp.bins (id bigint PRIMARY KEY);",
        downgrade="DROP TABLE IF EXISTS erp.bins;",
    )

    again = run_migrate("dev", "reset", "--yes", project=project, url=database_url)

    assert "revision(s) applied and seeded" in again.output
    assert "20240601_001" in applied_versions(database_url)


def test_dev_reset_of_a_configured_database_asks_first_naming_it(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "auth", project=project, url=database_url)

    result = run_migrate("dev", "reset", project=project, url=database_url)  # no terminal

    assert result.exit_code == 2
    [line] = [text for text in result.output.splitlines() if text.startswith("error:")]
    assert f"Drop and recreate database {database_url.database}" in line
    assert "pass --yes" in line
    assert applied_versions(database_url) == {head_of("auth")}


def test_templates_are_capped_listed_and_removable_with_a_plain_drop(
    project: Path, new_database: Callable[[], URL], server_url: URL
) -> None:
    made = []
    for _ in range(devdb.KEPT_TEMPLATES + 1):
        url = new_database()
        run_migrate("dev", "reset", "--yes", project=project, url=url)
        made.append(url)

    listed = run_migrate("dev", "templates", project=project, url=made[0])
    names = [line for line in listed.output.splitlines() if line.startswith("migrator_tpl_")]
    with connection_to(server_url) as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql(f'DROP DATABASE "{names[-1]}"')  # no IS_TEMPLATE to undo
    dropped = run_migrate("dev", "templates", "--drop", project=project, url=made[0])
    after = run_migrate("dev", "templates", project=project, url=made[0])

    assert len(names) == devdb.KEPT_TEMPLATES
    assert dropped.exit_code == 0 and f"dropped {len(names) - 1} template" in dropped.output
    assert "no template databases" in after.output


def test_dev_reset_is_refused_outside_development(project: Path, database_url: URL) -> None:
    run_migrate("up", "--service", "auth", project=project, url=database_url)

    result = run_migrate(
        "dev", "reset", "--env", "production", "--yes", project=project, url=database_url
    )

    assert result.exit_code == 1 and "not allowed in production" in result.output
    assert applied_versions(database_url) == {head_of("auth")}


def test_ensure_up_to_date_applies_what_is_pending_then_returns_at_once(
    database_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    applied = migrator.ensure_up_to_date("crm-service", url_text(database_url))
    again = migrator.ensure_up_to_date("crm", url_text(database_url))

    assert set(applied) == platform_graph().ancestors([_crm_head()])
    assert again == []
    assert "20240101_004" not in applied  # erp is not crm's business
    skipped = [r for r in caplog.records if r.message.startswith("seeds (development) skipped")]
    assert [record.levelname for record in skipped] == ["WARNING"]


def test_ensure_up_to_date_is_safe_from_many_processes_at_once(database_url: URL) -> None:
    code = "import sys, migrator; print(len(migrator.ensure_up_to_date('crm', sys.argv[1])))"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, url_text(database_url)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).parent.parent,
        )
        for _ in range(4)
    ]
    results = [process.communicate(timeout=120) for process in processes]

    assert all(process.returncode == 0 for process in processes), results
    counts = sorted(int(out.decode().strip().splitlines()[-1]) for out, _ in results)
    crm_and_needs = platform_graph().ancestors([_crm_head()])
    assert sum(counts) == len(crm_and_needs)


def test_ensure_up_to_date_refuses_to_apply_in_production(
    database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATE_ENV", "production")

    with pytest.raises(MigratorError, match="does not apply migrations on service start"):
        migrator.ensure_up_to_date("auth", url_text(database_url))
    assert applied_versions(database_url) == set()
