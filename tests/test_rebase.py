"""Two engineers each add a revision on crm's head: every writing command refuses the two heads,
and `migrate rebase` puts one after the other."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from conftest import (
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    history_rows,
    run_migrate,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from migrator.model import services, template
from migrator.model.graph import RevisionGraph

FORK = head_of("crm")
MINE, THEIRS = "20261129_001", "20261129_002"
CRM = services.resolve("crm")


def _add(project: Path, revision: str, table: str) -> Path:
    return add_revision(
        project,
        "crm",
        revision,
        down_revision=FORK,
        upgrade=f"CREATE TABLE crm.{table} (id int);",
        downgrade=f"DROP TABLE IF EXISTS crm.{table};",
    )


@pytest.fixture
def parallel(project: Path) -> Path:
    """crm with two revisions on the same head, applied nowhere."""
    _add(project, MINE, "mine")
    _add(project, THEIRS, "theirs")
    return project


@pytest.fixture
def mine_applied(project: Path, database_url: URL) -> Path:
    """MINE was merged and applied to the target first; THEIRS arrives on the same head."""
    _add(project, MINE, "mine")
    assert run_migrate("up", "--version", MINE, url=database_url, project=project).exit_code == 0
    _add(project, THEIRS, "theirs")
    return project


def _record_as_applied(url: URL, revision: str) -> None:
    """The version table of a database that applied both heads (as plain `alembic upgrade
    heads` would), without running the revision."""
    with connection_to(url) as connection:
        connection.exec_driver_sql(f"INSERT INTO migrator.alembic_version VALUES ('{revision}')")
        connection.commit()


def _moved(project: Path) -> str:
    """The id THEIRS has after a rebase: crm's single head, built on MINE."""
    graph = RevisionGraph.load(project)
    [head] = graph.branch_heads(CRM)
    assert graph[head].down_revisions == (MINE,)
    return head


def test_deps_check_names_both_heads_and_their_files(parallel: Path) -> None:
    result = run_migrate("deps", "check", project=parallel)

    assert result.exit_code == 1
    assert (
        f"crm has 2 heads: {MINE} (services/crm/versions/{MINE}_crm_test.py) and {THEIRS} "
        f"(services/crm/versions/{THEIRS}_crm_test.py), both on {FORK}; run migrate rebase "
        "--service crm"
    ) in " ".join(result.output.split())


def test_up_refuses_parallel_heads_and_applies_nothing(parallel: Path, database_url: URL) -> None:
    result = run_migrate("up", url=database_url, project=parallel)

    assert result.exit_code == 1
    assert "crm has 2 heads" in result.output
    assert applied_versions(database_url) == set()


def test_new_refuses_parallel_heads(parallel: Path) -> None:
    result = run_migrate("new", "--service", "erp", "-m", "add invoices", project=parallel)

    assert result.exit_code == 1
    assert "run migrate rebase --service crm" in result.output
    assert not list((parallel / "services" / "erp" / "versions").glob("*add_invoices*"))


def test_import_sql_refuses_parallel_heads(parallel: Path, tmp_path: Path) -> None:
    result = run_migrate("import-sql", str(tmp_path), "--service", "erp", project=parallel)

    assert result.exit_code == 1
    assert "run migrate rebase --service crm" in result.output


@pytest.mark.parametrize(
    "command",
    [("repair", "--version", MINE), ("dev", "reset", "--yes")],
    ids=lambda command: command[0],
)
def test_other_writing_commands_refuse_parallel_heads(
    parallel: Path, database_url: URL, command: tuple[str, ...]
) -> None:
    result = run_migrate(*command, url=database_url, project=parallel)

    assert result.exit_code == 1
    assert "crm has 2 heads" in result.output


def test_status_shows_parallel_heads_without_failing(parallel: Path, database_url: URL) -> None:
    result = run_migrate("status", url=database_url, project=parallel)

    assert result.exit_code == 0
    assert "warning: crm has 2 heads" in result.output


def test_rebase_moves_the_head_the_database_has_not_applied(
    mine_applied: Path, database_url: URL
) -> None:
    result = run_migrate(
        "rebase", "--service", "crm", "--yes", url=database_url, project=mine_applied
    )

    assert result.exit_code == 0, result.output
    moved = _moved(mine_applied)
    assert moved > MINE
    versions = mine_applied / "services" / "crm" / "versions"
    assert not (versions / f"{THEIRS}_crm_test.py").exists()
    assert (versions / f"{moved}_crm_test.py").is_file()
    assert run_migrate("deps", "check", project=mine_applied).exit_code == 0


def test_rebase_changes_only_the_ids_of_the_moved_file(parallel: Path, database_url: URL) -> None:
    before = (parallel / "services" / "crm" / "versions" / f"{THEIRS}_crm_test.py").read_bytes()

    run_migrate("rebase", "--service", "crm", "--yes", url=database_url, project=parallel)

    moved = _moved(parallel)
    after = (parallel / "services" / "crm" / "versions" / f"{moved}_crm_test.py").read_bytes()
    expected = before.replace(THEIRS.encode(), moved.encode()).replace(
        f"down_revision = '{FORK}'".encode(), f"down_revision = '{MINE}'".encode()
    )
    assert after == expected


def test_rebase_moves_the_newer_head_when_neither_is_applied(
    parallel: Path, database_url: URL
) -> None:
    taken = RevisionGraph.load(parallel).revisions

    result = run_migrate("rebase", "--service", "crm", "--yes", url=database_url, project=parallel)

    assert result.exit_code == 0, result.output
    day = max(datetime.date.today(), datetime.date(2026, 11, 29))  # MINE's date, if later
    assert _moved(parallel) == template.next_revision_id(taken, day)
    assert f"moved {THEIRS} as {_moved(parallel)} onto {MINE}" in result.output


def test_rebase_onto_keeps_the_named_head_and_moves_the_other(
    parallel: Path, database_url: URL
) -> None:
    result = run_migrate(
        "rebase", "--service", "crm", "--onto", THEIRS, "--yes", url=database_url, project=parallel
    )

    assert result.exit_code == 0, result.output
    graph = RevisionGraph.load(parallel)
    [head] = graph.branch_heads(CRM)
    assert graph[head].down_revisions == (THEIRS,)


def test_rebase_without_yes_and_without_a_terminal_changes_nothing(
    parallel: Path, database_url: URL
) -> None:
    result = run_migrate("rebase", "--service", "crm", url=database_url, project=parallel)

    assert result.exit_code == 2
    assert "pass --yes to confirm" in result.output
    assert len(RevisionGraph.load(parallel).branch_heads(CRM)) == 2


def test_rebase_points_other_services_depends_on_at_the_new_id(
    parallel: Path, database_url: URL
) -> None:
    erp = add_revision(
        parallel,
        "erp",
        "20261129_003",
        down_revision=head_of("erp"),
        upgrade="SELECT 1;",
        depends_on=(THEIRS,),
    )

    run_migrate("rebase", "--service", "crm", "--yes", url=database_url, project=parallel)

    moved = _moved(parallel)
    assert RevisionGraph.load(parallel)["20261129_003"].dependencies == (moved,)
    assert f'Dependencies: ["{moved}"]' in erp.read_text()
    assert run_migrate("deps", "check", project=parallel).exit_code == 0


def test_up_applies_both_revisions_in_line_after_a_rebase(
    parallel: Path, database_url: URL
) -> None:
    run_migrate("rebase", "--service", "crm", "--yes", url=database_url, project=parallel)

    result = run_migrate("up", url=database_url, project=parallel)

    assert result.exit_code == 0, result.output
    order = [row["revision"] for row in history_rows(database_url)]
    assert order.index(MINE) < order.index(_moved(parallel))


def test_rebase_refuses_to_move_a_head_the_database_applied(
    mine_applied: Path, database_url: URL
) -> None:
    result = run_migrate(
        "rebase",
        "--service",
        "crm",
        "--onto",
        THEIRS,
        "--yes",
        url=database_url,
        project=mine_applied,
    )

    assert result.exit_code == 2
    assert f"would move {MINE}, which is applied on" in result.output
    assert (mine_applied / "services" / "crm" / "versions" / f"{MINE}_crm_test.py").is_file()


def test_rebase_refuses_when_both_heads_are_applied(mine_applied: Path, database_url: URL) -> None:
    _record_as_applied(database_url, THEIRS)

    result = run_migrate(
        "rebase", "--service", "crm", "--yes", url=database_url, project=mine_applied
    )

    assert result.exit_code == 1
    assert f"{MINE} and {THEIRS} of crm are applied on" in result.output
    assert database_url.database in result.output


def test_down_takes_back_one_of_two_applied_heads(mine_applied: Path, database_url: URL) -> None:
    _record_as_applied(database_url, THEIRS)

    result = run_migrate("down", "--version", THEIRS, url=database_url, project=mine_applied)

    assert result.exit_code == 0, result.output
    assert THEIRS not in applied_versions(database_url)


def test_down_refuses_what_is_not_one_of_the_parallel_heads(
    mine_applied: Path, database_url: URL
) -> None:
    result = run_migrate("down", "--service", "auth", url=database_url, project=mine_applied)

    assert result.exit_code == 1
    assert "crm has 2 heads" in result.output


@pytest.mark.parametrize(
    ("name", "destination"), [("upgrade", "heads"), ("stamp", "heads"), ("downgrade", "base")]
)
def test_plain_alembic_refuses_parallel_heads_and_writes_nothing(
    parallel: Path, database_url: URL, name: str, destination: str
) -> None:
    config = Config(str(parallel / "alembic.ini"), stdout=io.StringIO())

    with create_engine(database_url).connect() as connection:
        config.attributes["connection"] = connection
        with pytest.raises(CommandError, match="crm has 2 heads"):
            getattr(command, name)(config, destination)

    assert applied_versions(database_url) == set()
