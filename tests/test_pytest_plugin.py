"""The pytest plugin, as a service's test suite uses it: sample suites run by pytester against
the test server, each asking for `migrated_database`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, add_revision, connection_to, head_of, url_text
from sqlalchemy.engine import URL

from migrator import pytest_plugin
from migrator.commands import testing
from migrator.context import Context
from migrator.ops import devdb, testdb

pytest_plugins = ["pytester"]

# Nothing listens on port 1: a server the plugin must not be using.
NO_SERVER = "postgresql://postgres@127.0.0.1:1/postgres"
CHOSEN = "postgresql://postgres@chosen.example:5432/postgres"
# Where the plugin looks for its server, first to last (README's order).
SERVER_SOURCES = (
    "--migrator-database-url",
    "MIGRATOR_TEST_DATABASE_URL",
    "TEST_DATABASE_URL",
    "DATABASE_URL",
)
RECORD_DATABASE = """
import psycopg


def record(url):
    with psycopg.connect(url) as connection:
        name = connection.execute("SELECT current_database()").fetchone()[0]
    with open("databases.txt", "a") as names:
        names.write(name + "\\n")
"""


@pytest.fixture(scope="module", autouse=True)
def _drop_the_plugins_templates(server_url: URL) -> Iterator[None]:
    """Templates outlive the sessions that made them; a shared server keeps none of ours."""
    yield
    for name in devdb.listed_templates(server_url):
        if name.startswith(devdb.TEMPLATE_PREFIX + testdb.PREFIX):
            testdb.drop(server_url, name)


def _readme_block(language: str) -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Testing a service with the pytest plugin\n")[1].split("\n## ")[0]
    return section.split(f"```{language}\n")[1].split("```")[0]


def _suite(pytester: pytest.Pytester, source: str, project: Path = PROJECT_ROOT) -> None:
    """A service's test suite: pytest.ini as README shows it, for crm, and one test file."""
    ini = _readme_block("ini").replace(
        "../inopsio-migrations", os.path.relpath(project, pytester.path)
    )
    pytester.makeini(ini)
    pytester.makepyfile(test_service=source)


def _run(pytester: pytest.Pytester, server_url: URL) -> pytest.RunResult:
    return pytester.runpytest_inprocess("--migrator-database-url", url_text(server_url))


def _databases(pytester: pytest.Pytester) -> list[str]:
    return (pytester.path / "databases.txt").read_text().split()


def _existing(server_url: URL, names: list[str]) -> list[str]:
    with connection_to(server_url) as connection:
        rows = connection.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)
        )
        return list(rows.scalars())


def _template_oid(server_url: URL, name: str) -> int:
    with connection_to(server_url) as connection:
        return connection.exec_driver_sql(
            "SELECT oid FROM pg_database WHERE datname = %s", (name,)
        ).scalar_one()


def test_the_readme_example_passes(pytester: pytest.Pytester, server_url: URL) -> None:
    _suite(pytester, _readme_block("python"))

    result = pytester.runpytest_inprocess(
        "--migrator-database-url", url_text(server_url), "--durations=0", "--durations-min=0"
    )

    print("\n".join(line for line in result.outlines if " setup " in line or " call " in line))
    print("\n".join(line for line in result.outlines if " teardown " in line))
    result.assert_outcomes(passed=2)


def test_each_test_gets_a_database_of_its_own_dropped_after_it(
    pytester: pytest.Pytester, server_url: URL
) -> None:
    make_a_table = """
        record(migrated_database)
        with psycopg.connect(migrated_database) as connection:
            connection.execute("CREATE TABLE crm.made_by_a_test (id int)")
    """
    _suite(
        pytester,
        RECORD_DATABASE
        + f"def test_one(migrated_database):{make_a_table}\n"
        + f"def test_two(migrated_database):{make_a_table}\n",
    )

    _run(pytester, server_url).assert_outcomes(passed=2)

    names = _databases(pytester)
    assert len(set(names)) == 2
    assert _existing(server_url, names) == []


def test_a_later_session_reuses_the_template(pytester: pytest.Pytester, server_url: URL) -> None:
    ctx = Context.load(
        project=PROJECT_ROOT,
        database_url=url_text(server_url),
        environment=pytest_plugin.ENVIRONMENT,
    )
    built = _template_oid(server_url, testing.template_for_tests(ctx, "crm"))
    _suite(pytester, "def test_one(migrated_database):\n    pass\n")

    _run(pytester, server_url).assert_outcomes(passed=1)

    assert _template_oid(server_url, testing.template_for_tests(ctx, "crm")) == built


@pytest.mark.parametrize("chosen", SERVER_SOURCES)
def test_the_server_is_the_first_one_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, chosen: str
) -> None:
    """In README's order: the sources after the chosen one name another server, the ones
    before it none."""
    for name in SERVER_SOURCES[1:]:
        monkeypatch.delenv(name, raising=False)
    for name in SERVER_SOURCES[SERVER_SOURCES.index(chosen) :]:
        monkeypatch.setenv(name, CHOSEN if name == chosen else NO_SERVER)
    option = [chosen, CHOSEN] if chosen.startswith("--") else []
    _suite(pytester, "")

    context = pytest_plugin.session_context(pytester.parseconfig(*option))

    assert context.database_url.host == "chosen.example"


def test_the_marker_names_an_unknown_service_in_one_line(
    pytester: pytest.Pytester, server_url: URL
) -> None:
    _suite(
        pytester,
        """
        import pytest

        @pytest.mark.migrator(service="billing")
        def test_one(migrated_database):
            pass
        """,
    )

    result = _run(pytester, server_url)

    result.assert_outcomes(errors=1)
    [line] = [line for line in result.outlines if line.startswith("migrated_database:")]
    assert "unknown service 'billing'; valid services are: auth, user, crm" in line
    assert "Traceback" not in result.stdout.str()


def test_a_test_without_the_fixture_never_connects(pytester: pytest.Pytester) -> None:
    _suite(pytester, "def test_one():\n    pass\n")

    result = pytester.runpytest_inprocess("--migrator-database-url", NO_SERVER)

    result.assert_outcomes(passed=1)


def test_a_changed_revision_file_builds_a_new_template(
    pytester: pytest.Pytester, server_url: URL, project: Path
) -> None:
    add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="CREATE TABLE IF NOT EXISTS auth.badges (id bigint PRIMARY KEY);",
        downgrade="DROP TABLE IF EXISTS auth.badges;",
    )
    _suite(
        pytester,
        """
        import psycopg
        import pytest

        @pytest.mark.migrator(service="auth")
        def test_the_new_table_is_there(migrated_database):
            with psycopg.connect(migrated_database) as connection:
                found = connection.execute("SELECT to_regclass('auth.badges')").fetchone()[0]
            assert found == "auth.badges"
        """,
        project=project,
    )

    _run(pytester, server_url).assert_outcomes(passed=1)
