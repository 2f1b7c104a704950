"""Database URLs: accepting the forms people paste, and never showing their passwords.

Operators paste `postgres://` and `postgresql://` URLs from their secret stores; SQLAlchemy
needs the psycopg 3 driver named, libpq wants no driver at all, and nothing the tool prints,
logs or records may contain the password.

A URL is checked here, once, before anything connects: a port that is not a port, a query
parameter libpq does not know (a typo such as `sslmod=require` would otherwise fail deep in
the driver, or be ignored), and a password whose `@` was not percent-encoded. The last one
matters most: the URL then splits at the wrong `@`, the rest of the password becomes the host
name, and every message that names the host would show it. Errors about a URL therefore never
quote the URL or its parts.
"""

from __future__ import annotations

import difflib
import functools

from psycopg import pq
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from migrator.errors import UsageError

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
_EXPECTED = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_PORTS = range(1, 65536)
_MASK = "***"


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    """The connection parameters the installed libpq accepts (its own list, so a newer libpq's
    parameters are accepted as soon as it is installed)."""
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def normalize(raw: str) -> URL:
    """Parse a URL given by the user into the SQLAlchemy form with the psycopg 3 driver;
    UsageError, naming what to fix, when it is not a PostgreSQL URL libpq could use."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as error:
        raise UsageError(f"the database URL does not parse; expected {_EXPECTED}") from error
    except ValueError as error:  # SQLAlchemy reads the port with int()
        raise UsageError(_bad_port_message()) from error
    if url.drivername not in _POSTGRES_SCHEMES:
        raise UsageError(
            f"the database URL names {url.drivername!r}; only PostgreSQL is supported ({_EXPECTED})"
        )
    if url.host is not None and "@" in url.host:
        raise UsageError(
            "the database URL holds more than one unescaped @, so its password cannot be told "
            "from its host; percent-encode each @ in the password as %40 (and : / ? # as "
            "%3A %2F %3F %23)"
        )
    if url.port is not None and url.port not in _PORTS:
        raise UsageError(_bad_port_message())
    _check_query(url)
    if not url.database:
        raise UsageError("the database URL names no database; add /DATABASE at its end")
    return url.set(drivername="postgresql+psycopg")


def _bad_port_message() -> str:
    # The port is not quoted: when a password holds an unescaped `/` or `@`, what reaches the
    # port may be part of the password.
    return (
        "the database URL's port is not a number from 1 to 65535; write "
        f"{_EXPECTED}, and percent-encode @ : / ? # in the password (%40 %3A %2F %3F %23)"
    )


def _check_query(url: URL) -> None:
    """Every query parameter must be one of libpq's connection parameters, and a port given
    there (`?host=/socket&port=5433`) a port."""
    known = _libpq_keywords()
    for name in url.query:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"the database URL has an unknown connection parameter {name!r}; {hint}libpq "
                "accepts only its own parameters (sslmode, connect_timeout, application_name, "
                "host, port, options, ...) after the ?"
            )
    ports = url.query.get("port")
    for port in (ports,) if isinstance(ports, str) else ports or ():
        for part in port.split(","):  # libpq takes one port per host: 5432,5433
            if not (part.strip().isdigit() and int(part) in _PORTS):
                raise UsageError(_bad_port_message())


def redacted(url: URL) -> str:
    """The URL as it may be shown to people: the password masked, in the user part and in
    the query (`?password=`) alike."""
    # A placeholder of URL-safe characters, so that the query's encoding leaves it readable.
    placeholder = "PASSWORDMASKEDBYMIGRATOR"
    if "password" in url.query:
        url = url.update_query_dict({"password": placeholder})
    text = url.set(drivername="postgresql").render_as_string(hide_password=True)
    return text.replace(placeholder, _MASK)


def libpq_dsn(url: URL) -> str:
    """The URL as libpq (psql, pg_dump, psycopg) reads it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def scrub(text: str, url: URL | None) -> str:
    """Remove the URL's passwords from a message that may quote them (driver errors sometimes
    do)."""
    if url is None:
        return text
    secrets = [url.password, url.query.get("password")]
    for secret in secrets:
        for value in (secret,) if isinstance(secret, str) else secret or ():
            if value:
                text = text.replace(str(value), _MASK)
    return text
