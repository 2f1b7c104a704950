"""Connecting to the target database, and reading which revisions it records as applied.

Connection failures are turned into one line that names the server (password masked) and what
to check, because a driver traceback tells an operator nothing they can act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from migrator import urls
from migrator.config import Settings
from migrator.errors import MigratorError

APPLICATION_NAME = "inopsio-migrator"


class ConnectionFailed(MigratorError):
    """The database server could not be reached or refused the login."""


@contextmanager
def connect(url: URL) -> Iterator[Connection]:
    """A connection to the target database, named so that pg_stat_activity shows who it is."""
    engine = create_engine(
        url, poolclass=NullPool, connect_args={"application_name": APPLICATION_NAME}
    )
    try:
        connection = engine.connect()
    except OperationalError as error:
        reason = urls.scrub(str(error.orig).strip().splitlines()[-1], url)
        raise ConnectionFailed(
            f"cannot connect to {urls.redacted(url)}: {reason}; "
            "check DATABASE_URL (or --database-url) and that the server is up"
        ) from error
    try:
        yield connection
    finally:
        connection.close()
        engine.dispose()


def database_heads(connection: Connection, settings: Settings) -> tuple[str, ...]:
    """The heads Alembic's version table records (empty for a database never migrated)."""
    context = MigrationContext.configure(
        connection, opts={"version_table_schema": settings.tool_schema}
    )
    heads = context.get_current_heads()
    if connection.in_transaction():
        connection.commit()
    return heads
