"""`migrate squash`: one revision in place of crm's first six, and databases on either side."""

from __future__ import annotations

import datetime
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from conftest import (
    add_revision,
    applied_versions,
    branch_of,
    connection_to,
    copy_project,
    history_rows,
    run_migrate,
    schema_of,
)
from pglast import parse_sql
from pglast.ast import CreateStmt, IndexStmt
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from migrator.model.graph import RevisionGraph

CRM = branch_of("crm")
THROUGH = CRM[5]  # crm's sixth revision
REPLACED = CRM[:6]
MIDDLE = CRM[2]


class Squashed:
    """A project as it was before the squash, and its copy after it."""

    def __init__(self, before: Path, after: Path) -> None:
        self.before, self.after = before, after
        [self.file] = (after / "services" / "crm" / "versions").glob("*_crm_squash_through_*.py")
        self.revision = self.file.name[:12]


@pytest.fixture(scope="module")
def squashed(tmp_path_factory: pytest.TempPathFactory, new_database_module: URL) -> Squashed:
    """crm squashed through its sixth revision, in a project where an erp revision depends on
    one inside the range."""
    before = copy_project(tmp_path_factory.mktemp("squash") / "before")
    erp = branch_of("erp")[-1]
    add_revision(before, "erp", "20240601_001", down_revision=erp, upgrade="SELECT 1;",
                 depends_on=(MIDDLE,))  # fmt: skip
    assert run_migrate("deps", "sync", project=before).exit_code == 0
    after = before.parent / "after"
    shutil.copytree(before, after)
    result = run_migrate(
        "squash", "--service", "crm", "--through", THROUGH, "--yes",
        url=new_database_module, project=after,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Squashed(before, after)


def _built(url: URL, project: Path, *arguments: str) -> URL:
    result = run_migrate("up", *arguments, url=url, project=project)
    assert result.exit_code == 0, result.output
    return url


def _upgrades(url: URL) -> list[str]:
    return [row["revision"] for row in history_rows(url) if row["direction"] == "upgrade"]


def test_the_squash_replaces_crm_through_the_revision_with_one_revision(
    squashed: Squashed,
) -> None:
    graph = RevisionGraph.load(squashed.after)

    assert squashed.revision.startswith(f"{datetime.date.today():%Y%m%d}_")
    assert graph[squashed.revision].replaces == tuple(REPLACED)
    assert not set(REPLACED) & set(graph.revisions)
    assert graph[CRM[6]].down_revisions == (squashed.revision,)


def test_the_squash_points_other_services_depends_on_into_the_range_at_it(
    squashed: Squashed,
) -> None:
    graph = RevisionGraph.load(squashed.after)

    assert graph["20240601_001"].dependencies == (squashed.revision,)
    assert run_migrate("deps", "check", project=squashed.after).exit_code == 0


def test_the_squashed_revision_creates_if_not_exists_and_rolls_back_to_no_crm_schema(
    squashed: Squashed,
) -> None:
    revision = RevisionGraph.load(squashed.after)[squashed.revision]
    [upgrade], [downgrade] = revision.upgrade, revision.downgrade
    nodes = [parse_sql(statement.text)[0].stmt for statement in upgrade.statements]
    creates = [node for node in nodes if isinstance(node, CreateStmt | IndexStmt)]

    assert creates
    assert all(node.if_not_exists for node in creates)
    assert downgrade.statements[-1].text == "DROP SCHEMA IF EXISTS crm"


def test_a_fresh_database_after_the_squash_holds_the_rows_the_replaced_revisions_inserted(
    squashed: Squashed, database_url: URL
) -> None:
    _built(database_url, squashed.after, "--service", "crm")

    with connection_to(database_url) as connection:
        stages = connection.exec_driver_sql("SELECT name FROM crm.deal_stages ORDER BY position")
        assert [row[0] for row in stages] == [
            "qualification", "proposal", "negotiation", "won", "lost"
        ]  # fmt: skip


def test_squash_without_yes_and_without_a_terminal_is_refused_writing_nothing(
    squashed: Squashed, database_url: URL
) -> None:
    before = sorted(squashed.before.rglob("*.py"))

    result = run_migrate(
        "squash", "--service", "crm", "--through", THROUGH, url=database_url,
        project=squashed.before,
    )  # fmt: skip

    assert result.exit_code == 2
    assert "pass --yes to confirm" in result.output
    assert sorted(squashed.before.rglob("*.py")) == before


def test_a_fresh_database_built_after_the_squash_has_the_catalog_of_one_built_before(
    squashed: Squashed, new_database: Callable[[], URL]
) -> None:
    before = _built(new_database(), squashed.before)
    after = _built(new_database(), squashed.after)

    assert schema_of(after) == schema_of(before)


def test_a_database_at_head_before_the_squash_upgrades_past_it_running_nothing(
    squashed: Squashed, database_url: URL
) -> None:
    _built(database_url, squashed.before)
    ran = _upgrades(database_url)

    _built(database_url, squashed.after)

    assert _upgrades(database_url) == ran


def test_a_database_at_the_squashed_revision_moves_to_the_squash_and_runs_only_what_follows(
    squashed: Squashed, database_url: URL
) -> None:
    _built(database_url, squashed.before, "--version", THROUGH)
    ran = _upgrades(database_url)

    _built(database_url, squashed.after)

    stamps = [row for row in history_rows(database_url) if row["direction"] == "stamp"]
    assert [row["revision"] for row in stamps] == [squashed.revision]
    assert not set(_upgrades(database_url)[len(ran) :]) & {*REPLACED, squashed.revision}
    assert CRM[-1] in applied_versions(database_url)


def test_plain_alembic_moves_a_database_at_the_squashed_revision_past_it(
    squashed: Squashed, database_url: URL
) -> None:
    _built(database_url, squashed.before, "--version", THROUGH)
    engine = create_engine(database_url, poolclass=NullPool)
    config = Config(str(squashed.after / "alembic.ini"), stdout=io.StringIO())
    config.attributes["connection"] = engine

    command.upgrade(config, "crm@head")
    engine.dispose()

    assert CRM[-1] in applied_versions(database_url)
    assert squashed.revision not in _upgrades(database_url)


def test_status_reads_a_database_at_the_squashed_revision_as_at_the_squash_without_writing(
    squashed: Squashed, database_url: URL
) -> None:
    _built(database_url, squashed.before, "--version", THROUGH)

    result = run_migrate("status", "--json", url=database_url, project=squashed.after)

    [crm] = [row for row in json.loads(result.output) if row["service"] == "crm"]
    assert crm["current"] == squashed.revision
    assert THROUGH in applied_versions(database_url)


def test_a_database_inside_the_squashed_range_is_refused_naming_the_range(
    squashed: Squashed, database_url: URL
) -> None:
    _built(database_url, squashed.before, "--version", MIDDLE)

    result = run_migrate("up", url=database_url, project=squashed.after)

    assert result.exit_code == 1
    assert (
        f"crm is at {MIDDLE}, inside the range squashed into {squashed.revision} "
        f"({REPLACED[0]}..{THROUGH}); bring it to {THROUGH} with a release from before the "
        "squash, or rebuild it"
    ) in " ".join(result.output.split())


def test_verify_passes_on_the_squashed_project(squashed: Squashed, database_url: URL) -> None:
    result = run_migrate("verify", url=database_url, project=squashed.after)

    assert result.exit_code == 0, result.output
    assert "rolls back to the same schema" in result.output


def test_lint_leaves_no_finding_of_the_squashed_revision_unaccepted(squashed: Squashed) -> None:
    result = run_migrate(
        "lint", str(squashed.file), "--pg-version", "15", "--json", project=squashed.after
    )

    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)
    assert findings
    assert [f for f in findings if not f["accepted"]] == []


def test_squash_refuses_a_revision_of_another_service(squashed: Squashed) -> None:
    result = run_migrate(
        "squash", "--service", "crm", "--through", branch_of("auth")[1], "--yes",
        project=squashed.after,
    )  # fmt: skip

    assert result.exit_code == 2
    assert "belongs to auth, not crm" in result.output
