"""`migrate down`: the last migration, one service's, one revision, with and without --cascade."""

from __future__ import annotations

import threading

from conftest import (
    PROJECT_ROOT,
    applied_versions,
    branch_of,
    connection_to,
    head_of,
    platform_graph,
    run_migrate,
    schema_of,
    url_text,
)
from sqlalchemy.engine import URL

from migrator.commands import writing
from migrator.context import Context
from migrator.errors import MigratorError
from migrator.events import Event, LockBusy
from migrator.model.graph import RevisionGraph
from migrator.run.lock import migration_lock

AUTH, USER, CRM = "20240101_001", "20240101_002", "20240101_003"
ERP_WAREHOUSES, ERP_ORDERS, ERP_INVOICES = "20240413_001", "20240413_002", "20240413_003"
# The revision before inosec_edge's head.
INOSEC_EDGE_BEFORE_HEAD = branch_of("inosec_edge")[-2]


def test_every_revision_rolls_back_to_the_schema_before_it(database_url: URL) -> None:
    graph = RevisionGraph.load(PROJECT_ROOT)
    schemas_before = {}
    for revision in graph.in_order(graph.revisions):
        schemas_before[revision] = schema_of(database_url)
        assert run_migrate("up", "--version", revision, url=database_url).exit_code == 0

    for revision in reversed(graph.in_order(graph.revisions)):
        result = run_migrate("down", "--version", revision, url=database_url)
        assert result.exit_code == 0, result.output
        assert schema_of(database_url) == schemas_before[revision], revision

    assert applied_versions(database_url) == set()


def test_down_refuses_when_crm_and_user_depend_on_auth(database_url: URL) -> None:
    run_migrate("up", "--version", CRM, url=database_url)
    before = (schema_of(database_url), applied_versions(database_url))

    result = run_migrate("down", "--version", AUTH, url=database_url)

    assert result.exit_code == 1
    assert "2 applied revision(s) depend on 20240101_001" in result.output
    assert "--cascade" in result.output
    assert "20240101_002 (user)" in result.output and "20240101_003 (crm)" in result.output
    assert (schema_of(database_url), applied_versions(database_url)) == before


def test_down_cascade_rolls_back_the_dependents_first(database_url: URL) -> None:
    run_migrate("up", "--version", CRM, url=database_url)
    run_migrate("up", "--service", "erp", url=database_url)

    result = run_migrate("down", "--version", AUTH, "--cascade", url=database_url)

    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("rolled back")]
    rolled_back = [line.split()[2] for line in lines]
    # erp's orders and invoices belong to auth users; its products and warehouses need no auth.
    assert sorted(rolled_back) == sorted([CRM, USER, AUTH, ERP_ORDERS, ERP_INVOICES])
    for dependent, needed in [(CRM, USER), (USER, AUTH), (ERP_INVOICES, ERP_ORDERS)]:
        assert rolled_back.index(dependent) < rolled_back.index(needed)
    assert rolled_back[-1] == AUTH
    assert not {"auth", "user", "crm"} & set(_schemas(database_url))
    assert "erp" in _schemas(database_url)
    assert applied_versions(database_url) == {ERP_WAREHOUSES}


def test_down_without_version_rolls_back_only_the_last_applied_migration(database_url: URL) -> None:
    run_migrate("up", "--service", "inosec-edge", url=database_url)

    result = run_migrate("down", url=database_url)

    assert result.exit_code == 0, result.output
    graph = platform_graph()
    applied = graph.applied(applied_versions(database_url))
    assert applied == graph.ancestors([INOSEC_EDGE_BEFORE_HEAD])


def test_down_service_rolls_back_that_services_last_migration(database_url: URL) -> None:
    run_migrate("up", url=database_url)

    result = run_migrate("down", "--service", "inosec_edge", url=database_url)

    assert result.exit_code == 0, result.output
    graph = platform_graph()
    applied = graph.applied(applied_versions(database_url))
    assert set(graph.revisions) - applied == {head_of("inosec_edge")}


def test_down_on_an_empty_database_says_nothing_is_applied(database_url: URL) -> None:
    result = run_migrate("down", url=database_url)

    assert result.exit_code == 1
    assert "nothing to roll back" in result.output


def _schemas(url: URL) -> list[str]:
    return [row[0] for row in schema_of(url)["schemas"]]


def test_down_refuses_when_the_database_moved_while_it_waited_for_the_lock(
    database_url: URL,
) -> None:
    run_migrate("up", "--service", "erp", url=database_url)
    waits = threading.Event()

    def notice_the_wait(event: Event) -> None:
        if isinstance(event, LockBusy):
            waits.set()

    ctx = Context.load(
        database_url=url_text(database_url), project=PROJECT_ROOT, events=notice_the_wait
    )
    erp_head = head_of("erp")
    plan = writing.rollback_plan(ctx, version=erp_head)
    raised: list[BaseException] = []

    def roll_back_erp() -> None:
        try:
            writing.run_plan(ctx, plan)
        except MigratorError as error:
            raised.append(error)

    with connection_to(database_url) as other, migration_lock(other, "migrator", 1000, print):
        waiting = threading.Thread(target=roll_back_erp)
        waiting.start()  # plans the rollback, then waits for the lock
        assert waits.wait(30), "the rollback never waited for the migration lock"
        # What another migrator holding the lock would leave: a new head in the version table.
        other.exec_driver_sql(f"INSERT INTO migrator.alembic_version VALUES ('{head_of('auth')}')")
        other.commit()
    waiting.join(timeout=60)

    assert raised and "changed the database while this one waited" in str(raised[0])
    assert erp_head in applied_versions(database_url)
