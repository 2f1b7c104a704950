"""`dev reset`: a fresh development database in the time it takes to copy one.

Replaying every migration and seed on each reset costs seconds per hundred revisions. The first
reset after a change keeps its result as a template database named by a hash of every
revision's checksum and every seed file; the next reset with the same files clones it with
`CREATE DATABASE ... TEMPLATE`, which copies files instead of running SQL. A changed file gives
a new hash, and the stale template is dropped. Templates refuse connections (a connection would
make the next clone fail) but are ordinary databases otherwise, so a plain DROP DATABASE removes
them; at most KEPT_TEMPLATES stay on a server, and `migrate dev templates --drop` removes all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator.config import Settings
from migrator.database import connect
from migrator.model import services
from migrator.ops import seeds

TEMPLATE_PREFIX = "migrator_tpl_"
KEPT_TEMPLATES = 3  # per server: the newest, whatever database they were made for


@dataclass(frozen=True)
class Reset:
    database: str
    template: str
    from_template: bool
    applied: int


def template_key(settings: Settings, which_seeds: str | None) -> str:
    """A hash of everything a reset replays: every revision file and seed file, byte for byte.
    Reading bytes is cheap, and needs no revision loaded, so a cache hit costs only the clone;
    an edit that only moves whitespace costs one replay."""
    digest = hashlib.sha256(settings.tool_schema.encode())
    for service in services.SERVICES:
        for path in sorted(service.versions_dir(settings.project_root).glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    for path in seeds.seed_files(settings.project_root, which_seeds) if which_seeds else []:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _identifier(name: str) -> str:
    return pgsql.Identifier(name).as_string()


def _admin(url: URL) -> URL:
    """A database on the same server to run CREATE/DROP DATABASE from."""
    return url.set(database="postgres")


def _exists(connection: Connection, name: str) -> bool:
    return bool(
        connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).scalar()
    )


def template_name(settings: Settings, url: URL, which_seeds: str | None) -> str:
    """The template a reset of `url`'s database clones: named by the files it replays."""
    key = template_key(settings, which_seeds)
    return f"{TEMPLATE_PREFIX}{str(url.database)[:40]}_{key}"


def recreate(url: URL, template: str) -> bool:
    """Drop the database and create it again: a clone of `template` when it exists (True),
    else empty (False), for the caller to migrate and keep as the template."""
    database = str(url.database)
    with connect(_admin(url)) as admin:
        admin = admin.execution_options(isolation_level="AUTOCOMMIT")
        admin.exec_driver_sql(f"DROP DATABASE IF EXISTS {_identifier(database)} WITH (FORCE)")
        if _exists(admin, template):
            admin.exec_driver_sql(
                f"CREATE DATABASE {_identifier(database)} TEMPLATE {_identifier(template)}"
            )
            return True
        admin.exec_driver_sql(f"CREATE DATABASE {_identifier(database)}")
    return False


def keep_as_template(url: URL, template: str) -> None:
    """Copy the freshly migrated database into `template`, replacing stale templates."""
    database = str(url.database)
    with connect(_admin(url)) as admin:
        admin = admin.execution_options(isolation_level="AUTOCOMMIT")
        _drop_stale_templates(admin, database)
        # FILE_COPY checkpoints now, while the slow reset that replayed every revision runs:
        # copied with WAL_LOG (15's default), every file of the new template would still be
        # waiting for its flush when the next, cached, reset's DROP DATABASE forces a
        # checkpoint, which made that reset take twice as long (bench/bench_reset.py).
        strategy = " STRATEGY FILE_COPY" if admin.dialect.server_version_info >= (15,) else ""
        admin.exec_driver_sql(
            f"CREATE DATABASE {_identifier(template)} TEMPLATE {_identifier(database)}{strategy}"
        )
        # Nobody may connect to it: a connection would make the next clone fail.
        admin.exec_driver_sql(f"ALTER DATABASE {_identifier(template)} ALLOW_CONNECTIONS false")
        for name in templates(admin)[KEPT_TEMPLATES:]:
            _drop(admin, name)


def templates(admin: Connection) -> list[str]:
    """The tool's template databases on the server, newest first."""
    return list(
        admin.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY oid DESC",
            (TEMPLATE_PREFIX,),
        ).scalars()
    )


def listed_templates(url: URL) -> list[str]:
    with connect(_admin(url)) as admin:
        return templates(admin)


def drop_templates(url: URL) -> list[str]:
    """Drop every template database of the tool on `url`'s server; returns their names."""
    with connect(_admin(url)) as admin:
        admin = admin.execution_options(isolation_level="AUTOCOMMIT")
        names = templates(admin)
        for name in names:
            _drop(admin, name)
    return names


def _drop(admin: Connection, name: str) -> None:
    # Templates made by earlier versions of the tool were marked IS_TEMPLATE, which a plain
    # DROP DATABASE refuses.
    admin.exec_driver_sql(f"ALTER DATABASE {_identifier(name)} IS_TEMPLATE false")
    admin.exec_driver_sql(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")


def _drop_stale_templates(admin: Connection, database: str) -> None:
    prefix = f"{TEMPLATE_PREFIX}{database[:40]}_"
    for name in templates(admin):
        if name.startswith(prefix):
            _drop(admin, name)
