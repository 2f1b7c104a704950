"""Environments as policy: production's approval and backups, staging's verification."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from conftest import (
    add_revision,
    applied_versions,
    head_of,
    history_rows,
    platform_graph,
    run_migrate,
    schema_of,
)
from sqlalchemy.engine import URL

from migrator.model import services


def _plan_hash(output: str) -> str:
    match = re.search(r"--approve ([0-9a-f]{12})", output)
    assert match, output
    return match.group(1)


def _pyproject_with(project: Path, text: str) -> None:
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + "\n" + text)


def _backups(project: Path) -> list[Path]:
    return sorted((project / "backups").glob("*.dump"))


def test_every_writing_command_says_which_policy_is_in_force(
    project: Path, database_url: URL
) -> None:
    result = run_migrate(
        "up", "--service", "auth", "--env", "staging", project=project, url=database_url
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "environment staging: backup before changes, rollback verified first"
    )


def test_an_unknown_environment_lists_the_known_ones(database_url: URL) -> None:
    result = run_migrate("up", "--env", "qa", url=database_url)

    assert result.exit_code == 2
    assert "unknown environment 'qa'; use one of development, staging, production" in result.output


def test_production_refuses_an_unapproved_plan_and_explains_how_to_approve(
    project: Path, database_url: URL
) -> None:
    result = run_migrate("up", "--env", "production", project=project, url=database_url)

    assert result.exit_code == 1
    assert "production runs only approved plans" in result.output
    assert f"migrate up --env production --approve {_plan_hash(result.output)}" in result.output
    assert applied_versions(database_url) == set() and _backups(project) == []


def test_production_applies_the_approved_plan_after_a_private_backup(
    project: Path, database_url: URL
) -> None:
    plan = run_migrate("plan", "--env", "production", project=project, url=database_url)
    approved = _plan_hash(plan.output)

    result = run_migrate(
        "up", "--env", "production", "--approve", approved, project=project, url=database_url
    )

    assert result.exit_code == 0, result.output
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower" in plan.output
    assert "outside the revision's transaction (autocommit)" in plan.output
    [dump] = _backups(project)
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert dump.name.startswith("production_") and approved in dump.name
    notes = {row["note"] for row in history_rows(database_url)}
    assert len(notes) == 1 and notes.pop().startswith(f"approved plan {approved} by ")
    assert "seeds (" not in result.output  # production loads none


def test_production_refuses_a_stale_approval(project: Path, database_url: URL) -> None:
    approved = _plan_hash(
        run_migrate("plan", "--env", "production", project=project, url=database_url).output
    )
    run_migrate("up", "--service", "auth", project=project, url=database_url)  # the database moves

    result = run_migrate(
        "up", "--env", "production", "--approve", approved, project=project, url=database_url
    )

    assert result.exit_code == 1
    assert f"the approved plan {approved} is not the plan now" in result.output
    assert applied_versions(database_url) == {head_of("auth")}


def test_production_refuses_to_migrate_without_room_for_the_backup(
    project: Path, database_url: URL
) -> None:
    path = project / "pyproject.toml"
    path.write_text(
        path.read_text().replace(
            "[tool.migrator]\n", '[tool.migrator]\nbackup_reserve = "1000000TB"\n'
        )
    )
    approved = _plan_hash(
        run_migrate("plan", "--env", "production", project=project, url=database_url).output
    )
    before = schema_of(database_url)

    result = run_migrate(
        "up", "--env", "production", "--approve", approved, project=project, url=database_url
    )

    assert result.exit_code == 1
    assert "would not fit in" in result.output and "nothing was migrated" in result.output
    assert schema_of(database_url) == before and applied_versions(database_url) == set()


def test_production_down_needs_approval_too(project: Path, database_url: URL) -> None:
    run_migrate("up", "--version", "20240101_004", project=project, url=database_url)

    refused = run_migrate("down", "--env", "production", project=project, url=database_url)
    approved = run_migrate(
        "down",
        "--env",
        "production",
        "--approve",
        _plan_hash(refused.output),
        project=project,
        url=database_url,
    )

    assert refused.exit_code == 1 and "roll back 1 revision(s): 20240101_004" in refused.output
    assert approved.exit_code == 0, approved.output
    assert applied_versions(database_url) == set()


def test_staging_verifies_the_rollback_and_refuses_a_broken_one(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="""
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS nickname text;
CREATE INDEX IF NOT EXISTS idx_users_nickname ON auth.users (nickname);
""",
        downgrade="DROP INDEX IF EXISTS auth.idx_users_nickname;",  # forgets the column
    )
    before = schema_of(database_url)

    result = run_migrate(
        "up", "--service", "auth", "--env", "staging", project=project, url=database_url
    )

    assert result.exit_code == 1
    assert "does not restore the schema; nothing was applied" in result.output
    assert (
        "after the rollback, columns: only in the second: auth users nickname text" in result.output
    )
    assert schema_of(database_url) == before and _backups(project) == []


def test_staging_backs_up_and_applies_a_plan_that_rolls_back_cleanly(
    project: Path, database_url: URL
) -> None:
    result = run_migrate("up", "--env", "staging", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert "verified on a scratch copy (migrator_scratch_verify_" in result.output
    assert len(_backups(project)) == 1
    assert "seeds (staging) loaded for auth, erp" in result.output


def test_verify_reports_each_object_a_rollback_gets_wrong(project: Path, database_url: URL) -> None:
    erp_head = platform_graph().branch(services.resolve("erp"))[-1].id
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=erp_head,
        upgrade="CREATE TABLE IF NOT EXISTS erp.bins (id bigint PRIMARY KEY, code text)",
        downgrade="SELECT 1;",
    )
    run_migrate("up", "--version", erp_head, project=project, url=database_url)
    applied = applied_versions(database_url)

    result = run_migrate("verify", "--service", "erp", project=project, url=database_url)

    assert result.exit_code == 1
    assert "after the rollback, columns: only in the second: erp bins id bigint" in result.output
    assert "after the rollback, indexes: only in the second: erp bins_pkey" in result.output
    assert applied_versions(database_url) == applied


def test_production_refuses_a_wrong_approval_even_when_nothing_is_pending(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", project=project, url=database_url)

    result = run_migrate(
        "up", "--env", "production", "--approve", "0123456789ab", project=project, url=database_url
    )

    assert result.exit_code == 1
    assert "the approved plan 0123456789ab is not the plan now" in result.output
