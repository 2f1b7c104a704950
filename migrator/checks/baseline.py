"""Which revision each service's schema already stands at, in a database no tool recorded.

A database built outside the tool (plain SQL through psql, a restore from before the tool, a
copy made by hand) has the services' schemas but no version table, so `up` would try to build
them again. `baseline` adopts it: every service's branch is replayed, revision by revision, into
one scratch database (with what it depends on, in the graph's order), the service's schema is
read from the catalog after each of its revisions, and the newest revision whose schema equals
the live one is the proposal. Schemas are compared by meaning, as drift and verify compare
them, so a database built from the same SQL by another path is recognised. A schema that
matches no revision is refused with its differences from the nearest one: adopting it would
record a history that never built it. The live database is only read here.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrator.checks import catalog
from migrator.context import Context
from migrator.database import connect, database_heads
from migrator.errors import CheckFailed
from migrator.events import Event, StepFinished
from migrator.model import plan as planning
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.model.plan import Plan
from migrator.model.services import Service
from migrator.ops.scratch import scratch_database
from migrator.run.apply import apply_plan

# Each service's revisions, oldest first, with its schema as the scratch database had it
# right after each of them.
Replayed = dict[str, list[tuple[str, catalog.Snapshot]]]


class NotAdoptable(CheckFailed):
    """The database cannot be adopted as it stands; nothing was recorded."""


@dataclass(frozen=True)
class Adoption:
    """One service of the proposal: the revision its live schema stands at (None when the
    database has no schema of it) and the revisions of its branch that this marks applied."""

    service: Service
    revision: str | None
    marks_applied: tuple[str, ...]


@dataclass(frozen=True)
class Proposal:
    """What `baseline` would record: per service, and as the plan its approval hashes;
    `heads` are the version table's rows afterwards."""

    adoptions: tuple[Adoption, ...]
    plan: Plan
    heads: tuple[str, ...]


def propose(ctx: Context, service: str | None) -> Proposal:
    """The revision each service's live schema stands at (of one service, or of all);
    refuses services the version table records already, a schema that matches no revision,
    and a proposal whose revisions need revisions of other services that would stay
    unrecorded."""
    graph = ctx.graph
    chosen = [services.resolve(service)] if service else list(services.SERVICES)
    chosen = [known for known in chosen if graph.branch(known)]
    with ctx.connect() as connection:
        heads = database_heads(connection, ctx.settings)
        live = {known.name: catalog.snapshot(connection, [known.schema]) for known in chosen}
    _refuse_recorded(graph, heads, chosen)
    present = [known for known in chosen if live[known.name]["schemas"]]
    replayed = _replay(ctx, present)
    adoptions: list[Adoption] = []
    unmatched: list[str] = []
    for known in chosen:
        if known not in present:
            adoptions.append(Adoption(known, None, ()))
            continue
        built = replayed[known.name]
        matching = [rev for rev, schema in built if schema == live[known.name]]
        if not matching:
            unmatched += _differences(known, built, live[known.name])
            continue
        branch = [rev for rev, _ in built]
        adoptions.append(
            Adoption(known, matching[-1], tuple(branch[: branch.index(matching[-1]) + 1]))
        )
    if unmatched:
        raise NotAdoptable(
            "a service's live schema matches none of its revisions, so nothing was recorded; "
            "make it match one (below: its differences from the nearest revision), or adopt "
            "the other services with --service",
            unmatched,
        )
    marked = {rev for adoption in adoptions for rev in adoption.marks_applied}
    after = graph.applied(heads) | marked
    _refuse_unmet_dependencies(graph, adoptions, after)
    plan = planning.baseline(graph, heads, graph.in_order(marked))
    return Proposal(tuple(adoptions), plan, tuple(sorted(graph.heads_of(after))))


def _refuse_recorded(graph: RevisionGraph, heads: tuple[str, ...], chosen: list[Service]) -> None:
    recorded = [row for row in graph.status(heads) if row.service in chosen and row.current]
    if recorded:
        raise NotAdoptable(
            "the version table records these services already, so their schemas were not "
            "built outside the tool; nothing was recorded. `migrate status` shows where they "
            "stand; adopt only the others, with --service",
            [f"{row.service.name} is at {row.current}" for row in recorded],
        )


def _replay(ctx: Context, wanted: list[Service]) -> Replayed:
    """Every revision the wanted services' heads need, applied in order in one scratch
    database; after each revision of a wanted service, that service's schema is read."""
    graph = ctx.graph
    schemas = {known.name: known.schema for known in wanted}
    replayed: Replayed = {name: [] for name in schemas}
    if not wanted:
        return replayed
    plan = planning.upgrade(graph, (), [graph.branch(known)[-1].id for known in wanted])
    with scratch_database(ctx.url, "baseline") as scratch, connect(scratch) as reader:

        def after_each(event: Event) -> None:
            # The revision has committed; the reader ends its own transaction at once, so
            # that a later CREATE INDEX CONCURRENTLY does not wait for it.
            if isinstance(event, StepFinished) and event.service in schemas:
                schema = catalog.snapshot(reader, [schemas[event.service]])
                reader.commit()
                replayed[event.service].append((event.revision, schema))

        apply_plan(ctx.on(scratch, events=after_each), plan)
    return replayed


def _differences(
    service: Service, built: list[tuple[str, catalog.Snapshot]], live: catalog.Snapshot
) -> list[str]:
    """The live schema's differences from the revision it is nearest to (the fewest
    differences; the newest among equals), each naming the object."""
    nearest, revision = min(
        (
            (catalog.object_differences(schema, live, f"revision {rev}", "the database"), rev)
            for rev, schema in reversed(built)
        ),
        key=lambda found: len(found[0]),
    )
    return [f"{service.name} (nearest: {revision}): {line}" for line in nearest]


def _refuse_unmet_dependencies(
    graph: RevisionGraph, adoptions: list[Adoption], after: set[str]
) -> None:
    """Alembic reads a recorded revision as having everything it depends on applied: a
    proposal may not mark a revision applied while one it needs stays unrecorded."""
    unmet = []
    for adoption in adoptions:
        missing = graph.ancestors([adoption.revision] if adoption.revision else []) - after
        for needed in services.SERVICES:
            theirs = [revision.id for revision in graph.branch(needed) if revision.id in missing]
            if theirs:
                unmet.append(
                    f"{adoption.service.name} at {adoption.revision} needs {needed.name} up to "
                    f"{theirs[-1]}, which is neither recorded nor adopted"
                )
    if unmet:
        raise NotAdoptable(
            "the proposal depends on revisions of other services that would stay unrecorded, "
            "so nothing was recorded; adopt those services too (leave out --service)",
            unmet,
        )
