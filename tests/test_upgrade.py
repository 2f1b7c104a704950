"""`migrate up`: all services, one service with what it needs, up to one revision."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import (
    PLATFORM_SERVICES,
    PROJECT_ROOT,
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    migrate_process,
    platform_graph,
    run_migrate,
    schema_of,
    wait_for_server,
)
from sqlalchemy.engine import URL

from migrator.model.graph import RevisionGraph

USER = "20240101_002"


def test_up_brings_every_service_to_head(database_url: URL) -> None:
    result = run_migrate("up", url=database_url)

    assert result.exit_code == 0, result.output
    assert f"{len(platform_graph().revisions)} revision(s) applied" in result.output
    status = run_migrate("status", "--json", url=database_url)
    assert all(row["pending"] == 0 for row in json.loads(status.output))


def test_up_service_applies_crm_and_what_crm_depends_on_only(database_url: URL) -> None:
    result = run_migrate("up", "--service", "crm-service", url=database_url)

    assert result.exit_code == 0, result.output
    with connection_to(database_url) as connection:
        tables = set(
            connection.exec_driver_sql(
                "SELECT schemaname || '.' || tablename FROM pg_tables "
                "WHERE schemaname IN ('auth', 'user', 'crm', 'erp')"
            ).scalars()
        )
    assert {"auth.users", "user.profiles", "user.preferences", "crm.customers"} <= tables
    assert {table.split(".")[0] for table in tables} == {"auth", "user", "crm"}


def test_up_version_stops_at_that_revision(database_url: URL) -> None:
    result = run_migrate("up", "--version", USER, url=database_url)

    assert result.exit_code == 0, result.output
    assert applied_versions(database_url) == {USER}
    assert "erp" not in schema_of(database_url)["schemas"]


def test_up_twice_has_nothing_to_do(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    before = schema_of(database_url)

    again = run_migrate("up", url=database_url)

    assert again.exit_code == 0
    assert "nothing to apply" in again.output
    assert schema_of(database_url) == before


def test_create_index_concurrently_runs_outside_the_transaction(database_url: URL) -> None:
    """PostgreSQL refuses CONCURRENTLY in a transaction block, so building it proves it ran
    outside one; the control below shows the refusal is real on this server."""
    run_migrate("up", "--service", "auth", url=database_url)

    with connection_to(database_url) as connection:
        valid = connection.exec_driver_sql(
            "SELECT indisvalid FROM pg_index"
            " WHERE indexrelid = 'auth.idx_users_email_lower'::regclass"
        ).scalar()
        assert valid is True
        connection.exec_driver_sql("SELECT 1")  # opens a transaction, as a revision's would
        refused = None
        try:
            connection.exec_driver_sql("CREATE INDEX CONCURRENTLY control_idx ON auth.users (id)")
        except Exception as error:
            refused = str(error)
    assert refused is not None and "cannot run inside a transaction block" in refused


def test_every_service_owns_a_branch_of_the_history() -> None:
    graph = RevisionGraph.load(PROJECT_ROOT)
    owners = {revision.service.name for revision in graph.revisions.values()}
    assert owners == set(PLATFORM_SERVICES)


def test_pg_stat_activity_names_the_revision_under_way(project: Path, database_url: URL) -> None:
    """README: the batch a revision goes to the server as starts with its direction, id and
    service, which is what an operator looking at a stuck run sees."""
    run_migrate("up", url=database_url, project=project)
    add_revision(
        project,
        "auth",
        "20240701_001",
        down_revision=head_of("auth"),
        upgrade="SELECT pg_sleep(30);",
    )
    run = subprocess.Popen(
        migrate_process("up", url=database_url, project=project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_server(
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND starts_with(query, '/* migrator: upgrade 20240701_001 (auth) */')",
        )
    finally:
        run.kill()
        run.wait()
