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

The tool keeps a URL as its own small value, `Url`, parsed the way SQLAlchemy parses one:
importing SQLAlchemy costs more than everything a read-only command such as `migrate status`
does, so those commands parse, show, scrub and connect without it. The commands that work
through SQLAlchemy get its URL at the boundary (`Url.sqlalchemy`), and every function here that
shows or scrubs a URL takes either kind.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from migrator.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
_EXPECTED = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_PORTS = range(1, 65536)
_MASK = "***"


@dataclass(frozen=True)
class Url:
    """A PostgreSQL URL, its parts decoded; `query` keeps libpq's parameters in the order
    given (a name may repeat: `?host=a&host=b`)."""

    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, url: Url | URL) -> Url:
        """The tool's value for a URL of either kind."""
        if isinstance(url, Url):
            return url
        pairs = tuple(
            (name, value)
            for name, values in url.query.items()
            for value in ((values,) if isinstance(values, str) else values)
        )
        return cls(url.username, url.password, url.host, url.port, url.database, pairs)

    def values(self, name: str) -> list[str]:
        """Every value the query gives the parameter `name`."""
        return [value for key, value in self.query if key == name]

    def sqlalchemy(self) -> URL:
        """SQLAlchemy's URL of the same database, with the psycopg 3 driver named."""
        from sqlalchemy.engine import URL

        names = dict.fromkeys(name for name, _ in self.query)
        query = {
            name: values[0] if len(values) == 1 else values
            for name in names
            if (values := self.values(name))
        }
        return URL.create(
            "postgresql+psycopg",
            self.username,
            self.password,
            self.host,
            self.port,
            self.database,
            query,
        )

    def connect_arguments(self) -> dict[str, Any]:
        """psycopg.connect's keywords for the URL: what SQLAlchemy hands psycopg, so that a read
        connects exactly as the commands working through SQLAlchemy do (a repeated parameter
        joined with commas, libpq's form for several hosts and ports)."""
        given = {
            "user": self.username,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
        }
        arguments: dict[str, Any] = {name: value for name, value in given.items() if value}
        for name, _ in self.query:
            arguments[name] = ",".join(self.values(name))
        return arguments

    def render(self, *, hide_password: bool) -> str:
        """The URL as SQLAlchemy writes it, with libpq's scheme: the passwords (of the user
        and of the query) masked, unless `hide_password` is False."""
        text = "postgresql://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                shown = _MASK if hide_password else quote(self.password, safe=" +")
                text += f":{shown}"
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += "?" + "&".join(
                f"{quote_plus(name)}="
                + (_MASK if hide_password and name == "password" else quote_plus(value))
                for name, value in sorted(self.query, key=lambda pair: pair[0])
            )
        return text


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    """The connection parameters the installed libpq accepts (its own list, so a newer libpq's
    parameters are accepted as soon as it is installed)."""
    from psycopg import pq  # only when a URL is checked: `migrate new` never connects

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def parse(raw: str) -> Url:
    """Parse a URL given by the user; UsageError, naming what to fix, when it is not a
    PostgreSQL URL libpq could use."""
    parts = _split(raw.strip())
    port = None
    if parts["port"] is not None:
        try:
            port = int(parts["port"])
        except ValueError as error:
            raise UsageError(_bad_port_message()) from error
    if parts["scheme"] not in _POSTGRES_SCHEMES:
        raise UsageError(
            f"the database URL names {parts['scheme']!r}; only PostgreSQL is supported "
            f"({_EXPECTED})"
        )
    decoded = {
        name: unquote(parts[name]) if parts[name] is not None else None
        for name in ("username", "password", "database")
    }
    url = Url(
        host=parts["host"] or None,
        port=port,
        query=tuple(parse_qsl(parts["query"] or "")),
        **decoded,
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
    return url


def _split(text: str) -> dict[str, str | None]:
    """The URL's parts as written (still percent-encoded), split as SQLAlchemy splits them.
    The user name runs to the first `:` or `/` and may hold `@` (`user@server`, as some
    hosted services name their users); the password runs from that `:` to the next `@` and may
    hold `/` and `?`, not `@`. Without a password the user name ends at its last `@`. Then the
    host runs to `:`, `/` or `?` (an IPv6 host in brackets), the port to `/` or `?`, the
    database to `?`."""
    scheme, found, rest = text.partition("://")
    if not found or not scheme or not scheme.replace("+", "_").isidentifier():
        raise UsageError(f"the database URL does not parse; expected {_EXPECTED}")
    parts: dict[str, str | None] = dict.fromkeys(("username", "password", "port", "database"))
    parts["scheme"] = scheme
    name_end = min((rest.find(mark) for mark in ":/" if mark in rest), default=len(rest))
    name = rest[:name_end]
    if rest.startswith(":", name_end) and "@" in rest[name_end:]:
        password_end = rest.index("@", name_end)
        parts["username"], parts["password"] = name, rest[name_end + 1 : password_end]
        rest = rest[password_end + 1 :]
    elif "@" in name:
        parts["username"], _, host_start = name.rpartition("@")
        rest = host_start + rest[name_end:]
    end = min((rest.find(mark) for mark in "/?" if mark in rest), default=len(rest))
    address, rest = rest[:end], rest[end:]
    if address.startswith("[") and address.rfind("]") > 1:
        host, _, port = address[1:].rpartition("]")
        if port and not port.startswith(":"):
            raise UsageError(f"the database URL does not parse; expected {_EXPECTED}")
        port = port[1:] if port else None
    else:
        host, colon, port = address.partition(":")
        port = port if colon else None
    parts["host"], parts["port"] = host, port
    path, question, query = rest.partition("?")
    if path.startswith("/"):
        parts["database"] = path[1:]
    parts["query"] = query if question else None
    return parts


def normalize(raw: str) -> URL:
    """`parse`, as SQLAlchemy's URL with the psycopg 3 driver (for code that connects through
    SQLAlchemy)."""
    return parse(raw).sqlalchemy()


def _bad_port_message() -> str:
    # The port is not quoted: when a password holds an unescaped `/` or `@`, what reaches the
    # port may be part of the password.
    return (
        "the database URL's port is not a number from 1 to 65535; write "
        f"{_EXPECTED}, and percent-encode @ : / ? # in the password (%40 %3A %2F %3F %23)"
    )


def _check_query(url: Url) -> None:
    """Every query parameter must be one of libpq's connection parameters, and a port given
    there (`?host=/socket&port=5433`) a port."""
    known = _libpq_keywords()
    for name, _ in url.query:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"the database URL has an unknown connection parameter {name!r}; {hint}libpq "
                "accepts only its own parameters (sslmode, connect_timeout, application_name, "
                "host, port, options, ...) after the ?"
            )
    for port in url.values("port"):
        for part in port.split(","):  # libpq takes one port per host: 5432,5433
            if not (part.strip().isdigit() and int(part) in _PORTS):
                raise UsageError(_bad_port_message())


def redacted(url: Url | URL) -> str:
    """The URL as it may be shown to people: the password masked, in the user part and in
    the query (`?password=`) alike."""
    return Url.of(url).render(hide_password=True)


def libpq_dsn(url: Url | URL) -> str:
    """The URL as libpq (psql, pg_dump, psycopg) reads it."""
    return Url.of(url).render(hide_password=False)


def scrub(text: str, url: Url | URL | None) -> str:
    """Remove the URL's passwords from a message that may quote them (driver errors sometimes
    do)."""
    if url is None:
        return text
    url = Url.of(url)
    for secret in (url.password, *url.values("password")):
        if secret:
            text = text.replace(secret, _MASK)
    return text
