"""The test bed: a real PostgreSQL, and a fresh database for every test.

The server is the embedded one (started in a temporary folder for the session) unless
TEST_DATABASE_URL names another; each test that asks for `database_url` gets a database of its
own, created and dropped by pytest-postgresql's janitor.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from migrator import urls
from migrator.checks import catalog
from migrator.cli import app
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.ops import embedded

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = (
    "alembic.ini",
    "env.py",
    "script.py.mako",
    "pyproject.toml",
    "migration-dependencies.yml",
)
SERVICE_SCHEMAS = [service.schema for service in services.SERVICES]
# The platform's services as the issue names them: what the registry must hold, written out.
PLATFORM_SERVICES = (
    "auth",
    "user",
    "crm",
    "erp",
    "email",
    "ai",
    "workflow",
    "inosec_core",
    "inosec_edge",
)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A URL of the maintenance database of the server the tests use."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield urls.normalize(configured)
        return
    pgdata = tmp_path_factory.mktemp("embedded") / "pgdata"
    yield embedded.start(pgdata)
    embedded.stop(pgdata)


@contextlib.contextmanager
def _fresh_database(server_url: URL) -> Iterator[URL]:
    """A new, empty database on the test server, dropped on exit."""
    name = f"migrator_test_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user=server_url.username or "postgres",
        password=server_url.password,
        host=server_url.host or str(server_url.query["host"]),
        port=server_url.port or 5432,
        dbname=name,
        maintenance_dbname=server_url.database or "postgres",
    ):
        yield server_url.set(database=name)


@pytest.fixture
def new_database(server_url: URL) -> Iterator[Callable[[], URL]]:
    """Creates fresh, empty databases for one test; all are dropped afterwards."""
    with contextlib.ExitStack() as cleanup:
        yield lambda: cleanup.enter_context(_fresh_database(server_url))


@pytest.fixture(scope="module")
def new_database_module(server_url: URL) -> Iterator[URL]:
    """A fresh database shared by the tests of one module that only read it."""
    with _fresh_database(server_url) as url:
        yield url


@pytest.fixture
def database_url(new_database: Callable[[], URL]) -> URL:
    """A fresh, empty database for one test."""
    return new_database()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the migrations project that a test may change without touching the real one."""
    return copy_project(tmp_path / "project")


def copy_project(root: Path) -> Path:
    """Copy the migrations project into `root` (a new folder)."""
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, root / name)
    shutil.copytree(
        PROJECT_ROOT / "services", root / "services", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


@functools.cache
def platform_graph() -> RevisionGraph:
    """The platform's own history, for tests that count or walk it."""
    return RevisionGraph.load(PROJECT_ROOT)


def branch_of(service: str) -> list[str]:
    """The revisions of one service in the platform's own history, oldest first."""
    return [revision.id for revision in platform_graph().branch(services.resolve(service))]


def head_of(service: str) -> str:
    """The newest revision of one service in the platform's own history."""
    return branch_of(service)[-1]


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def run_migrate(*args: str, url: URL | None = None, project: Path = PROJECT_ROOT) -> Result:
    """Run the `migrate` command in-process, as a user would type it."""
    options = ["--project", str(project)]
    if url is not None:
        options += ["--database-url", url_text(url)]
    return CliRunner().invoke(app, [*args, *options], catch_exceptions=False)


def connection_to(url: URL) -> Connection:
    return create_engine(url, poolclass=NullPool).connect()


def schema_of(url: URL) -> catalog.Snapshot:
    with connection_to(url) as connection:
        return catalog.snapshot(connection, SERVICE_SCHEMAS)


def applied_versions(url: URL, schema: str = "migrator") -> set[str]:
    """What the version table records; empty when the table does not exist."""
    with connection_to(url) as connection:
        exists = connection.exec_driver_sql(
            f"SELECT to_regclass('{schema}.alembic_version') IS NOT NULL"
        ).scalar()
        if not exists:
            return set()
        rows = connection.exec_driver_sql(f"SELECT version_num FROM {schema}.alembic_version")
        return {row[0] for row in rows}


def add_revision(
    project: Path,
    service: str,
    revision: str,
    *,
    down_revision: str | None,
    upgrade: str,
    downgrade: str = "SELECT 1;",
    depends_on: tuple[str, ...] = (),
    settings: str = "",
) -> Path:
    """Write a revision file in the house format into a project copy; `settings` are extra
    module-level lines (the revision's own lock_timeout, lock_retries, ...)."""
    display = services.resolve(service).display_name
    path = project / "services" / service / "versions" / f"{revision}_{service}_test.py"
    path.write_text(
        f'''"""Test revision {revision}

Migration: test revision {revision}
Service: {display}
Author: Tests <tests@inopsio.example>
Date: 2024-06-01
Dependencies: {json.dumps(list(depends_on))}
"""

from migrator.revision import run_sql

revision = "{revision}"
down_revision = {down_revision!r}
branch_labels = ()
depends_on = {depends_on!r}
{settings}
UPGRADE = """{upgrade}"""

DOWNGRADE = """{downgrade}"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
'''
    )
    return path


def migrate_process(*args: str, url: URL, project: Path = PROJECT_ROOT) -> list[str]:
    """The command line of `migrate` as a separate process, for tests that need several."""
    return [
        sys.executable,
        "-m",
        "migrator",
        *args,
        "--project",
        str(project),
        "--database-url",
        url_text(url),
    ]


def history_rows(url: URL) -> list[dict]:
    """The audit history, oldest first."""
    with connection_to(url) as connection:
        rows = connection.exec_driver_sql("SELECT * FROM migrator.migration_history ORDER BY id")
        return [dict(row._mapping) for row in rows]


def wait_for_server(url: URL, query: str, seconds: float = 30) -> None:
    """Poll the server until `query` returns a true value: tests synchronise on what the
    server shows (pg_stat_activity, pg_locks), never on a fixed sleep."""
    deadline = time.monotonic() + seconds
    with connection_to(url) as connection:
        while time.monotonic() < deadline:
            found = connection.exec_driver_sql(query).scalar()
            connection.commit()
            if found:
                return
            time.sleep(0.02)
    raise AssertionError(f"the server never showed {query!r}")


# A migrator's session waiting for a lock it has not been granted.
MIGRATOR_WAITS = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE NOT l.granted AND a.application_name = 'inopsio-migrator'"
)
