"""Connecting to the target database, and reading which revisions it records as applied.

Connection failures are turned into one line that names the server (password masked) and what
to check, because a driver traceback tells an operator nothing they can act on. The line keeps
libpq's whole reason ("Connection refused", "database ... does not exist"): its last line alone
is often only the generic hint that follows the reason.

A role that lacks a privilege fails the same way wherever the tool first touches the object,
so the translation lives here, around everything done on the connection: one line naming the
object, the privilege the role lacks and the GRANT that gives it.

Two ways in, one set of queries. The read-only commands (`status` above all) connect with
psycopg alone (`reading`): importing SQLAlchemy would cost them more than everything else they
do. The commands that run Alembic connect through SQLAlchemy (`connect`, which imports it when
called). The queries both need are written once, against a psycopg connection; SQLAlchemy's
side hands over its driver connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg

from migrator import urls
from migrator.config import Settings
from migrator.errors import MigratorError

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine import URL

APPLICATION_NAME = "inopsio-migrator"
INSUFFICIENT_PRIVILEGE = "42501"
# Alembic's version table, in the tool's schema.
VERSION_TABLE = "alembic_version"
# The audit history's table; migrator.run.history creates and writes it.
HISTORY_TABLE = "migration_history"

# What PostgreSQL names in "permission denied for <kind> <name>", with the GRANT object
# keyword, the has_*_privilege function that tells which privilege is missing, and the
# privileges in the order the tool needs them. For schemas and databases the first missing
# one is the one asked for (USAGE before CREATE, CONNECT before CREATE); a table or a
# sequence of the tool needs all of its privileges, so every missing one is named.
_PRIVILEGES: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "database": ("DATABASE", "has_database_privilege", ("CONNECT", "CREATE", "TEMPORARY"), False),
    "schema": ("SCHEMA", "has_schema_privilege", ("USAGE", "CREATE"), False),
    "table": ("TABLE", "has_table_privilege", ("SELECT", "INSERT", "UPDATE", "DELETE"), True),
    "view": ("TABLE", "has_table_privilege", ("SELECT",), True),
    "sequence": ("SEQUENCE", "has_sequence_privilege", ("USAGE", "SELECT", "UPDATE"), True),
}


class ConnectionFailed(MigratorError):
    """The database server could not be reached or refused the login."""


class PrivilegeMissing(MigratorError):
    """The role connected lacks a privilege the command needs; nothing was changed."""


@contextmanager
def reading(url: urls.Url) -> Iterator[psycopg.Connection]:
    """A psycopg connection for commands that only read, named like every connection of the
    tool; in autocommit, so that no transaction is left open between its queries."""
    arguments = {**url.connect_arguments(), "application_name": APPLICATION_NAME}
    try:
        connection = psycopg.connect(**arguments, autocommit=True)
    except psycopg.OperationalError as error:
        raise ConnectionFailed(_cannot_connect(url, error)) from error
    with connection:
        try:
            yield connection
        except psycopg.Error as error:
            if error.sqlstate != INSUFFICIENT_PRIVILEGE:
                raise
            raise PrivilegeMissing(_privilege_message(connection, url, error)) from error


@contextmanager
def connect(url: URL) -> Iterator[Connection]:
    """A SQLAlchemy connection to the target database, named so that pg_stat_activity shows
    who it is."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.pool import NullPool

    engine = create_engine(
        url, poolclass=NullPool, connect_args={"application_name": APPLICATION_NAME}
    )
    try:
        connection = engine.connect()
    except OperationalError as error:
        raise ConnectionFailed(_cannot_connect(url, error.orig)) from error
    try:
        yield connection
    except (DBAPIError, psycopg.Error) as error:
        # psycopg's own errors come from the queries made on the driver connection.
        reason = error.orig if isinstance(error, DBAPIError) else error
        if getattr(reason, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        driver = connection.connection.driver_connection
        raise PrivilegeMissing(_privilege_message(driver, url, reason)) from error
    finally:
        connection.close()
        engine.dispose()


def _cannot_connect(url: urls.Url | URL, error: BaseException | None) -> str:
    return (
        f"cannot connect to {urls.redacted(url)}: {driver_reason(error, url)}; "
        "check DATABASE_URL (or --database-url) and that the server is up"
    )


def driver_reason(error: BaseException | None, url: urls.Url | URL | None) -> str:
    """The driver's whole message on one line (libpq's reason, then its hint), scrubbed of
    the password."""
    return urls.scrub(" ".join(str(error).split()), url)


def _privilege_message(
    connection: psycopg.Connection, url: urls.Url | URL, error: BaseException
) -> str:
    """`permission denied for schema migrator`, made actionable: which privilege the role
    lacks on which object, and the GRANT that gives it."""
    diagnostic = getattr(error, "diag", None)
    primary = getattr(diagnostic, "message_primary", None)
    first = urls.scrub(primary, url) if primary else driver_reason(error, url)
    try:
        connection.rollback()
        role = str(_scalar(connection, "SELECT current_user"))
        grant = _grant_for(connection, role, first)
    except psycopg.Error:
        role, grant = url.username or "the role", None
    if grant is None:
        return (
            f"{first} (SQLSTATE {INSUFFICIENT_PRIVILEGE}): the role {role} lacks a privilege "
            "the command needs; have the object's owner GRANT it, or connect as a role that "
            "owns the migrated schemas. Nothing was changed"
        )
    privileges, statement = grant
    return (
        f"{first} (SQLSTATE {INSUFFICIENT_PRIVILEGE}): the role {role} lacks {privileges}; "
        f"as the object's owner or a superuser, run `{statement}`, or connect as a role that "
        "owns the migrated schemas. Nothing was changed"
    )


def _scalar(connection: psycopg.Connection, query: str, *arguments: object) -> object:
    row = connection.execute(query, arguments or None).fetchone()
    return row[0] if row else None


def _grant_for(connection: psycopg.Connection, role: str, message: str) -> tuple[str, str] | None:
    """The missing privileges and the GRANT for PostgreSQL's `permission denied for <kind>
    <name>`; None when the message is another one (`must be owner of ...`, a translated
    server) or the catalog does not show what is missing."""
    head, found, rest = message.partition("permission denied for ")
    kind, _, name = rest.partition(" ")
    if not found or head or kind not in _PRIVILEGES or not name:
        return None
    keyword, check, candidates, all_missing = _PRIVILEGES[kind]
    name = name.strip().strip('"')
    if keyword in {"TABLE", "SEQUENCE"}:
        name = _qualified(connection, name) or name
    missing = [
        privilege
        for privilege in candidates
        if not _scalar(connection, f"SELECT {check}(%s, %s, %s)", role, name, privilege)
    ]
    if not missing:
        return None
    if not all_missing:
        missing = missing[:1]
    target = _identifier(name) if keyword in {"DATABASE", "SCHEMA"} else name
    privileges = ", ".join(missing)
    on = f"{keyword} {target}"
    return f"{privileges} on {kind} {name}", f"GRANT {privileges} ON {on} TO {_identifier(role)}"


def _qualified(connection: psycopg.Connection, relation: str) -> str | None:
    """`schema.relation` for the relation PostgreSQL named without its schema, when exactly
    one schema outside the system's holds one of that name."""
    rows = connection.execute(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = %s "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        (relation,),
    ).fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


def _identifier(name: str) -> str:
    """A name as SQL writes it: bare when PostgreSQL would fold it to itself, else quoted."""
    bare = name.isidentifier() and name == name.lower() and name.isascii()
    return name if bare else '"' + name.replace('"', '""') + '"'


def table_exists(connection: psycopg.Connection, schema: str, table: str) -> bool:
    return bool(_scalar(connection, "SELECT to_regclass(%s) IS NOT NULL", f'"{schema}".{table}'))


def recorded_heads(connection: psycopg.Connection, schema: str) -> tuple[str, ...]:
    """The heads Alembic's version table in `schema` records (empty for a database never
    migrated)."""
    if not table_exists(connection, schema, VERSION_TABLE):
        return ()
    rows = connection.execute(f'SELECT version_num FROM "{schema}".{VERSION_TABLE}').fetchall()
    return tuple(row[0] for row in rows)


def database_heads(connection: Connection, settings: Settings) -> tuple[str, ...]:
    """`recorded_heads` on a SQLAlchemy connection, which is left with no transaction open,
    as Alembic's reading of the table left it."""
    driver = connection.connection.driver_connection
    heads = recorded_heads(driver, settings.tool_schema)
    connection.commit()  # a transaction SQLAlchemy began before
    driver.commit()  # the one the read began behind SQLAlchemy's back
    return heads
