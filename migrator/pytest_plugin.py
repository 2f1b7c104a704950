"""A pytest plugin for the services' own test suites: a migrated database per test, fast.

Installing the package registers it (a `pytest11` entry point). It costs other test suites
nothing: the tool is imported only when a test asks for `migrated_database`. The first such
test of a service finds, or builds, a template database at head for the service and every
service it depends on, with the development seeds (kept across sessions by `dev reset`'s cache,
named by every revision and seed file, so that a changed file builds a new one); every test
then gets its own copy of the template, dropped when the test ends. A copy costs a fraction of
a second, where replaying the migrations and seeds costs seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from migrator.context import Context

URL_OPTION = "--migrator-database-url"
URL_VARIABLES = ("MIGRATOR_TEST_DATABASE_URL", "TEST_DATABASE_URL")
# Test databases are development databases: its policy says which seeds they get.
ENVIRONMENT = "development"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migrator", "Inopsio migrations (migrated_database)")
    group.addoption(
        URL_OPTION,
        default=None,
        help="server the test databases are made on; else $MIGRATOR_TEST_DATABASE_URL, "
        "$TEST_DATABASE_URL, or the server `migrate` uses",
    )
    parser.addini(
        "migrator_service",
        "service whose database migrated_database gives (with what it depends on); "
        "every service when unset",
    )
    parser.addini(
        "migrator_project",
        "the migrations project (the folder holding alembic.ini); else $MIGRATOR_PROJECT, "
        "or above the working directory",
        type="paths",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "migrator(service): the service whose database migrated_database gives"
    )


def _failed(error: Exception) -> BaseException:
    """The one-line failure of a test whose database could not be made (no traceback: the
    message says what to do)."""
    return pytest.fail.Exception(f"migrated_database: {error}", pytrace=False)


def _server_url(config: pytest.Config) -> str | None:
    given = config.getoption(URL_OPTION)
    return given or next((os.environ[v] for v in URL_VARIABLES if os.environ.get(v)), None)


def session_context(config: pytest.Config) -> Context:
    """The migrations project and the server the session's test databases are made on; not
    connected yet."""
    from migrator.context import Context

    projects = config.getini("migrator_project")
    return Context.load(
        project=projects[0] if projects else None,
        database_url=_server_url(config),
        environment=ENVIRONMENT,
    )


@pytest.fixture(scope="session")
def migrator_context(pytestconfig: pytest.Config) -> Context:
    """The session's context (see session_context), its server started if it is embedded."""
    from migrator.errors import MigratorError

    try:
        ctx = session_context(pytestconfig)
        ctx.url  # noqa: B018 - starts the embedded server now, not in the first test's time
    except MigratorError as error:
        raise _failed(error) from None
    return ctx


@pytest.fixture
def migrated_database(request: pytest.FixtureRequest, migrator_context: Context) -> Iterator[str]:
    """The URL (libpq's form) of a database of this test's own: at head for the service of
    the test's `migrator` marker, else of the `migrator_service` ini setting (every service
    when neither names one), and what it depends on, with their development seeds. Dropped
    after the test."""
    from migrator import urls
    from migrator.commands import testing
    from migrator.errors import MigratorError

    marker = request.node.get_closest_marker("migrator")
    service = (marker.kwargs.get("service") if marker else None) or request.config.getini(
        "migrator_service"
    )
    try:
        template = testing.template_for_tests(migrator_context, service or None)
    except MigratorError as error:
        raise _failed(error) from None
    with testing.database_for_test(migrator_context, template) as url:
        yield urls.libpq_dsn(url)
