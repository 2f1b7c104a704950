"""What env.py runs: one environment for plain `alembic` and for `migrate` alike.

`migrate` calls Alembic's commands with its settings, an open connection and the run in the
Config's `attributes`; plain `alembic` arrives with none of them (or, as Alembic's cookbook and
the testing tools built on it do, with a Connection or an Engine under "connection"), and gets
the same settings from the same sources (DATABASE_URL, pyproject, the embedded server). Either
way a writing command (upgrade, downgrade, stamp) goes through the same run: the migration
lock, validation against the files, the revision model's steps, timeouts, retries and the audit
history. Commands that only read or compare (current, check, revision --autogenerate) skip the
lock and the checks.

A caller's Connection is used as given and never closed. A transaction already open on it is
the caller's to commit, as in Alembic's cookbook (`with engine.begin() as connection:`): the
reading commands run inside it and commit nothing, while a writing command refuses, since it
commits every revision on its own and runs `CREATE INDEX CONCURRENTLY` outside any
transaction.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from migrator.config import SETTINGS_ATTRIBUTE, Settings, load_settings
from migrator.context import Context
from migrator.database import database_heads
from migrator.errors import MigratorError
from migrator.events import log_event
from migrator.model.graph import RevisionGraph
from migrator.run import autogenerate, history, session
from migrator.run.engine import (
    CONNECTION,
    RUN_ATTRIBUTE,
    SAY,
    STARTING_HEADS,
    OfflineRun,
    PlanRun,
)


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


def _through_run(run: OfflineRun, **options: Any) -> None:
    """Configure again so that Alembic's steps pass through the run, then run them."""
    steps = context.get_context().opts["fn"]
    context.configure(
        fn=run.steps_function(steps), on_version_apply=run.on_version_apply, **options
    )


def _run_offline(config: Config, settings: Settings) -> None:
    options = _shared_options(settings)
    starting_heads = config.attributes.get(STARTING_HEADS)
    if starting_heads is not None:
        # Render only what is pending from the database's current heads, across all branches.
        options["starting_rev"] = list(starting_heads) or None
    options.update(dialect_name="postgresql", literal_binds=True)
    context.configure(**options)
    if context.get_context().opts.get("fn") is None:
        return
    run = config.attributes.get(RUN_ATTRIBUTE)
    if run is None:
        run = config.attributes[RUN_ATTRIBUTE] = OfflineRun(
            RevisionGraph.load(settings.project_root)
        )
    _through_run(run, **options)
    context.execute(history.create_schema_sql(settings.tool_schema))
    with context.begin_transaction():
        context.run_migrations()


def _run_online(config: Config, settings: Settings) -> None:
    given = config.attributes.get(CONNECTION)
    with ExitStack() as stack:
        if isinstance(given, Engine):
            given = stack.enter_context(given.connect())
        if not isinstance(given, Connection):
            given = stack.enter_context(Context(settings).connect())
        # `migrate` hands over a connection whose transactions are the run's own.
        callers = SETTINGS_ATTRIBUTE not in config.attributes and given.in_transaction()
        _migrate(given, config, settings, callers_transaction=callers)
        if not callers and given.in_transaction():
            given.commit()


def _migrate(
    connection: Connection, config: Config, settings: Settings, *, callers_transaction: bool
) -> None:
    options = {"connection": connection, **_shared_options(settings)}
    context.configure(**options)
    migration_context = context.get_context()
    revision_context = migration_context.opts.get("revision_context")
    if revision_context is not None:  # revision --autogenerate, check, migrate new
        # Alembic creates its version table in an empty database here; it lives in our schema.
        connection.exec_driver_sql(history.create_schema_sql(settings.tool_schema))
        if not callers_transaction:
            connection.commit()
        say = config.attributes.get(SAY) or logging.getLogger("migrator").info
        head = revision_context.command_args.get("head")
        context.configure(**options, **autogenerate.options(settings, head, say))
        _run_migrations()
        return
    # upgrade, downgrade and stamp name a destination; current doesn't.
    if migration_context.opts.get("destination_rev") is None:
        _run_migrations()
        return
    if callers_transaction:
        raise MigratorError(
            "the connection in config.attributes['connection'] is inside a transaction, and "
            "upgrade, downgrade and stamp commit each revision on their own: pass the Engine, "
            "or a Connection with no transaction open (engine.connect(), not engine.begin())"
        )
    graph = RevisionGraph.load(settings.project_root)
    if SETTINGS_ATTRIBUTE not in config.attributes:
        # Plain Alembic would apply two heads of one service in whatever order it walks them;
        # `migrate` refuses them in its own commands (its `down` may still take one back).
        graph.refuse_parallel_heads()
    with session.writing(connection, settings, graph, log_event):
        heads = database_heads(connection, settings)
        run = PlanRun(connection, settings, graph, log_event, heads=heads)
        context.configure(
            fn=run.steps_function(migration_context.opts["fn"]),
            on_version_apply=run.on_version_apply,
            **options,
        )
        try:
            _run_migrations()
        finally:
            run.close()


def _run_migrations() -> None:
    with context.begin_transaction():
        context.run_migrations()
