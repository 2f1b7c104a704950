"""`migrate lint`: squawk's findings at file:line, the house rules, and written acceptances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, add_revision, head_of, run_migrate
from sqlalchemy.engine import URL

from migrator.checks.lint import HOUSE_RULES

ERP_HEAD = "20240101_004"


def _lint(project: Path, *arguments: str) -> tuple[int, list[dict]]:
    result = run_migrate("lint", "--json", "--pg-version", "15", *arguments, project=project)
    return result.exit_code, json.loads(result.stdout)


def _erp_revision(project: Path, upgrade: str, downgrade: str = "SELECT 1;", **extra: str) -> Path:
    return add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=ERP_HEAD,
        upgrade=upgrade,
        downgrade=downgrade,
        **extra,
    )


def _rules(findings: list[dict], path: Path) -> dict[str, dict]:
    return {f["rule"]: f for f in findings if path.name in f["path"] and f["accepted"] is None}


def test_the_platforms_history_is_clean_or_carries_written_reasons() -> None:
    result = run_migrate("lint", "--json", "--pg-version", "15")

    assert result.exit_code == 0, result.output
    unaccepted = [f for f in json.loads(result.output) if f["accepted"] is None]
    assert unaccepted == []


def test_squawk_findings_point_at_the_revision_file_and_line(project: Path) -> None:
    path = _erp_revision(
        project,
        "\nALTER TABLE IF EXISTS erp.products\n"
        "    ADD COLUMN IF NOT EXISTS weight_grams bigint NOT NULL;\n",
        "\nALTER TABLE erp.products DROP COLUMN IF EXISTS weight_grams;\n",
    )

    _, findings = _lint(project, str(path))

    finding = _rules(findings, path)["adding-required-field"]
    line = path.read_text().splitlines()[finding["line"] - 1]
    assert "weight_grams bigint NOT NULL" in line
    assert finding["severity"] == "warning"


def test_squawk_ignore_comments_are_honoured(project: Path) -> None:
    path = _erp_revision(
        project,
        "\n-- squawk-ignore adding-required-field\n"
        "ALTER TABLE erp.products ADD COLUMN IF NOT EXISTS weight_grams bigint NOT NULL;\n",
        "\nALTER TABLE erp.products DROP COLUMN IF EXISTS weight_grams;\n",
    )

    _, findings = _lint(project, str(path))

    assert "adding-required-field" not in _rules(findings, path)


@pytest.mark.parametrize(
    ("rule", "failing", "passing"),
    [
        (
            "no-transaction-control",
            {"upgrade": "BEGIN;\nCREATE TABLE IF NOT EXISTS erp.bins (id bigint);\nCOMMIT;"},
            {"upgrade": "CREATE TABLE IF NOT EXISTS erp.bins (id bigint);"},
        ),
        (
            "require-downgrade",
            {"upgrade": "CREATE TABLE IF NOT EXISTS erp.bins (id bigint);", "downgrade": "\n"},
            {
                "upgrade": "CREATE TABLE IF NOT EXISTS erp.bins (id bigint);",
                "downgrade": "DROP TABLE IF EXISTS erp.bins;",
            },
        ),
        (
            "require-if-not-exists",
            {"upgrade": "CREATE TABLE erp.bins (id bigint);"},
            {"upgrade": "CREATE TABLE IF NOT EXISTS erp.bins (id bigint);"},
        ),
        (
            "require-if-exists",
            {"upgrade": "SELECT 1;", "downgrade": "DROP TABLE erp.bins;"},
            {"upgrade": "SELECT 1;", "downgrade": "DROP TABLE IF EXISTS erp.bins;"},
        ),
        (
            "cross-service-dependency",
            {
                "upgrade": "CREATE TABLE IF NOT EXISTS erp.sales (id bigint, customer uuid "
                "REFERENCES crm.customers (id));"
            },
            {
                "upgrade": "CREATE TABLE IF NOT EXISTS erp.sales (id bigint, customer uuid "
                "REFERENCES crm.customers (id));",
                "depends_on": ("20240101_003",),
            },
        ),
    ],
)
def test_each_house_rule_fails_the_bad_example_and_passes_the_good_one(
    project: Path, rule: str, failing: dict, passing: dict
) -> None:
    bad = _erp_revision(project, **failing)
    bad_code, bad_findings = _lint(project, str(bad))
    good = _erp_revision(project, **passing)
    good_code, good_findings = _lint(project, str(good))

    assert rule in _rules(bad_findings, bad)
    assert rule not in _rules(good_findings, good)
    if _rules(bad_findings, bad)[rule]["severity"] == "error":
        assert bad_code == 1
    assert good_code == 0


def test_the_header_rule_catches_a_header_that_disagrees(project: Path) -> None:
    path = _erp_revision(project, "SELECT 1;")
    path.write_text(path.read_text().replace("Service: erp-service", "Service: crm-service"))

    code, findings = _lint(project, str(path))

    assert code == 1 and "header-matches-code" in _rules(findings, path)


def test_a_finding_accepted_in_the_file_with_a_reason_does_not_count(project: Path) -> None:
    path = _erp_revision(
        project,
        "CREATE TABLE erp.bins (id bigint);",
        "DROP TABLE IF EXISTS erp.bins;",
        settings='lint_accept = {"require-if-not-exists": "the table is new in this release"}\n',
    )

    code, findings = _lint(project, str(path))

    accepted = [f for f in findings if f["rule"] == "require-if-not-exists"]
    assert code == 0
    assert accepted and accepted[0]["accepted"] == "the table is new in this release"


def test_the_text_output_names_file_and_line_and_exits_1_on_errors(project: Path) -> None:
    _erp_revision(project, "BEGIN;\nSELECT 1;\nCOMMIT;")

    result = run_migrate("lint", "--service", "erp", "--pg-version", "15", project=project)

    assert result.exit_code == 1
    assert "services/erp/versions/20240601_001_erp_test.py:" in result.output
    assert "error no-transaction-control" in result.output


def _parcels_indexed_in_development(project: Path, url: URL) -> None:
    """erp.parcels of about 3 MB applied, then a pending plain CREATE INDEX on it, in a
    development environment where large means above 2 MB."""
    path = project / "pyproject.toml"
    path.write_text(
        path.read_text()
        + '\n[tool.migrator.environments.development]\nwindow_threshold_bytes = "2MB"\n'
    )
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade="CREATE TABLE erp.parcels (id bigint PRIMARY KEY, label text NOT NULL);\n"
        "INSERT INTO erp.parcels SELECT n, repeat('x', 100) FROM generate_series(1, 20000) n;",
    )
    assert run_migrate("up", "--service", "erp", project=project, url=url).exit_code == 0
    add_revision(
        project,
        "erp",
        "20240601_002",
        down_revision="20240601_001",
        upgrade="CREATE INDEX IF NOT EXISTS parcels_label_idx ON erp.parcels (label);",
    )


def test_a_pending_blocking_statement_on_a_large_table_of_the_database_is_a_warning(
    project: Path, database_url: URL
) -> None:
    _parcels_indexed_in_development(project, database_url)

    result = run_migrate("lint", "--json", project=project, url=database_url)

    [found] = [f for f in json.loads(result.stdout) if f["rule"] == "blocking-on-large-table"]
    assert result.exit_code == 0, result.output
    assert found["revision"] == "20240601_002" and found["severity"] == "warning"
    assert "takes SHARE and builds erp.parcels" in found["message"]
    assert "larger than 2.0 MB" in found["message"]


def test_the_size_rule_is_off_without_a_database(project: Path, database_url: URL) -> None:
    _parcels_indexed_in_development(project, database_url)

    code, findings = _lint(project)

    assert code == 0
    assert "blocking-on-large-table" not in {finding["rule"] for finding in findings}


def test_readme_tables_every_house_rule_as_lint_knows_it() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()

    for rule in HOUSE_RULES.values():
        row = f"| `{rule.name}` | {rule.severity} | {rule.what} | {rule.why} | {rule.instead} |"
        assert row in readme, rule.name
