"""Repeatable files: views and functions as CREATE OR REPLACE, run again when they change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import branch_of, connection_to, history_rows, run_migrate, url_text
from sqlalchemy.engine import URL

from migrator.model import services
from migrator.model.repeatable import Repeatable

SUMMARY = """CREATE OR REPLACE VIEW crm.customer_names AS
SELECT c.id, c.legal_name FROM crm.customers c;
"""
SUMMARY_CHANGED = """CREATE OR REPLACE VIEW crm.customer_names AS
SELECT c.id, c.legal_name, c.status FROM crm.customers c;
"""


def _write(project: Path, name: str, text: str, service: str = "crm") -> Path:
    folder = project / "services" / service / "repeatable"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _repeatable_rows(url: URL) -> list[dict]:
    return [row for row in history_rows(url) if row["direction"] == "repeatable"]


def _up(project: Path, url: URL) -> str:
    result = run_migrate("up", "--service", "crm", project=project, url=url)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_changed_view_is_applied_once_by_up_and_not_again(project: Path, database_url: URL):
    path = _write(project, "customer_names.sql", SUMMARY)
    _up(project, database_url)
    path.write_text(SUMMARY_CHANGED)

    changed = _up(project, database_url)
    again = _up(project, database_url)

    assert "repeatable crm/customer_names.sql" in changed
    assert "crm/customer_names.sql" not in again and "nothing to apply" in again
    with connection_to(database_url) as connection:
        columns = connection.exec_driver_sql("SELECT * FROM crm.customer_names").keys()
    assert list(columns) == ["id", "legal_name", "status"]


def test_up_records_each_run_of_a_repeatable_with_its_checksum(project: Path, database_url: URL):
    path = _write(project, "customer_names.sql", SUMMARY)

    _up(project, database_url)

    [row] = _repeatable_rows(database_url)
    assert (row["revision"], row["service"], row["outcome"]) == (
        "crm/customer_names.sql",
        "crm",
        "success",
    )
    assert row["checksum"] == Repeatable(services.resolve("crm"), path, SUMMARY).checksum


def test_plan_and_up_sql_show_a_pending_repeatable(project: Path, database_url: URL):
    _write(project, "customer_names.sql", SUMMARY)

    plan = run_migrate("plan", "--service", "crm", project=project, url=database_url)
    sql = run_migrate("up", "--service", "crm", "--sql", project=project, url=database_url)

    assert "repeatable crm/customer_names.sql" in plan.output
    assert "services/crm/repeatable/customer_names.sql:1" in plan.output
    assert "-- repeatable crm/customer_names.sql" in sql.output
    assert "CREATE OR REPLACE VIEW crm.customer_names" in sql.output


def test_a_repeatable_view_runs_after_the_repeatable_view_it_selects_from(
    project: Path, database_url: URL
):
    _write(
        project,
        "a_lead_names.sql",
        "CREATE OR REPLACE VIEW crm.lead_names AS SELECT id, legal_name FROM crm.z_all_names;",
    )
    _write(
        project,
        "z_all_names.sql",
        "CREATE OR REPLACE VIEW crm.z_all_names AS SELECT id, legal_name FROM crm.customers;",
    )

    _up(project, database_url)

    keys = [row["revision"] for row in _repeatable_rows(database_url)]
    assert keys == ["crm/z_all_names.sql", "crm/a_lead_names.sql"]


def test_status_counts_the_new_or_changed_repeatables_of_a_service(
    project: Path, database_url: URL
):
    _up(project, database_url)
    _write(project, "customer_names.sql", SUMMARY)

    result = run_migrate("status", "--json", project=project, url=database_url)

    by_service = {row["service"]: row for row in json.loads(result.stdout)}
    assert by_service["crm"]["repeatables_pending"] == 1
    assert by_service["auth"]["repeatables_pending"] == 0


def test_a_removed_repeatable_file_is_reported_by_status_and_plan(project: Path, database_url: URL):
    path = _write(project, "customer_names.sql", SUMMARY)
    _up(project, database_url)
    path.unlink()

    status = run_migrate("status", project=project, url=database_url)
    plan = run_migrate("plan", project=project, url=database_url)

    message = "removed: crm/customer_names.sql — drop it with a revision"
    assert message in status.output
    assert message in plan.output


def test_lint_reports_a_repeatable_statement_that_cannot_run_again(project: Path):
    path = _write(
        project,
        "names.sql",
        "CREATE OR REPLACE VIEW crm.names AS SELECT 1 AS one;\n\n"
        "CREATE VIEW crm.twice AS SELECT 2;\n",
    )

    result = run_migrate("lint", "--json", "--pg-version", "15", str(path), project=project)

    findings = [f for f in json.loads(result.stdout) if f["rule"] == "repeatable-replaces-only"]
    assert result.exit_code == 1
    assert [(f["path"], f["line"]) for f in findings] == [("services/crm/repeatable/names.sql", 3)]


def test_drift_is_clean_after_up_applied_repeatables(project: Path, database_url: URL):
    _write(project, "customer_names.sql", SUMMARY)
    _up(project, database_url)

    result = run_migrate("drift", "--service", "crm", project=project, url=database_url)

    assert result.exit_code == 0, result.output


def test_a_failing_repeatable_names_its_file_and_line_and_leaves_the_revisions_applied(
    project: Path, database_url: URL
):
    _write(
        project,
        "broken.sql",
        "COMMENT ON SCHEMA crm IS 'crm';\n\nCREATE OR REPLACE VIEW crm.broken AS\n"
        "SELECT no_such_column FROM crm.customers;\n",
    )

    result = run_migrate("up", "--service", "crm", project=project, url=database_url)

    assert result.exit_code == 1
    assert "repeatable services/crm/repeatable/broken.sql:3 failed" in result.output
    status = run_migrate("status", "--json", project=project, url=database_url)
    crm = next(row for row in json.loads(status.stdout) if row["service"] == "crm")
    assert crm["pending"] == 0 and crm["repeatables_pending"] == 1
    [row] = _repeatable_rows(database_url)
    assert row["outcome"] == "failed"


def test_a_repeatable_trigger_runs_after_the_repeatable_function_it_executes(
    project: Path, database_url: URL
):
    _write(
        project,
        "a_touch_trigger.sql",
        "CREATE OR REPLACE TRIGGER customers_touch BEFORE UPDATE ON crm.customers\n"
        "FOR EACH ROW EXECUTE FUNCTION crm.z_touch();\n",
    )
    _write(
        project,
        "z_touch.sql",
        "CREATE OR REPLACE FUNCTION crm.z_touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN NEW.updated_at := now(); RETURN NEW; END $$;\n",
    )

    _up(project, database_url)

    keys = [row["revision"] for row in _repeatable_rows(database_url)]
    assert keys == ["crm/z_touch.sql", "crm/a_touch_trigger.sql"]


def test_a_service_short_of_its_head_gets_no_repeatables(project: Path, database_url: URL):
    _write(project, "customer_names.sql", SUMMARY)
    before_head = branch_of("crm")[-2]

    result = run_migrate("up", "--version", before_head, project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert _repeatable_rows(database_url) == []


def test_a_changed_repeatable_changes_the_plans_hash(project: Path, database_url: URL):
    path = _write(project, "customer_names.sql", SUMMARY)
    first = run_migrate("plan", "--json", project=project, url=database_url)
    path.write_text(SUMMARY_CHANGED)

    second = run_migrate("plan", "--json", project=project, url=database_url)

    assert json.loads(first.stdout)["hash"] != json.loads(second.stdout)["hash"]
    [shown] = json.loads(second.stdout)["repeatables"]
    assert shown["file"] == "services/crm/repeatable/customer_names.sql"


def test_plan_refuses_a_repeatable_that_cannot_run_again_naming_its_line(
    project: Path, database_url: URL
):
    _write(project, "names.sql", "\nDROP VIEW IF EXISTS crm.names;\n")

    result = run_migrate("plan", "--service", "crm", project=project, url=database_url)

    assert result.exit_code == 1
    assert "repeatable services/crm/repeatable/names.sql:2: only CREATE OR REPLACE" in result.output


def test_validate_passes_over_the_history_rows_of_repeatables(project: Path, database_url: URL):
    _write(project, "customer_names.sql", SUMMARY)
    _up(project, database_url)

    result = run_migrate("validate", project=project, url=database_url)

    assert result.exit_code == 0, result.output


def test_plain_alembic_upgrade_runs_no_repeatable_and_is_not_stopped_by_one(
    project: Path, database_url: URL
):
    _write(project, "customer_names.sql", SUMMARY)
    _up(project, database_url)
    _write(project, "customer_names.sql", SUMMARY_CHANGED)

    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "erp@head"],
        cwd=project,
        env={**os.environ, "DATABASE_URL": url_text(database_url)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert len(_repeatable_rows(database_url)) == 1
