"""One plan, every view: `plan`, `up --sql`, `export-sql`, the approval hash and the runner show
and run the same statements, a rollback's hash covers its DOWNGRADE, and staging reports what
it did to the target only."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pglast
from conftest import (
    PROJECT_ROOT,
    add_revision,
    applied_versions,
    connection_to,
    head_of,
    history_rows,
    run_migrate,
    url_text,
)
from pglast import ast
from pglast.stream import RawStream
from sqlalchemy.engine import URL

from migrator.model.graph import RevisionGraph
from migrator.model.plan import rollback
from migrator.ops import embedded

BACKFILL = "20240420_001"  # crm: add customers.email_normalized, backfilled in batches
BEFORE_BACKFILL = "20240412_004"
BACKFILL_FILE = "services/crm/versions/20240420_001_crm_backfill_customers_email_normalized.py"


def _canonical(sql: str) -> list[str]:
    """The statements of a SQL text as pglast renders them, without transaction control and
    without what the tool writes for its own schema (version table, tool schema)."""
    kept = []
    for raw in pglast.parse_sql(sql):
        if isinstance(raw.stmt, ast.TransactionStmt):
            continue
        text = RawStream()(raw.stmt)
        if "alembic_version" in text or "migrator" in text:
            continue
        kept.append(text)
    return kept


def _plan_hash(output: str) -> str:
    match = re.search(r"--approve ([0-9a-f]{12})", output)
    assert match, output
    return match.group(1)


def test_editing_a_downgrade_changes_the_hash_of_the_plan_that_rolls_it_back(
    project: Path,
) -> None:
    graph = RevisionGraph.load(project)
    heads = [head_of("auth")]
    before = rollback(graph, heads, version=head_of("auth"))
    path = graph[head_of("auth")].path
    path.write_text(path.read_text().replace('DOWNGRADE = """', 'DOWNGRADE = """\nSELECT 1;', 1))

    after = rollback(RevisionGraph.load(project), heads, version=head_of("auth"))

    assert before.revisions == after.revisions
    assert before.hash != after.hash


def test_an_approved_down_is_refused_once_its_downgrade_was_edited(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--version", "20240101_004", project=project, url=database_url)
    reviewed = run_migrate(
        "plan", "--down", "--env", "production", project=project, url=database_url
    )
    approved = _plan_hash(reviewed.output)
    path = project / "services/erp/versions/20240101_004_erp_create_products.py"
    path.write_text(path.read_text().replace('DOWNGRADE = """', 'DOWNGRADE = """\nSELECT 1;', 1))

    result = run_migrate(
        "down", "--env", "production", "--approve", approved, project=project, url=database_url
    )

    assert reviewed.exit_code == 0, reviewed.output
    assert "DROP TABLE IF EXISTS erp.products" in reviewed.output
    assert result.exit_code == 1
    assert f"the approved plan {approved} is not the plan now" in result.output
    assert "20240101_004" in applied_versions(database_url)


def test_plan_up_sql_and_export_sql_list_the_same_statements_for_the_crm_backfill(
    tmp_path: Path, database_url: URL
) -> None:
    run_migrate("up", "--version", BEFORE_BACKFILL, url=database_url)

    planned = run_migrate("plan", "--version", BACKFILL, "--json", url=database_url)
    offline = run_migrate("up", "--version", BACKFILL, "--sql", url=database_url)
    exported = run_migrate("export-sql", str(tmp_path / "export"))
    export_file = tmp_path / "export/crm/schema" / Path(BACKFILL_FILE).with_suffix(".sql").name

    document = json.loads(planned.output)
    [step] = document["steps"]
    from_plan = _canonical(";\n".join(s["sql"] for s in step["statements"]))
    lines = (PROJECT_ROOT / BACKFILL_FILE).read_text().splitlines()
    alter = 1 + next(n for n, text in enumerate(lines) if text.startswith("ALTER TABLE crm."))
    call = 1 + lines.index("    backfill(")
    assert [s["line"] for s in step["statements"]] == [alter, call]  # the file's own lines
    assert "UPDATE crm.customers SET email_normalized = lower(btrim(email))" in from_plan[-1]
    assert _canonical(offline.output) == from_plan
    assert _canonical(export_file.read_text()) == from_plan
    assert exported.exit_code == 0 and offline.exit_code == 0


def _psql(url: URL, path: Path) -> None:
    subprocess.run(
        [
            str(embedded.client_binary("psql")),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            str(path),
            url_text(url).replace("postgresql+psycopg", "postgresql"),
        ],
        check=True,
        capture_output=True,
    )


def test_export_sql_replayed_with_psql_fills_the_backfilled_column(
    tmp_path: Path, database_url: URL
) -> None:
    run_migrate("export-sql", str(tmp_path / "export"))
    order = (tmp_path / "export" / "ORDER").read_text().split()
    backfill = next(n for n in order if Path(n).name.startswith(BACKFILL))
    for name in order[: order.index(backfill)]:
        _psql(database_url, tmp_path / "export" / name)
    with connection_to(database_url) as connection:
        owner = connection.exec_driver_sql(
            "INSERT INTO auth.users (email, password_hash) VALUES ('owner@inopsio.example', 'x') "
            "RETURNING id"
        ).scalar()
        for number, email in enumerate(["  Mixed@Example.COM ", "lower@example.com", None]):
            connection.exec_driver_sql(
                "INSERT INTO crm.customers (owner_id, legal_name, email) VALUES (%s, %s, %s)",
                (owner, f"customer {number}", email),
            )
        connection.commit()

    for name in order[order.index(backfill) :]:
        _psql(database_url, tmp_path / "export" / name)

    with connection_to(database_url) as connection:
        wrong = connection.exec_driver_sql(
            "SELECT count(*) FROM crm.customers "
            "WHERE email_normalized IS DISTINCT FROM lower(btrim(email))"
        ).scalar()
        filled = connection.exec_driver_sql(
            "SELECT count(*) FROM crm.customers WHERE email_normalized IS NOT NULL"
        ).scalar()
    assert (wrong, filled) == (0, 2)


def test_up_sql_in_the_expand_phase_with_every_branch_pending_prints_sql(
    database_url: URL,
) -> None:
    result = run_migrate("up", "--sql", "--phase", "expand", url=database_url)

    assert result.exit_code == 0, result.output
    assert "CREATE TABLE IF NOT EXISTS auth.users" in result.output
    assert "ALTER TABLE crm.customers ADD COLUMN IF NOT EXISTS legal_name" in result.output
    assert "DROP COLUMN IF EXISTS name" not in result.output  # the contract revision waits
    assert applied_versions(database_url) == set()  # --sql runs nothing


def test_staging_counts_only_what_it_applied_to_the_target(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", "--service", "user", project=project, url=database_url)
    pending = len(RevisionGraph.load(PROJECT_ROOT).revisions) - len(
        {row["revision"] for row in history_rows(database_url)}
    )

    result = run_migrate("up", "--env", "staging", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert f"{pending} revision(s) applied to" in result.output
    assert "verified on a scratch copy" in result.output
    applied_lines = [line for line in result.output.splitlines() if line.startswith("applied ")]
    assert len(applied_lines) == pending  # the scratch copy's steps are not shown as the target's


def test_a_revision_function_that_calls_what_its_file_does_not_declare_is_refused(
    project: Path, database_url: URL
) -> None:
    path = add_revision(
        project, "auth", "20240601_001", down_revision=head_of("auth"), upgrade="SELECT 1;"
    )
    path.write_text(
        path.read_text().replace("    run_sql(UPGRADE)", "    run_sql(UPGRADE)\n    print('hi')")
    )
    line = path.read_text().splitlines().index("    print('hi')") + 1

    result = run_migrate("up", project=project, url=database_url)

    assert result.exit_code == 1
    assert f"services/auth/versions/{path.name}:{line}: upgrade() may only call" in result.output
    assert applied_versions(database_url) == set()


def test_a_body_that_controls_transactions_is_refused_at_its_file_line_before_anything_runs(
    project: Path, database_url: URL
) -> None:
    path = add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="\nSELECT 1;\nCOMMIT;\n",
    )
    line = path.read_text().splitlines().index("COMMIT;") + 1

    result = run_migrate("up", project=project, url=database_url)

    assert result.exit_code == 1
    assert f"services/auth/versions/{path.name}:{line}: revision 20240601_001" in result.output
    assert "controls transactions" in result.output
    assert applied_versions(database_url) == set()


def test_checksums_recorded_by_the_first_version_of_the_tool_still_validate(
    database_url: URL,
) -> None:
    run_migrate("up", "--service", "auth", url=database_url)
    graph = RevisionGraph.load(PROJECT_ROOT)
    with connection_to(database_url) as connection:
        for revision in graph.branch(graph[head_of("auth")].service):
            connection.exec_driver_sql(
                "UPDATE migrator.migration_history SET checksum = %s WHERE revision = %s",
                (revision.legacy_checksum, revision.id),
            )
        connection.commit()

    result = run_migrate("validate", url=database_url)

    assert result.exit_code == 0, result.output
    assert "every applied revision agrees with its file" in result.output


def test_plan_and_run_agree_on_a_pending_plan(
    new_database: Callable[[], URL],
) -> None:
    url = new_database()
    planned = json.loads(run_migrate("plan", "--json", url=url).output)

    run_migrate("up", url=url)

    applied = [
        row["revision"]
        for row in history_rows(url)
        if row["direction"] == "upgrade" and row["outcome"] == "success"
    ]
    assert applied == planned["revisions"]
