"""Drift: does the live database still look like its migrations say it should?

Hand-made hotfixes, a forgotten `CREATE INDEX` in a console, a restore from an old backup: the
version table cannot see any of them. `drift` replays the migrations the live database has
applied into a scratch database and compares the two catalogs, service schema by service
schema. It only reads the live database.
"""

from __future__ import annotations

from migrator.checks import catalog
from migrator.context import Context
from migrator.database import connect, database_heads
from migrator.model import plan as planning
from migrator.model import repeatable, services
from migrator.ops.scratch import scratch_database
from migrator.run import history
from migrator.run.apply import apply_plan


def drift(ctx: Context, service: str | None) -> list[str]:
    """One line per object that differs between the migrations and the live database."""
    schemas = (
        [services.resolve(service).schema]
        if service
        else [known.schema for known in services.SERVICES]
    )
    with ctx.connect() as connection:
        heads = database_heads(connection, ctx.settings)
        live = catalog.snapshot(connection, schemas)
        driver = connection.connection.driver_connection
        ran = history.repeatable_checksums(driver, ctx.settings.tool_schema)
        connection.commit()
    graph = ctx.graph
    # The replay runs the repeatable files the live history records as run, as they are now.
    replayed = repeatable.Recorded(repeatable.load(ctx.settings.project_root), ran).ran()
    with scratch_database(ctx.url, "drift") as scratch:
        revisions = graph.in_order(graph.applied(heads))
        plan = planning.build(graph, (), "upgrade", revisions, tuple(replayed))
        if plan:
            apply_plan(ctx.on(scratch, events=lambda event: None), plan)
        with connect(scratch) as connection:
            expected = catalog.snapshot(connection, schemas)
    return catalog.object_differences(expected, live, "the migrations", "the live database")
