"""What env.py runs: one configuration for plain `alembic` and for `migrate` alike.

`migrate` calls Alembic's commands with its settings and an open connection in the Config's
`attributes`; plain `alembic` arrives with neither, and gets the same settings from the same
sources (DATABASE_URL, pyproject, the embedded server). Either way a writing command (upgrade,
downgrade, stamp) goes through the same engine: the migration lock, validation against the
files, one transaction per revision, timeouts, retries and the audit history. Commands that only
read or compare (current, check, revision --autogenerate) skip the lock and the checks.
"""

from __future__ import annotations

import logging
from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from migrator.config import SETTINGS_ATTRIBUTE, Settings, load_settings, resolve_database_url
from migrator.database import APPLICATION_NAME
from migrator.errors import MigratorError
from migrator.events import EventSink, log_event
from migrator.model.graph import RevisionGraph
from migrator.run import autogenerate as authoring
from migrator.run import history
from migrator.run import lock as locking
from migrator.run.engine import WritingRun, prepare_session

CONNECTION = "connection"
STARTING_HEADS = "starting_heads"
EVENTS = "events"
NOTE = "note"
RUN_ID = "run_id"
SAY = "say"


def run() -> None:
    """Run the migrations Alembic asked for, online or as SQL text."""
    config = context.config
    plain_alembic = SETTINGS_ATTRIBUTE not in config.attributes
    try:
        settings = _settings_for(config)
        if context.is_offline_mode():
            _run_offline(config, settings)
        else:
            _run_online(config, settings)
    except MigratorError as error:
        if not plain_alembic:
            raise
        # Alembic prints a CommandError as one line, where anything else is a traceback.
        details = "".join(f"\n  - {problem}" for problem in getattr(error, "problems", []))
        raise CommandError(f"{error}{details}") from error


def _settings_for(config: Config) -> Settings:
    settings = config.attributes.get(SETTINGS_ATTRIBUTE)
    if settings is not None:
        return settings
    # Plain `alembic`: set up its logging as the ini file says, and read settings as migrate does.
    if config.config_file_name:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    return load_settings(project=Path(config.config_file_name or "alembic.ini").resolve().parent)


def _shared_options(settings: Settings) -> dict[str, Any]:
    return {"version_table_schema": settings.tool_schema, "transaction_per_migration": True}


def _run_offline(config: Config, settings: Settings) -> None:
    options = _shared_options(settings)
    starting_heads = config.attributes.get(STARTING_HEADS)
    if starting_heads is not None:
        # Render only what is pending from the database's current heads, across all branches.
        options["starting_rev"] = list(starting_heads) or None
    context.configure(dialect_name="postgresql", literal_binds=True, **options)
    context.execute(history.create_schema_sql(settings.tool_schema))
    with context.begin_transaction():
        context.run_migrations()


def _run_online(config: Config, settings: Settings) -> None:
    connection = config.attributes.get(CONNECTION)
    if connection is not None:
        _migrate(connection, config, settings)
        return
    engine = create_engine(
        resolve_database_url(settings),
        poolclass=NullPool,
        connect_args={"application_name": APPLICATION_NAME},
    )
    with engine.connect() as connection:
        _migrate(connection, config, settings)


def _migrate(connection: Connection, config: Config, settings: Settings) -> None:
    context.configure(connection=connection, **_shared_options(settings))
    migration_context = context.get_context()
    revision_context = migration_context.opts.get("revision_context")
    if revision_context is not None:  # revision --autogenerate, check, migrate new
        # Alembic creates its version table in an empty database here; it lives in our schema.
        connection.exec_driver_sql(history.create_schema_sql(settings.tool_schema))
        connection.commit()
        say = config.attributes.get(SAY) or logging.getLogger("migrator").info
        head = revision_context.command_args.get("head")
        context.configure(
            connection=connection,
            **_shared_options(settings),
            **authoring.autogenerate_options(settings, head, say),
        )
        _run_migrations()
        return
    # upgrade, downgrade and stamp name a destination; current doesn't.
    if migration_context.opts.get("destination_rev") is None:
        _run_migrations()
        return
    events: EventSink = config.attributes.get(EVENTS) or log_event
    with locking.migration_lock(
        connection, settings.tool_schema, settings.engine.lock_wait_ms, events
    ):
        prepare_session(connection, settings)
        assert migration_context.script is not None  # online commands always carry one
        graph = RevisionGraph.of_script(migration_context.script, config)
        run = WritingRun(
            connection,
            settings,
            graph,
            events,
            note=config.attributes.get(NOTE),
            run_id=config.attributes.get(RUN_ID),
        )
        run.refuse_unless_valid()
        config.attributes.update(run.attributes())
        context.configure(
            connection=connection,
            on_version_apply=run.on_version_apply,
            **_shared_options(settings),
        )
        run.execute(_run_migrations)


def _run_migrations() -> None:
    with context.begin_transaction():
        context.run_migrations()
