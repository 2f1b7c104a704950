"""Scratch databases: made for one check, named for what they are, always dropped.

`verify` and `drift` build databases of their own on the target's server. The name
(`migrator_scratch_<purpose>_<time>_<random>`) and the database comment say that it is a
throw-away copy, so nobody can mistake it for a real one, and it is dropped however the check
ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from psycopg import sql as pgsql
from sqlalchemy.engine import URL

from migrator.database import connect

PREFIX = "migrator_scratch_"


def _run(url: URL, statement: str) -> None:
    with connect(url) as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)


@contextmanager
def scratch_database(url: URL, purpose: str) -> Iterator[URL]:
    """An empty database on `url`'s server for the block; dropped on exit."""
    name = f"{PREFIX}{purpose}_{datetime.now(UTC):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:6]}"
    identifier = pgsql.Identifier(name).as_string()
    _run(url, f"CREATE DATABASE {identifier}")
    scratch = url.set(database=name)
    try:
        _run(
            scratch,
            f"COMMENT ON DATABASE {identifier} IS 'scratch database of migrate {purpose}; "
            "dropped when it ends, safe to drop'",
        )
        yield scratch
    finally:
        _run(url, f"DROP DATABASE IF EXISTS {identifier} WITH (FORCE)")
