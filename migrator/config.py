"""Where the tool's settings come from.

One rule for every setting: a command-line flag beats an environment variable, which beats
`[tool.migrator]` in the project's pyproject.toml, which beats the built-in default. The database
URL follows the same rule with the embedded server as the last resort, so a new user with no
configuration sees the tool work at once, and a configured one never gets a surprise server.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy.engine import URL

from migrator import embedded, urls
from migrator.errors import UsageError

PROJECT_ENV = "MIGRATOR_PROJECT"
# Keys of Alembic's Config.attributes through which `migrate` hands state to env.py.
SETTINGS_ATTRIBUTE = "settings"
DATABASE_URL_ENV = "DATABASE_URL"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know before it touches the database."""

    project_root: Path
    database_url: URL | None = None
    tool_schema: str = "migrator"
    embedded_database: str = "inopsio_db"

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


def _pyproject_settings(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle).get("tool", {}).get("migrator", {})


def load_settings(*, project: Path | None = None, database_url: str | None = None) -> Settings:
    """Merge flags, environment and pyproject into one Settings."""
    root = find_project_root(project)
    from_file = _pyproject_settings(root)
    raw_url = database_url or os.environ.get(DATABASE_URL_ENV) or None
    return Settings(
        project_root=root,
        database_url=urls.normalize(raw_url) if raw_url else None,
        tool_schema=from_file.get("tool_schema", Settings.tool_schema),
        embedded_database=from_file.get("embedded_database", Settings.embedded_database),
    )


def resolve_database_url(settings: Settings) -> URL:
    """The URL to connect to: the configured one, or the embedded server (started if needed)."""
    if settings.database_url is not None:
        return settings.database_url
    server = embedded.start(embedded.data_dir(settings.project_root))
    return embedded.ensure_database(server, settings.embedded_database)


def alembic_config(settings: Settings) -> Config:
    """Alembic's Config for the project, carrying the settings so env.py need not read them."""
    config = Config(str(settings.alembic_ini))
    config.attributes[SETTINGS_ATTRIBUTE] = settings
    return config
