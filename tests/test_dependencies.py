"""migration-dependencies.yml mirrors depends_on: `migrate deps check` and `deps sync`."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import run_migrate

CRM_FILE = "services/crm/versions/20240101_003_crm_create_customers.py"


def _edit_yaml(project: Path, change) -> None:
    path = project / "migration-dependencies.yml"
    document = yaml.safe_load(path.read_text())
    change({entry["version"]: entry for entry in document["migrations"]}, document)
    path.write_text(yaml.safe_dump(document))


def test_deps_check_passes_on_the_platforms_history() -> None:
    result = run_migrate("deps", "check")

    assert result.exit_code == 0, result.output


def test_deps_check_fails_when_the_yaml_and_depends_on_disagree(project: Path) -> None:
    _edit_yaml(
        project, lambda entries, _: entries["20240101_003"].update(dependencies=["20240101_001"])
    )

    result = run_migrate("deps", "check", project=project)

    assert result.exit_code == 1
    assert "disagree" in result.output
    assert "20240101_003: depends_on in 20240101_003_crm_create_customers.py" in result.output


def test_deps_check_fails_when_a_dependency_names_an_unknown_revision(project: Path) -> None:
    _edit_yaml(
        project, lambda entries, _: entries["20240101_004"].update(dependencies=["20991231_999"])
    )

    result = run_migrate("deps", "check", project=project)

    assert result.exit_code == 1
    assert "20240101_004 depends on 20991231_999, which is not a known revision" in result.output


def test_deps_check_fails_when_a_revision_file_depends_on_an_unknown_revision(
    project: Path,
) -> None:
    path = project / CRM_FILE
    path.write_text(path.read_text().replace("20240101_002", "20991231_999"))  # code and header

    result = run_migrate("deps", "check", project=project)

    assert result.exit_code == 1
    assert "names 20991231_999 in its depends_on, and no revision file defines it" in result.output
    assert "Traceback" not in result.output


def test_deps_check_fails_when_dependencies_form_a_cycle(project: Path) -> None:
    _edit_yaml(
        project, lambda entries, _: entries["20240101_001"].update(dependencies=["20240101_003"])
    )

    result = run_migrate("deps", "check", project=project)

    assert result.exit_code == 1
    assert "cycle" in result.output


def test_deps_check_fails_when_revision_files_form_a_cycle(project: Path) -> None:
    path = project / "services/auth/versions/20240101_001_auth_create_users.py"
    text = path.read_text().replace("depends_on = None", 'depends_on = ("20240101_003",)')
    path.write_text(text.replace("Dependencies: []", 'Dependencies: ["20240101_003"]'))

    result = run_migrate("deps", "check", project=project)

    assert result.exit_code == 1
    assert "cycle" in result.output.lower()
    assert "Traceback" not in result.output


def test_deps_sync_rewrites_the_yaml_so_that_check_passes(project: Path) -> None:
    _edit_yaml(project, lambda _, document: document["migrations"].pop())
    assert run_migrate("deps", "check", project=project).exit_code == 1

    assert run_migrate("deps", "sync", project=project).exit_code == 0

    assert run_migrate("deps", "check", project=project).exit_code == 0
    committed = (Path(__file__).parent.parent / "migration-dependencies.yml").read_text()
    assert (project / "migration-dependencies.yml").read_text() == committed
