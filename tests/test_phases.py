"""Blue-green phases: `up --phase expand` stops each branch before its first contract revision."""

from __future__ import annotations

from pathlib import Path

from conftest import add_revision, applied_versions, connection_to, platform_graph, run_migrate
from sqlalchemy.engine import URL

from migrator.model import services

EXPAND_ADD, EXPAND_BACKFILL, CONTRACT_DROP = "20240301_001", "20240301_002", "20240301_003"


def _crm_columns(url: URL) -> list[str]:
    with connection_to(url) as connection:
        return list(
            connection.exec_driver_sql(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'crm' AND table_name = 'customers' ORDER BY column_name"
            ).scalars()
        )


def test_expand_applies_everything_backward_compatible_and_stops_before_contract(
    database_url: URL,
) -> None:
    expand = run_migrate("up", "--phase", "expand", url=database_url)

    assert expand.exit_code == 0, expand.output
    assert EXPAND_BACKFILL in applied_versions(database_url)
    assert CONTRACT_DROP not in expand.output
    assert {"name", "legal_name"} <= set(_crm_columns(database_url))

    contract = run_migrate("up", "--phase", "contract", url=database_url)

    assert contract.exit_code == 0, contract.output
    assert f"applied {CONTRACT_DROP}" in contract.output
    assert "name" not in _crm_columns(database_url)


def test_old_and_new_code_both_write_while_expanded(database_url: URL) -> None:
    run_migrate("up", "--phase", "expand", url=database_url)

    with connection_to(database_url) as connection:
        owner = connection.exec_driver_sql("SELECT id FROM auth.users LIMIT 1").scalar()
        connection.exec_driver_sql(  # old code: writes name only
            "INSERT INTO crm.customers (owner_id, name) VALUES (%s, 'Old Writer Ltd')", (owner,)
        )
        connection.exec_driver_sql(  # new code: writes legal_name only
            "INSERT INTO crm.customers (owner_id, legal_name) VALUES (%s, 'New Writer SA')",
            (owner,),
        )
        rows = connection.exec_driver_sql(
            "SELECT name, legal_name FROM crm.customers WHERE name LIKE '%% Writer %%' ORDER BY 1"
        ).all()
        connection.commit()

    assert [tuple(row) for row in rows] == [
        ("New Writer SA", "New Writer SA"),
        ("Old Writer Ltd", "Old Writer Ltd"),
    ]


def test_a_revision_after_a_contract_waits_for_the_contract_phase(
    project: Path, database_url: URL
) -> None:
    crm_head = platform_graph().branch(services.resolve("crm"))[-1].id
    add_revision(
        project,
        "crm",
        "20240601_001",
        down_revision=crm_head,
        upgrade="ALTER TABLE crm.customers ADD COLUMN IF NOT EXISTS website text;",
        settings='phase = "expand"\n',
    )

    run_migrate("up", "--phase", "expand", project=project, url=database_url)

    assert not {CONTRACT_DROP, "20240601_001"} & applied_versions(database_url)
    plan = run_migrate("plan", "--phase", "contract", project=project, url=database_url)
    assert f"[1] {CONTRACT_DROP} (crm, contract)" in plan.output
    assert "] 20240601_001 (crm, expand)" in plan.output


def test_an_unknown_phase_is_refused(database_url: URL) -> None:
    result = run_migrate("up", "--phase", "shrink", url=database_url)

    assert result.exit_code == 2 and "--phase 'shrink': use expand or contract" in result.output
