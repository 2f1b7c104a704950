"""Databases for a service's own tests: a template per service, a copy of it per test.

A service's test suite wants a database at head, with its seeds, for every test, and cannot
wait for the migrations to replay each time. `dev reset`'s template cache (devdb) keeps the
template, built in a database named after the service so that a changed revision or seed file
replaces the stale template; each test then gets a copy under a name that says it is a
throw-away, dropped however the test ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import sql as pgsql
from sqlalchemy.engine import URL

from migrator.database import connect
from migrator.errors import MigratorError
from migrator.ops import devdb

PREFIX = "migrator_pytest_"


def build_url(server: URL, service: str | None) -> URL:
    """Where the template of `service` (of every service when None) is built."""
    return server.set(database=f"{PREFIX}{service or 'all'}")


def drop(server: URL, name: str) -> None:
    """Drop database `name`, connected to `server`'s database (never the one dropped)."""
    with connect(server) as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            f"DROP DATABASE IF EXISTS {pgsql.Identifier(name).as_string()} WITH (FORCE)"
        )


@contextmanager
def clone(server: URL, template: str) -> Iterator[URL]:
    """A copy of `template` on `server`'s server for the block; dropped on exit."""
    copy = server.set(database=f"{PREFIX}{uuid.uuid4().hex[:12]}")
    try:
        if not devdb.recreate(copy, template):
            raise MigratorError(
                f"template database {template} disappeared while the tests ran (another "
                "session dropped it); run the tests again"
            )
        yield copy
    finally:
        drop(server, str(copy.database))
