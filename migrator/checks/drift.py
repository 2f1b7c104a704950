"""Drift: does the live database still look like its migrations say it should?

Hand-made hotfixes, a forgotten `CREATE INDEX` in a console, a restore from an old backup: the
version table cannot see any of them. `drift` replays the migrations the live database has
applied into a scratch database and compares the two catalogs, service schema by service
schema. It only reads the live database.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import URL

from migrator.checks import catalog
from migrator.config import Settings
from migrator.database import connect, database_heads
from migrator.events import EventSink
from migrator.model import plan as planning
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.ops.scratch import scratch_database
from migrator.run import apply as runner


def drift(
    settings: Settings, url: URL, graph: RevisionGraph, events: EventSink, service: str | None
) -> list[str]:
    """One line per object that differs between the migrations and the live database."""
    schemas = (
        [services.resolve(service).schema]
        if service
        else [known.schema for known in services.SERVICES]
    )
    with connect(url) as connection:
        heads = database_heads(connection, settings)
        live = catalog.snapshot(connection, schemas)
    applied = graph.applied(heads)
    with scratch_database(url, "drift") as scratch:
        plan = planning.build(graph, (), "upgrade", graph.in_order(applied))
        if plan:
            runner.apply_plan(replace(settings, database_url=scratch), scratch, graph, plan, events)
        with connect(scratch) as connection:
            expected = catalog.snapshot(connection, schemas)
    return catalog.object_differences(expected, live, "the migrations", "the live database")
