"""What CI reads: lint findings as GitHub annotations and SARIF, a plan as Markdown for a pull
request, and `scripts/pr-checks`, the one entry point of a pull request's checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import PROJECT_ROOT, add_revision, head_of, run_migrate, url_text
from sqlalchemy.engine import URL

from migrator.checks.lint import Finding
from migrator.cli.formats import github_annotations

ERP_PRODUCTS = "services/erp/versions/20240101_004_erp_create_products.py"
SARIF_LEVELS = {"none", "note", "warning", "error"}


def _revision_with_a_lint_error(project: Path) -> Path:
    """An erp revision that references crm's table without a depends_on path to it: a house
    rule error, at the line of its CREATE TABLE, in a revision that still applies cleanly."""
    return add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade="\nCREATE TABLE IF NOT EXISTS erp.sales (id bigint, customer uuid "
        "REFERENCES crm.customers (id));\n",
        downgrade="\nDROP TABLE IF EXISTS erp.sales;\n",
    )


def _lint(project: Path, *arguments: str) -> tuple[int, str]:
    result = run_migrate("lint", "--pg-version", "15", *arguments, project=project)
    return result.exit_code, result.stdout


def test_lint_format_github_prints_an_error_annotation_at_the_findings_file_and_line(
    project: Path,
) -> None:
    path = _revision_with_a_lint_error(project)

    code, output = _lint(project, "--format", "github", str(path))

    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "CREATE TABLE" in text
    )
    relative = path.relative_to(project).as_posix()
    prefix = f"::error file={relative},line={line},title=cross-service-dependency::"
    annotations = [text for text in output.splitlines() if text.startswith(prefix)]
    assert code == 1
    assert len(annotations) == 1
    assert "revision 20240601_001: references crm.customers" in annotations[0]


def test_github_annotations_escape_line_ends_percent_signs_and_property_separators(
    tmp_path: Path,
) -> None:
    finding = Finding(
        rule="a:rule,name",
        severity="warning",
        path=tmp_path / "odd:name,here.py",
        line=3,
        revision="20240601_001",
        message="50% done\r\nthen: more, later",
    )

    (annotation,) = github_annotations([finding], tmp_path)

    assert annotation == (
        "::warning file=odd%3Aname%2Chere.py,line=3,title=a%3Arule%2Cname::"
        "revision 20240601_001: 50%25 done%0D%0Athen: more, later"
    )


def test_lint_format_github_leaves_out_findings_accepted_in_writing() -> None:
    target = str(PROJECT_ROOT / ERP_PRODUCTS)
    _, as_json = _lint(PROJECT_ROOT, "--json", target)

    code, output = _lint(PROJECT_ROOT, "--format", "github", target)

    assert code == 0
    assert [finding["accepted"] for finding in json.loads(as_json)] != []
    assert all(finding["accepted"] for finding in json.loads(as_json))
    assert not [text for text in output.splitlines() if text.startswith("::")]


def _assert_sarif_2_1_0(log: dict) -> None:
    """The properties SARIF 2.1.0 requires, and the types it gives them, for what lint writes."""
    assert log["version"] == "2.1.0"
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert isinstance(driver["name"], str) and driver["name"]
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for rule in driver["rules"]:
        assert isinstance(rule["shortDescription"]["text"], str)
        assert "helpUri" not in rule or rule["helpUri"].startswith("https://")
    for result in run["results"]:
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        assert result["level"] in SARIF_LEVELS
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        for location in result["locations"]:
            physical = location["physicalLocation"]
            uri = physical["artifactLocation"]["uri"]
            assert not uri.startswith("/") and "\\" not in uri
            assert isinstance(physical["region"]["startLine"], int)
            assert physical["region"]["startLine"] >= 1
        for suppression in result.get("suppressions", []):
            assert suppression["kind"] in {"inSource", "external"}


def test_lint_format_sarif_writes_a_sarif_2_1_0_log_with_the_finding_and_its_rule(
    project: Path,
) -> None:
    path = _revision_with_a_lint_error(project)

    code, output = _lint(project, "--format", "sarif", str(path))

    log = json.loads(output)
    _assert_sarif_2_1_0(log)
    run = log["runs"][0]
    (result,) = [r for r in run["results"] if r["ruleId"] == "cross-service-dependency"]
    location = result["locations"][0]["physicalLocation"]
    rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert code == 1
    assert result["level"] == "error"
    assert location["artifactLocation"]["uri"] == path.relative_to(project).as_posix()
    assert rule["fullDescription"]["text"].startswith("Alembic may apply the branches")
    assert "depends_on" in rule["help"]["text"]


def test_sarif_gives_squawk_rules_their_page_and_accepted_findings_their_reason() -> None:
    code, output = _lint(PROJECT_ROOT, "--format", "sarif", str(PROJECT_ROOT / ERP_PRODUCTS))

    run = json.loads(output)["runs"][0]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    (result,) = [r for r in run["results"] if r["ruleId"] == "prefer-text-field"][:1]
    assert code == 0
    assert rules["prefer-text-field"]["helpUri"] == "https://squawkhq.com/docs/prefer-text-field"
    assert "API contracts" in result["suppressions"][0]["justification"]


def test_json_is_the_same_as_format_json() -> None:
    target = str(PROJECT_ROOT / ERP_PRODUCTS)

    assert _lint(PROJECT_ROOT, "--json", target) == _lint(PROJECT_ROOT, "--format", "json", target)


def test_json_with_another_format_is_refused_as_bad_input() -> None:
    result = run_migrate("lint", "--json", "--format", "sarif", "--pg-version", "15")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --json and --format sarif disagree")


def test_plan_format_markdown_shows_the_plans_hash_policy_and_each_revisions_sql(
    database_url: URL,
) -> None:
    arguments = ("plan", "--service", "auth", "--env", "production")
    as_json = json.loads(run_migrate(*arguments, "--json", url=database_url).stdout)

    result = run_migrate(*arguments, "--format", "markdown", url=database_url)

    text = result.stdout
    assert result.exit_code == 0
    assert f"### Migration plan `{as_json['hash']}`" in text
    assert "Policy: environment production: backup mandatory" in text
    for step in as_json["steps"]:
        assert f"`{step['file']}`, upgrade" in text
        for statement in step["statements"]:
            assert f"-- {step['file']}:{statement['line']}, " in text
            assert statement["sql"] + ";" in text
    assert text.count("```sql\n") == len(as_json["steps"])
    assert f"`migrate up --env production --approve {as_json['hash']}`" in text


def test_plan_markdown_fences_sql_that_holds_backticks_with_a_longer_fence(
    project: Path, database_url: URL
) -> None:
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade="\nSELECT '```' AS fence;\n",
    )

    result = run_migrate(
        "plan",
        "--version",
        "20240601_001",
        "--format",
        "markdown",
        project=project,
        url=database_url,
    )

    assert "````sql\n" in result.stdout
    assert "\n````\n" in result.stdout


def _checkout(project: Path) -> Path:
    """The project copy as a clone with its environment installed: the Makefile, the script,
    and the tree's own .venv (older pyproject, so make installs nothing)."""
    shutil.copy(PROJECT_ROOT / "Makefile", project / "Makefile")
    (project / "scripts").mkdir()
    shutil.copy2(PROJECT_ROOT / "scripts" / "pr-checks", project / "scripts" / "pr-checks")
    (project / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    os.utime(project / "pyproject.toml", (0, 0))
    return project / "scripts" / "pr-checks"


def test_pr_checks_on_a_github_runner_run_every_check_annotate_lint_errors_and_fail(
    project: Path, database_url: URL
) -> None:
    script = _checkout(project)
    _revision_with_a_lint_error(project)
    run_migrate("deps", "sync", project=project)
    environment = {
        **{k: v for k, v in os.environ.items() if k != "MIGRATOR_PROJECT"},
        "DATABASE_URL": url_text(database_url),
        "GITHUB_ACTIONS": "true",
    }

    result = subprocess.run(
        [str(script)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=project.parent,
        check=False,
    )

    ran = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert result.returncode == 1, result.stdout + result.stderr
    assert ran == ["== deps check", "== lint", "== verify"]
    assert "::error file=services/erp/versions/20240601_001_erp_test.py," in result.stdout
    # verify ran after lint failed, and passed: erp's head already comes after crm's tables.
    assert result.stderr.splitlines()[-1].startswith("error: pull-request checks failed: lint;")


def test_ci_runs_the_pull_request_checks() -> None:
    commands = [
        line.strip()
        for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    assert "scripts/pr-checks" in commands
