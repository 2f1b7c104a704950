"""What env.py runs: one configuration for plain `alembic` and for `migrate` alike.

`migrate` calls Alembic's commands with its settings and an open connection in the Config's
`attributes`; plain `alembic` arrives with neither, and gets the same settings from the same
sources (DATABASE_URL, pyproject, the embedded server). Either way the migrations run with the
same options: the version table in the tool's schema and one transaction per revision, so a
failure keeps every earlier revision of the run applied and rolls back only its own.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from alembic.config import Config
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from migrator.config import SETTINGS_ATTRIBUTE, Settings, load_settings, resolve_database_url

CONNECTION = "connection"
STARTING_HEADS = "starting_heads"
ON_VERSION_APPLY = "on_version_apply"


def run() -> None:
    """Run the migrations Alembic asked for, online or as SQL text."""
    config = context.config
    settings = _settings_for(config)
    if context.is_offline_mode():
        _run_offline(config, settings)
    else:
        _run_online(config, settings)


def _settings_for(config: Config) -> Settings:
    settings = config.attributes.get(SETTINGS_ATTRIBUTE)
    if settings is not None:
        return settings
    # Plain `alembic`: set up its logging as the ini file says, and read settings as migrate does.
    if config.config_file_name:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    return load_settings(project=Path(config.config_file_name or "alembic.ini").resolve().parent)


def _shared_options(config: Config, settings: Settings) -> dict[str, Any]:
    return {
        "version_table_schema": settings.tool_schema,
        "transaction_per_migration": True,
        "on_version_apply": config.attributes.get(ON_VERSION_APPLY),
    }


def _create_tool_schema_sql(settings: Settings) -> str:
    return f'CREATE SCHEMA IF NOT EXISTS "{settings.tool_schema}"'


def _run_offline(config: Config, settings: Settings) -> None:
    options = _shared_options(config, settings)
    starting_heads = config.attributes.get(STARTING_HEADS)
    if starting_heads is not None:
        # Render only what is pending from the database's current heads, across all branches.
        options["starting_rev"] = list(starting_heads) or None
    context.configure(dialect_name="postgresql", literal_binds=True, **options)
    context.execute(_create_tool_schema_sql(settings))
    with context.begin_transaction():
        context.run_migrations()


def _run_online(config: Config, settings: Settings) -> None:
    connection = config.attributes.get(CONNECTION)
    if connection is not None:
        _migrate(connection, config, settings)
        return
    engine = create_engine(resolve_database_url(settings), poolclass=NullPool)
    with engine.connect() as connection:
        _migrate(connection, config, settings)


def _migrate(connection: Connection, config: Config, settings: Settings) -> None:
    connection.exec_driver_sql(_create_tool_schema_sql(settings))
    connection.commit()
    context.configure(connection=connection, **_shared_options(config, settings))
    with context.begin_transaction():
        context.run_migrations()
