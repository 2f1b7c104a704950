"""Where the tool's settings come from.

One rule for every setting: a command-line flag beats an environment variable, which beats
`[tool.migrator]` in the project's pyproject.toml, which beats the built-in default. The database
URL follows the same rule with the embedded server as the last resort, so a new user with no
configuration sees the tool work at once, and a configured one never gets a surprise server.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator import urls
from migrator.errors import UsageError

if TYPE_CHECKING:
    from alembic.config import Config

PROJECT_ENV = "MIGRATOR_PROJECT"
# Keys of Alembic's Config.attributes through which `migrate` hands state to env.py.
SETTINGS_ATTRIBUTE = "settings"
DATABASE_URL_ENV = "DATABASE_URL"
ENVIRONMENT_ENV = "MIGRATE_ENV"
# The environments whose policy is built in (migrator.ops.policy.DEFAULTS); pyproject.toml may
# define more under [tool.migrator.environments.<name>].
BUILT_IN_ENVIRONMENTS = ("development", "staging", "production")

_DURATION_UNITS_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
# PostgreSQL keeps lock_timeout and statement_timeout in a 32-bit count of milliseconds and
# refuses anything longer, halfway through a run; the tool's own waits share the limit.
LONGEST_DURATION_MS = 2_147_483_647
_DURATION_EXAMPLES = "500ms, 2s, 5min or off"


def parse_duration_ms(value: str | int | float, name: str) -> int:
    """Milliseconds from a duration written as PostgreSQL writes them (`500ms`, `2s`, `5min`,
    `1h`; a bare number is milliseconds; `0` or `off` is no limit).

    Refused as bad input: anything else, a duration PostgreSQL would not accept (longer than
    LONGEST_DURATION_MS), and a positive one shorter than a millisecond, which would round to
    0 and so silently mean "no limit"."""
    if isinstance(value, bool):
        raise UsageError(
            f"{name} = {value!r} is not a duration; write it like {_DURATION_EXAMPLES}"
        )
    text = str(value).strip().lower()
    if text in {"off", "0", ""}:
        return 0
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number) :].strip() or "ms"
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _DURATION_UNITS_MS or not math.isfinite(amount) or amount < 0:
        raise UsageError(
            f"{name} = {value!r} is not a duration; write it like {_DURATION_EXAMPLES}"
        )
    milliseconds = amount * _DURATION_UNITS_MS[unit]
    if milliseconds > LONGEST_DURATION_MS:
        raise UsageError(
            f"{name} = {value!r} is longer than PostgreSQL accepts; write at most "
            f"{LONGEST_DURATION_MS}ms (about 24 days), or off for no limit"
        )
    if 0 < milliseconds < 1:
        raise UsageError(
            f"{name} = {value!r} is shorter than PostgreSQL can wait (it would mean no limit); "
            "write at least 1ms, or off for no limit"
        )
    return round(milliseconds)


_SIZE_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}


def parse_size(value: str | int, name: str) -> int:
    """Bytes from a size written as PostgreSQL writes them (`100MB`, `1GB`, a bare number)."""
    if isinstance(value, bool):
        raise UsageError(f"{name} = {value!r} is not a size; write it like 500MB or 2GB")
    text = str(value).strip().lower().replace(" ", "")
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number) :] or "b"
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _SIZE_UNITS or not math.isfinite(amount) or amount < 0:
        raise UsageError(f"{name} = {value!r} is not a size; write it like 500MB or 2GB")
    return round(amount * _SIZE_UNITS[unit])


def parse_count(value: str | int, name: str) -> int:
    """A whole number of at least 1; `true` or 2.5 in pyproject.toml are mistakes, not 1 and 2."""
    try:
        count = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else 0
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"{name} = {value!r} must be a whole number of at least 1")
    return count


# Engine settings by the name used in pyproject, flags and MIGRATE_<NAME>: (field, parser).
_ENGINE_SOURCES = {
    "lock_timeout": ("lock_timeout_ms", parse_duration_ms),
    "statement_timeout": ("statement_timeout_ms", parse_duration_ms),
    "lock_retries": ("lock_retries", parse_count),
    "retry_backoff": ("retry_backoff_ms", parse_duration_ms),
    "lock_wait": ("lock_wait_ms", parse_duration_ms),
    "exclusive_lock_timeout": ("exclusive_lock_timeout_ms", parse_duration_ms),
    "max_replica_lag": ("max_replica_lag_ms", parse_duration_ms),
}


@dataclass(frozen=True)
class EngineSettings:
    """How the engine treats locks: how long a statement may wait for one, how often a revision
    is tried again after waiting too long, and how long a second migrator waits for the first.

    Short lock waits with retries keep a migration from queueing every query of the platform
    behind its own ACCESS EXCLUSIVE request while a long transaction holds the table.
    """

    lock_timeout_ms: int = 2000
    statement_timeout_ms: int = 0
    lock_retries: int = 5
    retry_backoff_ms: int = 500
    lock_wait_ms: int = 120_000
    # An ACCESS EXCLUSIVE request queues every query of its table while it waits: it waits at
    # most this long per try, unless its revision sets its own lock_timeout. pgroll waits
    # 500 ms; a little less keeps a queued query's worst wait under half a second.
    exclusive_lock_timeout_ms: int = 400
    # Backfills pause, and statements that work through a large table wait, while a streaming
    # replica is further behind than this (0: replicas are not watched).
    max_replica_lag_ms: int = 10_000

    @classmethod
    def merged(cls, *layers: dict[str, Any]) -> EngineSettings:
        """Settings from layers of raw values, later layers winning; unknown names ignored."""
        values: dict[str, int] = {}
        for layer in layers:
            for name, raw in layer.items():
                if name in _ENGINE_SOURCES and raw is not None:
                    field, parser = _ENGINE_SOURCES[name]
                    values[field] = parser(raw, name)
        return cls(**values)

    @staticmethod
    def from_environment() -> dict[str, str]:
        """The engine settings given as MIGRATE_LOCK_TIMEOUT, MIGRATE_LOCK_RETRIES, ..."""
        return {
            name: os.environ[f"MIGRATE_{name.upper()}"]
            for name in _ENGINE_SOURCES
            if os.environ.get(f"MIGRATE_{name.upper()}")
        }


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know before it touches the database."""

    project_root: Path
    database_url: urls.Url | None = None
    tool_schema: str = "migrator"
    embedded_database: str = "inopsio_db"
    environment: str = "development"
    engine: EngineSettings = EngineSettings()
    backup_dir: Path = Path("backups")  # relative to the project unless absolute
    backup_keep: int = 10  # backups kept per environment; older ones are pruned
    backup_reserve_bytes: int = 100 * 2**20  # free disk a backup must leave behind

    @property
    def alembic_ini(self) -> Path:
        return self.project_root / "alembic.ini"

    @property
    def dependencies_file(self) -> Path:
        return self.project_root / "migration-dependencies.yml"

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None


def find_project_root(explicit: Path | None = None) -> Path:
    """The folder holding alembic.ini: given, named by MIGRATOR_PROJECT, or above the cwd."""
    candidate = explicit or (Path(os.environ[PROJECT_ENV]) if os.environ.get(PROJECT_ENV) else None)
    if candidate is not None:
        root = candidate.resolve()
        if not (root / "alembic.ini").is_file():
            raise UsageError(
                f"{root} holds no alembic.ini; point --project at the migrations project"
            )
        return root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "alembic.ini").is_file() and (folder / "services").is_dir():
            return folder
    raise UsageError(
        "no migrations project here: run from the folder holding alembic.ini, "
        f"or set {PROJECT_ENV} / --project"
    )


def pyproject_settings(root: Path) -> dict[str, Any]:
    """`[tool.migrator]` of the project's pyproject.toml (empty without one); a file that is
    not TOML is bad input, reported with the parser's line and column."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path} is not valid TOML ({error}); fix the file") from error
    settings = document.get("tool", {}).get("migrator", {})
    if not isinstance(settings, dict):
        raise UsageError(f"{path}: [tool.migrator] must be a table of settings")
    return settings


def _environment_settings(from_file: dict[str, Any], environment: str) -> dict[str, Any]:
    """`[tool.migrator.environments.<environment>]`; refuses an environment that is neither
    built in nor defined there, before anything reads or writes under its name (a backup
    named after a typo, a plan shown for rules that do not exist)."""
    defined = from_file.get("environments", {})
    if not isinstance(defined, dict) or not all(isinstance(v, dict) for v in defined.values()):
        raise UsageError(
            "[tool.migrator.environments] in pyproject.toml must hold one table per "
            "environment, e.g. [tool.migrator.environments.staging]"
        )
    if environment not in BUILT_IN_ENVIRONMENTS and environment not in defined:
        raise UsageError(
            f"unknown environment {environment!r}; use one of "
            f"{', '.join(BUILT_IN_ENVIRONMENTS)}, or define it under "
            f"[tool.migrator.environments.{environment}] in pyproject.toml"
        )
    return defined.get(environment, {})


def load_settings(
    *,
    project: Path | None = None,
    database_url: str | None = None,
    engine_flags: dict[str, Any] | None = None,
    environment: str | None = None,
) -> Settings:
    """Merge flags, environment and pyproject into one Settings."""
    root = find_project_root(project)
    from_file = pyproject_settings(root)
    if database_url is not None and not database_url.strip():
        # An empty flag (an unset variable in a script) must not fall back to another
        # database: the embedded server would start, or $DATABASE_URL would be migrated.
        raise UsageError("--database-url is empty; give the URL, or leave the option out")
    raw_url = database_url or os.environ.get(DATABASE_URL_ENV) or None
    environment = environment or os.environ.get(ENVIRONMENT_ENV) or Settings.environment
    environment_settings = _environment_settings(from_file, environment)
    backup_dir = Path(
        os.environ.get("MIGRATE_BACKUP_DIR") or from_file.get("backup_dir", "backups")
    )
    return Settings(
        backup_dir=backup_dir if backup_dir.is_absolute() else root / backup_dir,
        backup_keep=parse_count(from_file.get("backup_keep", Settings.backup_keep), "backup_keep"),
        backup_reserve_bytes=parse_size(
            from_file.get("backup_reserve", Settings.backup_reserve_bytes), "backup_reserve"
        ),
        project_root=root,
        database_url=urls.parse(raw_url) if raw_url else None,
        tool_schema=from_file.get("tool_schema", Settings.tool_schema),
        embedded_database=from_file.get("embedded_database", Settings.embedded_database),
        environment=environment,
        engine=EngineSettings.merged(
            from_file,
            environment_settings,
            EngineSettings.from_environment(),
            engine_flags or {},
        ),
    )


def refuse_unwritable_file(path: Path, option: str, *, replaced: bool = False) -> None:
    """Refuse, as bad input, a file the tool could not write (its folder missing, or not a
    folder, or read-only; the path itself a folder). Checked when the option is read, so a run
    is not stopped halfway by its first log line or its last metric. `replaced`: the file is
    written aside and renamed over the old one, so its folder must be writable too."""
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; name a file in it instead")
    if not folder.exists():
        raise UsageError(
            f"{option} {path}: the folder {folder} does not exist; create it first, or name a "
            "file in an existing folder"
        )
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is not a folder; name a file in a folder")
    writable = os.access(folder, os.W_OK | os.X_OK)
    if path.exists() and not replaced:
        writable = os.access(path, os.W_OK)
    if not writable:
        raise UsageError(f"{option} {path}: this user may not write there; choose a writable place")


def alembic_config(settings: Settings) -> Config:
    """Alembic's Config for the project, carrying the settings so env.py need not read them.
    Alembic is imported here, by the commands that run it: importing it costs more than a
    read-only command's whole run."""
    from alembic.config import Config

    config = Config(str(settings.alembic_ini))
    config.attributes[SETTINGS_ATTRIBUTE] = settings
    return config
