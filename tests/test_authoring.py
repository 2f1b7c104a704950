"""Writing revisions: `migrate new`, autogenerate as house SQL, and the files' guard rails."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from alembic import command
from alembic.config import Config
from conftest import (
    PROJECT_ROOT,
    applied_versions,
    connection_to,
    head_of,
    platform_graph,
    run_migrate,
    url_text,
)
from sqlalchemy.engine import URL
from typer.testing import Result

from migrator.model import guards, services, template
from migrator.model import revision as revision_model
from migrator.model import tables as models

# The id `migrate new` gives today: the next free number of today's date, whatever revisions
# the platform's history already dated today.
NEXT_ID = template.next_revision_id(platform_graph().revisions, datetime.date.today())


def _written(project: Path, service: str) -> list[Path]:
    """The revision files of `service` that the project copy has and the project has not."""
    folder = Path("services") / service / "versions"
    existing = {path.name for path in (PROJECT_ROOT / folder).glob("*.py")}
    return sorted(p for p in (project / folder).glob("*.py") if p.name not in existing)


def _add_nickname_to_auth_models(project: Path) -> None:
    path = project / "services" / "auth" / "models.py"
    text = path.read_text()
    text = text.replace(
        '    Column("is_active", Boolean',
        '    Column("nickname", String(40)),\n    Column("is_active", Boolean',
    )
    path.write_text(text + '\nIndex("idx_users_nickname", users.c.nickname)\n')


def test_new_writes_an_empty_template_in_the_house_format(project: Path) -> None:
    result = run_migrate(
        "new",
        "--service",
        "crm-service",
        "-m",
        "add deal stages",
        "--depends-on",
        "20240101_004",
        project=project,
    )

    assert result.exit_code == 0, result.output
    [path] = _written(project, "crm")
    assert path.name == f"{NEXT_ID}_crm_add_deal_stages.py"
    header = revision_model.read(path)
    assert header.header["Service"] == "crm-service"
    assert header.header["Dependencies"] == '["20240101_004"]'
    assert header.header["Date"] == f"{datetime.date.today():%Y-%m-%d}"
    assert header.down_revisions == (head_of("crm"),)
    assert header.dependencies == ("20240101_004",)
    assert guards.problems(project) == []
    entries = yaml.safe_load((project / "migration-dependencies.yml").read_text())["migrations"]
    assert {
        "version": NEXT_ID,
        "service": "crm-service",
        "dependencies": ["20240101_004"],
    } in entries
    assert run_migrate("deps", "check", project=project).exit_code == 0


def _autogenerate_nickname(project: Path, database_url: URL) -> Result:
    """`new --autogenerate` for auth, after its models gained a nickname column."""
    run_migrate("up", project=project, url=database_url)
    _add_nickname_to_auth_models(project)
    return run_migrate(
        "new",
        "--service",
        "auth",
        "-m",
        "add nickname",
        "--autogenerate",
        project=project,
        url=database_url,
    )


def test_autogenerate_writes_sql_for_one_service_that_up_then_applies(
    project: Path, database_url: URL
) -> None:
    result = _autogenerate_nickname(project, database_url)
    [path] = _written(project, "auth")
    text = path.read_text()
    applied = run_migrate("up", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert "ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS nickname varchar(40);" in text
    assert "CREATE INDEX IF NOT EXISTS idx_users_nickname" in text
    assert "DROP INDEX IF EXISTS auth.idx_users_nickname;" in text
    assert "op." not in text
    assert applied.exit_code == 0 and path.name[:12] in applied_versions(database_url)
    with connection_to(database_url) as connection:
        found = models.differences(connection, models.load(project), services.resolve("auth"))
    assert found == []


def test_autogenerate_with_nothing_to_change_writes_nothing(
    project: Path, database_url: URL
) -> None:
    run_migrate("up", project=project, url=database_url)

    result = run_migrate(
        "new",
        "--service",
        "auth",
        "-m",
        "nothing",
        "--autogenerate",
        project=project,
        url=database_url,
    )

    assert result.exit_code == 0
    assert "the models and the database agree; no revision written" in result.output
    assert _written(project, "auth") == []


def test_autogenerate_needs_a_database_at_head(project: Path, database_url: URL) -> None:
    result = run_migrate(
        "new", "--service", "auth", "-m", "x", "--autogenerate", project=project, url=database_url
    )

    assert result.exit_code == 1 and "migrate up" in result.output
    assert _written(project, "auth") == []


def test_plain_alembic_autogenerate_writes_the_house_format_too(
    project: Path, database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_migrate("up", project=project, url=database_url)
    _add_nickname_to_auth_models(project)
    monkeypatch.setenv("DATABASE_URL", url_text(database_url))

    command.revision(
        Config(str(project / "alembic.ini")),
        message="add nickname",
        autogenerate=True,
        head="auth@head",
    )

    [path] = _written(project, "auth")
    assert path.name == f"{NEXT_ID}_auth_add_nickname.py"
    assert "ADD COLUMN IF NOT EXISTS nickname" in path.read_text()
    assert guards.problems(project) == []


def _replace(old: str, new: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(path.read_text().replace(old, new))


BROKEN_RULES = {
    "wrong-folder": (
        lambda path: path.rename(path.parents[2] / "erp" / "versions" / path.name),
        "is not named {revision}_{service}_{description}.py",
    ),
    "bad-name": (lambda path: path.rename(path.with_name("20240101_003_crm.py")), "is not named"),
    "missing-field": (
        _replace("Author: Inopsio Platform <platform@inopsio.example>\n", ""),
        "header lacks Author",
    ),
    "wrong-service": (
        _replace("Service: crm-service", "Service: erp-service"),
        "header says Service: erp-service but the file sits in crm's folder",
    ),
    "wrong-dependencies": (
        _replace('["20240101_001", "20240101_002"]', '["20240101_001"]'),
        "header says Dependencies",
    ),
    "repeated-id": (
        lambda path: (path.parent / "20240101_003_crm_copy.py").write_text(path.read_text()),
        "revision id 20240101_003 is used by 2 files",
    ),
}


@pytest.mark.parametrize("rule", BROKEN_RULES)
def test_deps_check_reports_each_broken_house_rule(project: Path, rule: str) -> None:
    change, complaint = BROKEN_RULES[rule]
    change(project / "services" / "crm" / "versions" / "20240101_003_crm_create_customers.py")

    result = run_migrate("deps", "check", project=project)

    assert result.exit_code == 1
    assert complaint in result.output


def test_new_lists_the_revision_in_the_yaml_so_deps_check_passes(project: Path) -> None:
    written = run_migrate("new", "--service", "erp", "-m", "add parcel weights", project=project)

    checked = run_migrate("deps", "check", project=project)

    assert written.exit_code == 0, written.output
    assert checked.exit_code == 0, checked.output


def test_an_autogenerated_revision_passes_deps_check_at_once(
    project: Path, database_url: URL
) -> None:
    written = _autogenerate_nickname(project, database_url)

    checked = run_migrate("deps", "check", project=project)

    assert written.exit_code == 0 and _written(project, "auth"), written.output
    assert checked.exit_code == 0, checked.output
