"""Database URLs: accepting the forms people paste, and never showing their passwords.

Operators paste `postgres://` and `postgresql://` URLs from their secret stores; SQLAlchemy
needs the psycopg 3 driver named, libpq wants no driver at all, and nothing the tool prints,
logs or records may contain the password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from migrator.errors import UsageError

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}


def normalize(raw: str) -> URL:
    """Parse a URL given by the user into the SQLAlchemy form with the psycopg 3 driver."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as error:
        raise UsageError(
            "the database URL does not parse; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from error
    if url.drivername not in _POSTGRES_SCHEMES:
        raise UsageError(
            f"the database URL names {url.drivername!r}; only PostgreSQL is supported "
            "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)"
        )
    if not url.database:
        raise UsageError("the database URL names no database; add /DATABASE at its end")
    return url.set(drivername="postgresql+psycopg")


def redacted(url: URL) -> str:
    """The URL as it may be shown to people: the password masked."""
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def libpq_dsn(url: URL) -> str:
    """The URL as libpq (psql, pg_dump, psycopg) reads it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def scrub(text: str, url: URL | None) -> str:
    """Remove the URL's password from a message that may quote it (driver errors sometimes do)."""
    if url is None or not url.password:
        return text
    return text.replace(str(url.password), "***")
